import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../../util/errors.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import type { LayerSubset } from './layerJacobian.js';

/**
 * Kronecker factors of one layer's curvature block (KFAC; Martens & Grosse 2015, Ritter et al. 2018 eq. 7–8). For a
 * convolution the spatial locations are treated like extra examples with the 1/|T| normalisation of Grosse & Martens
 * 2016 ("KFC", their Ω and Γ; the "expand" convention of Eschenhagen et al. 2023; tensorflow/kfac computes the same
 * block): the input factor averages over examples and locations, the gradient factor sums over both:
 *
 *   H_l ≈ A ⊗ G,  A = (1/(N·P)) Σ_{n,p} a_{n,p} a_{n,p}ᵀ,  G = Σ_{n,p,k} g_{n,p,k} g_{n,p,k}ᵀ
 *
 * with a the augmented input [a; 1] and g the pre-activation gradient pulled back from the k-th square-root column of
 * the output Hessian. Equivalently H_l ≈ N · E[a aᵀ] ⊗ E[g gᵀ]. The sums are stored, so curvature from several batches
 * or datasets adds (fitting the same data twice doubles A's sum, G's sum and N: the product doubles). For one example
 * at one location (a Dense layer, N = 1) the product is exact: Σ_k (a ⊗ g_k)(a ⊗ g_k)ᵀ = a aᵀ ⊗ Σ_k g_k g_kᵀ.
 */
export interface KroneckerFactors {
  readonly layerName: string;
  /** Σ_{n,p} a aᵀ, rows × rows, row-major. */
  readonly sumA: Float64Array;
  /** Σ_{n,p,k} g gᵀ, O × O, row-major. */
  readonly sumG: Float64Array;
  /** Examples N. */
  count: number;
  /** Locations P per example (1 for Dense on vectors). */
  locations: number;
}

/** Kronecker-factored curvature: one pair of factors per layer, in subset order. */
export interface KroneckerCurvature {
  readonly structure: 'kron';
  readonly factors: KroneckerFactors[];
}

/** Zero factors for whole layers (a Kronecker structure cannot cover part of a layer). */
export function emptyKroneckerCurvature(parts: readonly LayerSubset[]): KroneckerCurvature {
  for (const p of parts) {
    if (!p.whole) {
      throw new BayescompError(
        'bad-config',
        `a Kronecker Laplace covers whole layers; '${p.layer.name}' is partial`,
      );
    }
  }
  return {
    structure: 'kron',
    factors: parts.map(({ layer }) => ({
      layerName: layer.name,
      sumA: new Float64Array(layer.rows * layer.rows),
      sumG: new Float64Array(layer.outputSize * layer.outputSize),
      count: 0,
      locations: 0,
    })),
  };
}

function addGram(target: Float64Array, rowsByCols: tf.Tensor2D): void {
  const gram = tf.tidy(() => tf.matMul(tf.transpose(rowsByCols), rowsByCols));
  const v = gram.dataSync();
  for (let i = 0; i < v.length; i++) target[i] += v[i];
  gram.dispose();
}

/** Adds a batch's Kronecker factors into `curvature`. */
export function accumulateKronecker(
  curvature: KroneckerCurvature,
  q: LayerQuantities,
  parts: readonly LayerSubset[],
): void {
  parts.forEach(({ layer }, i) => {
    const f = curvature.factors[i];
    const a = q.inputs.get(layer.name)!;
    const g = q.gradients.get(layer.name)!;
    const [m, p] = a.shape;
    const a2 = a.reshape([m * p, layer.rows]) as tf.Tensor2D;
    const g2 = g.reshape([-1, layer.outputSize]) as tf.Tensor2D;
    addGram(f.sumA, a2);
    addGram(f.sumG, g2);
    tf.dispose([a2, g2]);
    if (f.count > 0 && f.locations !== p) {
      throw new BayescompError(
        'bad-shape',
        `layer '${layer.name}' changed its number of locations between batches`,
      );
    }
    f.count += m;
    f.locations = p;
  });
}
