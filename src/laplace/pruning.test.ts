import { Matrix, inverse } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { splitByLayer } from './curvature/layerJacobian.js';
import { fitLaplace } from './laplacePosterior.js';
import { laplaceLayout } from './model/laplaceLayers.js';
import { layerMasks, laplacePruningScores, normalCdf, obsUpdate, pruningMask } from './pruning.js';
import { fullPosterior } from './structures/fullPosterior.js';
import { randomInputs, randomLabels, tinyMlp } from './test-utils.js';

beforeAll(async () => {
  await initBackend();
});

describe('Laplace pruning scores', () => {
  it('normal CDF matches tabulated values', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.1586553, 6);
    expect(normalCdf(-0.25) - normalCdf(-0.75)).toBeCloseTo(0.1746663, 6);
  });

  it('SNR, mass near zero and the Savage–Dickey log Bayes factor have their closed forms', () => {
    const s = laplacePruningScores(Int32Array.from([0, 1]), [0.1, -2], [0.04, 0.25], [2, 2], 0.05);
    expect(s.snr[0]).toBeCloseTo(0.5, 12);
    expect(s.snr[1]).toBeCloseTo(4, 12);
    expect(s.massNearZero[0]).toBeCloseTo(0.1746663, 6);
    // log N(0; μ, σ²) − log N(0; 0, 1/τ).
    const logN = (x: number, m: number, v: number) =>
      -0.5 * Math.log(2 * Math.PI * v) - (x - m) ** 2 / (2 * v);
    expect(s.logBayesFactor[0]).toBeCloseTo(logN(0, 0.1, 0.04) - logN(0, 0, 0.5), 12);
    expect(s.logBayesFactor[0]).toBeCloseTo(1.137864, 5);
    expect(s.logBayesFactor[1]).toBeLessThan(0);
    expect(Array.from(pruningMask(s, { criterion: 'bayesFactor' }))).toEqual([0, 1]);
    expect(Array.from(pruningMask(s, { criterion: 'snr', threshold: 1 }))).toEqual([0, 1]);
    expect(Array.from(pruningMask(s, { criterion: 'mass', fraction: 0.5 }))).toEqual([0, 1]);
  });

  it('OBS update equals Gaussian conditioning on the pruned weights being zero', () => {
    const d = 5;
    const h = new Matrix(d, d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++)
        h.set(i, j, Math.cos(i * 1.3 + j * 0.7) + Math.cos(j * 1.3 + i * 0.7) + (i === j ? 4 : 0));
    const layer = { name: 'l', rows: d, outputSize: 1, paramCount: d, offset: 0 } as never;
    const parts = splitByLayer([layer], Int32Array.from([0, 1, 2, 3, 4]));
    const post = fullPosterior(
      { structure: 'full', size: d, matrix: Float64Array.from(h.to1DArray()) },
      parts,
      [0.5],
    );
    const cov = inverse(h.clone().add(Matrix.eye(d).mul(0.5)));
    const mu = [0.3, -0.2, 1.1, 0.05, -0.7];
    // One weight: μ − Σ_{:,q} μ_q / Σ_qq.
    const one = obsUpdate(post, mu, [3]);
    for (let i = 0; i < d; i++)
      expect(one[i]).toBeCloseTo(i === 3 ? 0 : mu[i] - (cov.get(i, 3) * mu[3]) / cov.get(3, 3), 10);
    // Two weights: μ − Σ_{:,Q} Σ_QQ⁻¹ μ_Q.
    const q = [1, 3];
    const sqq = new Matrix(q.map((a) => q.map((b) => cov.get(a, b))));
    const c = inverse(sqq).mmul(Matrix.columnVector(q.map((i) => mu[i])));
    const two = obsUpdate(post, mu, q);
    for (let i = 0; i < d; i++) {
      const expected = q.includes(i)
        ? 0
        : mu[i] - (cov.get(i, 1) * c.get(0, 0) + cov.get(i, 3) * c.get(1, 0));
      expect(two[i]).toBeCloseTo(expected, 10);
    }
  });

  it('a fitted posterior scores its covered weights and maps masks back onto layers', () => {
    const model = tinyMlp(3, 4, 3);
    const post = fitLaplace(
      model,
      { x: randomInputs(30, [3]), y: randomLabels(30, 3) },
      { hessian: 'kron', subset: 'lastLayer' },
    );
    const scores = post.pruningScores(0.05);
    expect(scores.indices.length).toBe(15);
    expect(Array.from(scores.variance)).toEqual(Array.from(post.marginalVariances()));
    const keep = pruningMask(scores, { criterion: 'snr', fraction: 0.4 });
    expect(keep.reduce((a, b) => a + b, 0)).toBe(9);
    const masks = layerMasks(laplaceLayout(model), scores.indices, keep);
    const last = masks.get(model.layers[1].name)!;
    expect(last.kernel.length).toBe(12);
    expect(last.bias!.length).toBe(3);
    expect(masks.get(model.layers[0].name)!.kernel.every((v) => v === 1)).toBe(true);
    const pruned = Array.from(keep.keys()).filter((i) => keep[i] === 0);
    const updated = obsUpdate(post.structure, post.mean, pruned);
    for (const i of pruned) expect(updated[i]).toBe(0);
  });
});
