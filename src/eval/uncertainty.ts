/**
 * Uncertainty of a predictive distribution and its decomposition from Monte-Carlo samples (Houlsby et al. 2011,
 * "Bayesian Active Learning by Disagreement"; Depeweg et al. 2018, eq. 5; Smith & Gal 2018, eq. 4):
 * total (predictive entropy) = aleatoric (expected entropy) + epistemic (mutual information).
 * Samples are laid out S×n×C, row-major: sample s of example i occupies `[(s·n + i)·C, (s·n + i + 1)·C)`.
 * Entropies are in nats.
 */
import { checkSampleShape } from './shapes.js';

function rowEntropy(p: Float32Array | Float64Array, base: number, c: number): number {
  let h = 0;
  for (let k = 0; k < c; k++) {
    const v = p[base + k];
    // 0 · log 0 = 0 by continuity.
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/** Entropy H[p(y|x)] = −Σ_c p_c log p_c of each row of an n×C probability matrix. */
export function predictiveEntropy(probs: Float32Array | Float64Array, numClasses: number): Float64Array {
  const n = probs.length / numClasses;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rowEntropy(probs, i * numClasses, numClasses);
  return out;
}

/** The Monte-Carlo predictive p̄ = (1/S) Σ_s p_s of S×n×C samples, as an n×C matrix in float64. */
export function meanOverSamples(samples: Float32Array, numSamples: number, numClasses: number): Float64Array {
  const n = checkSampleShape(samples, numSamples, numClasses);
  const size = n * numClasses;
  const mean = new Float64Array(size);
  for (let s = 0; s < numSamples; s++) {
    const offset = s * size;
    for (let j = 0; j < size; j++) mean[j] += samples[offset + j];
  }
  for (let j = 0; j < size; j++) mean[j] /= numSamples;
  return mean;
}

/** Expected entropy E_s[H[p_s(y|x)]] = (1/S) Σ_s H[p_s] per example (the aleatoric part). */
export function expectedEntropy(samples: Float32Array, numSamples: number, numClasses: number): Float64Array {
  const n = checkSampleShape(samples, numSamples, numClasses);
  const out = new Float64Array(n);
  for (let s = 0; s < numSamples; s++) {
    for (let i = 0; i < n; i++) out[i] += rowEntropy(samples, (s * n + i) * numClasses, numClasses);
  }
  for (let i = 0; i < n; i++) out[i] /= numSamples;
  return out;
}

/** Per-example uncertainty decomposition from Monte-Carlo samples, see {@link uncertaintyDecomposition}. */
export interface UncertaintyDecomposition {
  /** H[p̄], the entropy of the Monte-Carlo predictive (total uncertainty). */
  readonly total: Float64Array;
  /** E_s H[p_s] (aleatoric uncertainty). */
  readonly aleatoric: Float64Array;
  /** I[y; θ | x] = H[p̄] − E_s H[p_s] ≥ 0 (epistemic uncertainty, the BALD score). */
  readonly mutualInformation: Float64Array;
}

/**
 * Splits predictive entropy into expected entropy and mutual information (Depeweg et al. 2018, eq. 5). The mutual
 * information is computed in the equivalent form (1/S) Σ_s KL(p_s ‖ p̄) = H[p̄] − E_s H[p_s], with p̄ recomputed
 * from the samples in float64: each term vanishes exactly when a sample equals the mean, so identical samples give
 * exactly 0, and the sum is non-negative up to rounding (values below 0 by rounding are reported as 0).
 */
export function uncertaintyDecomposition(
  samples: Float32Array,
  numSamples: number,
  numClasses: number,
): UncertaintyDecomposition {
  const mean = meanOverSamples(samples, numSamples, numClasses);
  const total = predictiveEntropy(mean, numClasses);
  const aleatoric = expectedEntropy(samples, numSamples, numClasses);
  const n = total.length;
  const mutualInformation = new Float64Array(n);
  for (let s = 0; s < numSamples; s++) {
    for (let i = 0; i < n; i++) {
      const base = (s * n + i) * numClasses;
      let kl = 0;
      for (let k = 0; k < numClasses; k++) {
        const p = samples[base + k];
        // p > 0 implies p̄ > 0, so the logarithm is finite.
        if (p > 0) kl += p * Math.log(p / mean[i * numClasses + k]);
      }
      mutualInformation[i] += kl;
    }
  }
  for (let i = 0; i < n; i++) mutualInformation[i] = Math.max(0, mutualInformation[i] / numSamples);
  return { total, aleatoric, mutualInformation };
}

/** Mutual information between the label and the parameters, H[p̄] − E_s H[p_s], per example (see above). */
export function mutualInformation(
  samples: Float32Array,
  numSamples: number,
  numClasses: number,
): Float64Array {
  return uncertaintyDecomposition(samples, numSamples, numClasses).mutualInformation;
}
