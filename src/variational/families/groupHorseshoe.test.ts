import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { BayesianDense } from '../bayesianDense.js';
import { withNoiseSource } from '../noise.js';
import { buildFamilyWithVariables, finiteDifference } from './familyTestVariables.js';
import { groupHorseshoeFamily, GroupHorseshoePosterior } from './groupHorseshoe.js';
import { logNormalGammaKlScalar, logNormalInverseGammaKlScalar } from './logNormalKl.js';

beforeAll(async () => {
  await initBackend();
});

const IN = 3;
const OUT = 2;
const TAU0 = 1e-5;
const BASE = Math.log(0.5 * TAU0 * TAU0);
// Log-space means and variances of the four log-normal posteriors, chosen so that log z has variance ≈ 0.2 and the
// global part (shared by the groups) is a large share of it.
const P = {
  saMu: BASE + 0.3,
  saVar: 0.3,
  sbMu: -BASE - 0.5,
  sbVar: 0.2,
  alphaMu: [-0.5, 0.2, -1],
  alphaVar: [0.1, 0.3, 0.05],
  betaMu: [0.6, 0.1, 1.2],
  betaVar: [0.2, 0.05, 0.1],
};

function weightParams(seed: number): { mu: number[]; logSigma2: number[] } {
  const random = new Random(seed);
  return {
    mu: Array.from({ length: IN * OUT }, () => random.normal() * 0.8),
    logSigma2: Array.from({ length: IN * OUT }, () => -3 + 2 * random.uniform()),
  };
}

function setAll(
  set: (name: string, values: number | readonly number[]) => void,
  mu = weightParams(2).mu,
  prefix = 'kernel',
): void {
  const { logSigma2 } = weightParams(2);
  set(`${prefix}_mu`, mu);
  set(`${prefix}_log_sigma2`, logSigma2);
  set(`${prefix}_sa_mu`, P.saMu);
  set(`${prefix}_sa_log_sigma2`, Math.log(P.saVar));
  set(`${prefix}_sb_mu`, P.sbMu);
  set(`${prefix}_sb_log_sigma2`, Math.log(P.sbVar));
  set(`${prefix}_alpha_mu`, P.alphaMu);
  set(`${prefix}_alpha_log_sigma2`, P.alphaVar.map(Math.log));
  set(`${prefix}_beta_mu`, P.betaMu);
  set(`${prefix}_beta_log_sigma2`, P.betaVar.map(Math.log));
}

function family() {
  const built = buildFamilyWithVariables<GroupHorseshoePosterior>(groupHorseshoeFamily({ tau0: TAU0 }), [
    IN,
    OUT,
  ]);
  setAll((name, values) => built.set(name, values));
  return built;
}

/** Log-space moments of z² per group: global part Mg, Vg and local parts Ml, Vl. */
const Mg = P.saMu + P.sbMu;
const Vg = P.saVar + P.sbVar;
const Ml = P.alphaMu.map((a, i) => a + P.betaMu[i]);
const Vl = P.alphaVar.map((a, i) => a + P.betaVar[i]);

/** E[zᵢ zₖ] for log zᵢ = ½(g + lᵢ), g and lᵢ independent Gaussians. */
function scaleProductMean(i: number, k: number): number {
  if (i === k) return Math.exp(Mg + Ml[i] + 0.5 * (Vg + Vl[i]));
  return Math.exp(Mg + 0.5 * (Ml[i] + Ml[k]) + 0.5 * (Vg + 0.25 * (Vl[i] + Vl[k])));
}

describe('GroupHorseshoePosterior (Louizos et al. 2017, §3.2)', () => {
  it('KL = Σ log-normal–(inverse) gamma closed forms + Σ KL(N(μ, σ²) ‖ N(0, 1))', () => {
    const { family: f } = family();
    const { mu, logSigma2 } = weightParams(2);
    let expected =
      logNormalGammaKlScalar(P.saMu, P.saVar, 0.5, TAU0 * TAU0) +
      logNormalInverseGammaKlScalar(P.sbMu, P.sbVar, 0.5, 1);
    for (let i = 0; i < IN; i++) {
      expected += logNormalGammaKlScalar(P.alphaMu[i], P.alphaVar[i], 0.5, 1);
      expected += logNormalInverseGammaKlScalar(P.betaMu[i], P.betaVar[i], 0.5, 1);
    }
    for (let k = 0; k < mu.length; k++)
      expected += 0.5 * (-logSigma2[k] + Math.exp(logSigma2[k]) + mu[k] ** 2 - 1);
    const kl = f.kl();
    // float32 holds log s_a ≈ −23.7 to ~2e-6, which moves the s_a term by about as much.
    expect(Math.abs(kl.dataSync()[0] - expected)).toBeLessThan(1e-4 * Math.abs(expected) + 1e-4);
    kl.dispose();
  });

  it('marginal mean and variance match Monte-Carlo of the hierarchical sampler (1e5 draws) and sample() (2000 draws)', () => {
    const { family: f } = family();
    const { mu, logSigma2 } = weightParams(2);
    const mean = f.mean();
    const variance = f.variance();
    const m = Array.from(mean.dataSync());
    const v = Array.from(variance.dataSync());
    tf.dispose([mean, variance]);
    // Closed form from E[z] and E[z²] of the log-normal z.
    for (let i = 0; i < IN; i++) {
      const ez = Math.exp(0.5 * (Mg + Ml[i]) + 0.125 * (Vg + Vl[i]));
      const ez2 = scaleProductMean(i, i);
      for (let j = 0; j < OUT; j++) {
        const k = i * OUT + j;
        const s2 = Math.exp(logSigma2[k]);
        expect(m[k]).toBeCloseTo(mu[k] * ez, 4);
        expect(Math.abs(v[k] / (ez2 * (mu[k] ** 2 + s2) - mu[k] ** 2 * ez * ez) - 1)).toBeLessThan(1e-4);
      }
    }
    // Independent float64 sampler: each log-normal factor drawn separately, then w = w̃·sqrt(s_a s_b α̃ β̃).
    const random = new Random(31);
    const draws = 100_000;
    const s1 = new Float64Array(IN * OUT);
    const s2 = new Float64Array(IN * OUT);
    for (let d = 0; d < draws; d++) {
      const logSa = P.saMu + Math.sqrt(P.saVar) * random.normal();
      const logSb = P.sbMu + Math.sqrt(P.sbVar) * random.normal();
      for (let i = 0; i < IN; i++) {
        const logA = P.alphaMu[i] + Math.sqrt(P.alphaVar[i]) * random.normal();
        const logB = P.betaMu[i] + Math.sqrt(P.betaVar[i]) * random.normal();
        const z = Math.exp(0.5 * (logSa + logSb + logA + logB));
        for (let j = 0; j < OUT; j++) {
          const k = i * OUT + j;
          const w = z * (mu[k] + Math.exp(0.5 * logSigma2[k]) * random.normal());
          s1[k] += w;
          s2[k] += w * w;
        }
      }
    }
    for (let k = 0; k < IN * OUT; k++) {
      const mcMean = s1[k] / draws;
      expect(Math.abs(mcMean - m[k])).toBeLessThan(4 * Math.sqrt(v[k] / draws));
      expect(Math.abs((s2[k] / draws - mcMean ** 2) / v[k] - 1)).toBeLessThan(0.04);
    }
    // The family's own sampler.
    const t1 = new Float64Array(IN * OUT);
    const t2 = new Float64Array(IN * OUT);
    const sampleRandom = new Random(37);
    const few = 2000;
    for (let d = 0; d < few; d++) {
      const w = f.sample(sampleRandom);
      const values = w.dataSync();
      w.dispose();
      for (let k = 0; k < IN * OUT; k++) {
        t1[k] += values[k];
        t2[k] += values[k] ** 2;
      }
    }
    for (let k = 0; k < IN * OUT; k++) {
      expect(Math.abs(t1[k] / few - m[k])).toBeLessThan(4.5 * Math.sqrt(v[k] / few));
      expect(Math.abs((t2[k] / few - (t1[k] / few) ** 2) / v[k] - 1)).toBeLessThan(0.15);
    }
  });

  it('group log α = log(exp(Var log z) − 1) and E[z] from the log-normal moments', () => {
    const { family: f } = family();
    const logAlpha = f.groupLogAlpha();
    const zMean = f.groupScaleMean();
    const la = logAlpha.dataSync();
    const ez = zMean.dataSync();
    for (let i = 0; i < IN; i++) {
      expect(la[i]).toBeCloseTo(Math.log(Math.expm1((Vg + Vl[i]) / 4)), 4);
      expect(ez[i]).toBeCloseTo(Math.exp(0.5 * (Mg + Ml[i]) + 0.125 * (Vg + Vl[i])), 4);
    }
    const perWeight = f.logAlpha();
    expect(perWeight.shape).toEqual([IN, OUT]);
    expect(perWeight.dataSync()[2 * OUT + 1]).toBeCloseTo(la[2], 5);
    tf.dispose([logAlpha, zMean, perWeight]);
  });

  it('KL gradients match central finite differences', () => {
    const { family: f, variables } = family();
    const fn = () => f.kl();
    for (const [name, index, h] of [
      ['kernel_sa_mu', 0, 1e-2],
      ['kernel_sb_log_sigma2', 0, 1e-2],
      ['kernel_alpha_mu', 1, 1e-2],
      ['kernel_beta_log_sigma2', 2, 1e-2],
      ['kernel_mu', 3, 1e-2],
    ] as const) {
      const { numeric, automatic } = finiteDifference(fn, variables.get(name)!, index, h);
      expect(Math.abs(numeric - automatic)).toBeLessThan(0.02 * Math.abs(automatic) + 5e-3);
    }
  });

  it('initialisation: z ≈ 1 with every scale at the minimum of its own KL in μ; initialise() sets E[w]', () => {
    const { family: f } = buildFamilyWithVariables<GroupHorseshoePosterior>(groupHorseshoeFamily(), [5, 4]);
    const zMean = f.groupScaleMean();
    for (const value of zMean.dataSync()) expect(Math.abs(value - 1)).toBeLessThan(1e-3);
    const terms = f.scaleKlTerms();
    // At μ = log(aθ) − σ²/2 (≈ log(aθ)) the gamma KL is minimal in μ: moving μ either way raises it.
    const sa = terms.sa.dataSync()[0];
    const sigma2 = Math.exp(-9);
    expect(sa).toBeCloseTo(logNormalGammaKlScalar(Math.log(0.5e-10), sigma2, 0.5, 1e-10), 2);
    expect(logNormalGammaKlScalar(Math.log(0.5e-10) + 0.1, sigma2, 0.5, 1e-10)).toBeGreaterThan(sa);
    expect(logNormalGammaKlScalar(Math.log(0.5e-10) - 0.1, sigma2, 0.5, 1e-10)).toBeGreaterThan(sa);
    tf.dispose([zMean, terms.sa, terms.sb, terms.alpha, terms.beta]);

    const values = tf.randomNormal([5, 4], 0, 0.3, 'float32', 3);
    f.initialise(values, -10);
    const mean = f.mean();
    const variance = f.variance();
    const v = values.dataSync();
    mean.dataSync().forEach((x, k) => expect(x).toBeCloseTo(v[k], 5));
    variance.dataSync().forEach((x, k) => expect(x).toBeLessThan(Math.exp(-10) * 1.01 + 2e-4 * v[k] ** 2));
    tf.dispose([values, mean, variance]);
  });

  it('options round-trip and biases are refused', () => {
    const { family: f } = buildFamilyWithVariables<GroupHorseshoePosterior>(
      groupHorseshoeFamily({ tau0: 1e-3 }),
      [2, 2],
    );
    expect(f.getOptions()).toMatchObject({ tau0: 1e-3, groupAxis: 'auto' });
    expect(() => buildFamilyWithVariables(groupHorseshoeFamily(), [3])).toThrow(/flat family/);
    expect(() => groupHorseshoeFamily({ tau0: -1 }) && new GroupHorseshoePosterior({ tau0: -1 })).toThrow(
      /tau0/,
    );
  });
});

describe('group horseshoe inside a Bayesian dense layer', () => {
  it('local reparameterisation reproduces the exact pre-activation moments, groups correlated through s (2·10⁴ examples)', () => {
    const layer = new BayesianDense({
      units: OUT,
      useBias: false,
      family: groupHorseshoeFamily({ tau0: TAU0 }),
    });
    layer.build([null, IN]);
    const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').pop()!, w]));
    // Every x_i·μ_ij positive, so the covariance the shared global scale induces between groups adds up.
    const mu = [0.8, 0.5, -0.6, -0.9, 0.7, 0.4];
    setAll(
      (name, values) =>
        tf.tidy(() => {
          const variable = byName.get(name)!;
          variable.write(
            typeof values === 'number'
              ? tf.fill(variable.shape as number[], values)
              : tf.tensor(values.slice(), variable.shape as number[]),
          );
        }),
      mu,
    );
    const { logSigma2 } = weightParams(2);
    const x0 = [1, -0.7, 1.3];
    const n = 20_000;
    const x = tf.tile(tf.tensor2d([x0]), [n, 1]);
    const y = withNoiseSource(new Random(41), () => layer.apply(x, { training: true }) as tf.Tensor);
    const { mean, variance } = tf.moments(y, 0);
    const m = mean.dataSync();
    const v = variance.dataSync();
    for (let j = 0; j < OUT; j++) {
      let em = 0;
      let ey2 = 0;
      let independent = 0;
      for (let i = 0; i < IN; i++) {
        const ezi = Math.exp(0.5 * (Mg + Ml[i]) + 0.125 * (Vg + Vl[i]));
        em += x0[i] * ezi * mu[i * OUT + j];
        for (let k = 0; k < IN; k++) {
          const second = mu[i * OUT + j] * mu[k * OUT + j] + (i === k ? Math.exp(logSigma2[i * OUT + j]) : 0);
          ey2 += x0[i] * x0[k] * scaleProductMean(i, k) * second;
        }
        const wVar =
          scaleProductMean(i, i) * (mu[i * OUT + j] ** 2 + Math.exp(logSigma2[i * OUT + j])) -
          (ezi * mu[i * OUT + j]) ** 2;
        independent += x0[i] ** 2 * wVar;
      }
      const ev = ey2 - em * em;
      expect(Math.abs(m[j] - em)).toBeLessThan(4 * Math.sqrt(ev / n));
      expect(Math.abs(v[j] / ev - 1)).toBeLessThan(0.06);
      // The shared global scale matters here: sampling the groups independently would be detectably wrong.
      expect(Math.abs(independent / ev - 1)).toBeGreaterThan(0.15);
    }
    tf.dispose([x, y, mean, variance]);
  });
});
