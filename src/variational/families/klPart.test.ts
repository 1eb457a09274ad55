import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { BayesianDense } from '../bayesianDense.js';
import { modelKl, modelKlPart } from '../modelLayers.js';
import { buildFamilyWithVariables } from './familyTestVariables.js';
import { logUniformFamily } from './logUniformPosterior.js';
import { type FamilySpec, type PosteriorFamily, rowBlock } from './posteriorFamily.js';
import { vnqFamily } from './vnqPosterior.js';

beforeAll(async () => {
  await initBackend();
});

/** A family on a [rows, cols] kernel with seeded means around ±0.2 and varied log σ². */
function seededFamily(spec: FamilySpec, shape: number[], prefix: string) {
  const built = buildFamilyWithVariables<PosteriorFamily>(spec, shape);
  const random = new Random(11);
  const size = shape.reduce((a, b) => a * b, 1);
  built.set(
    `kernel_${prefix}`,
    Array.from({ length: size }, () => (random.uniform() - 0.5) * 0.8),
  );
  built.set(
    'kernel_log_sigma2',
    Array.from({ length: size }, () => -10 + 9 * random.uniform()),
  );
  return built;
}

/** KL value and gradients with respect to every trainable variable of the family. */
function klAndGradients(
  built: ReturnType<typeof seededFamily>,
  kl: () => tf.Scalar,
): { value: number; grads: Map<string, number[]> } {
  const variables = [...built.variables.values()].map((v) => v.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(kl, variables);
  const out = new Map<string, number[]>();
  for (const v of variables) out.set(v.name, Array.from(grads[v.name]?.dataSync() ?? []));
  const result = { value: value.dataSync()[0], grads: out };
  tf.dispose([value, ...Object.values(grads)]);
  return result;
}

describe('rowBlock', () => {
  it('splits the rows of the matrix view into contiguous blocks that differ by at most one row', () => {
    const t = tf.range(0, 5 * 2 * 3).reshape([5, 2, 3]);
    // Viewed as [10, 3]; 3 parts of 3, 3 and 4 rows.
    const blocks = [0, 1, 2].map((p) => rowBlock(t, p, 3));
    expect(blocks.map((b) => b.shape)).toEqual([
      [3, 3],
      [3, 3],
      [4, 3],
    ]);
    expect(Array.from(tf.concat(blocks, 0).dataSync())).toEqual(Array.from(t.dataSync()));
    // A vector is one row: one part holds it, the others are empty.
    expect([0, 1].map((p) => rowBlock(tf.ones([4]), p, 2).shape)).toEqual([
      [0, 4],
      [1, 4],
    ]);
    tf.dispose([t, ...blocks]);
  });
});

describe.each([
  ['log-uniform (Sparse VD)', logUniformFamily(), 'theta'],
  ['vnq (quantizing prior)', vnqFamily(), 'theta'],
])('klPart of the %s family', (_label, spec, prefix) => {
  it.each([1, 2, 3, 7])('%i parts sum to the whole KL, values and gradients', (parts) => {
    // 6 rows: with 7 parts one block is empty.
    const built = seededFamily(spec, [6, 5], prefix);
    const whole = klAndGradients(built, () => built.family.kl());
    const split = klAndGradients(built, () =>
      tf.addN(Array.from({ length: parts }, (_, p) => built.family.klPart!(p, parts))),
    );
    expect(split.value).toBeCloseTo(whole.value, 3);
    expect(Math.abs(split.value - whole.value)).toBeLessThan(1e-5 * Math.abs(whole.value));
    for (const [name, g] of whole.grads) {
      const h = split.grads.get(name)!;
      expect(h.length).toBe(g.length);
      const scale = Math.max(...g.map(Math.abs));
      expect(Math.max(...g.map((x, i) => Math.abs(x - h[i])))).toBeLessThan(1e-5 * scale);
    }
    // Each part is its own block's KL: the first part of two is the KL of the first three rows alone.
    if (parts === 2) {
      const top = buildFamilyWithVariables<PosteriorFamily>(spec, [3, 5]);
      top.set(`kernel_${prefix}`, built.get(`kernel_${prefix}`).slice(0, 15));
      top.set('kernel_log_sigma2', built.get('kernel_log_sigma2').slice(0, 15));
      if (spec.name === 'vnq') top.set('kernel_codebook_raw', built.get('kernel_codebook_raw'));
      const first = built.family.klPart!(0, 2);
      const alone = top.family.kl();
      expect(first.dataSync()[0]).toBeCloseTo(alone.dataSync()[0], 4);
      tf.dispose([first, alone]);
    }
  });
});

describe('modelKlPart', () => {
  it('sums to modelKl over the layers, including families without a split (whole KL in part 0)', () => {
    const input = tf.input({ shape: [7] });
    const h = new BayesianDense({ units: 6, family: logUniformFamily(), activation: 'relu' }).apply(input);
    // The mean-field Gaussian family has no klPart: part 0 takes its whole KL.
    const out = new BayesianDense({ units: 3, family: { name: 'gaussian' } }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const whole = modelKl(model);
    const parts = [0, 1, 2].map((p) => modelKlPart(model, p, 3));
    const sum = parts.reduce((a, p) => a + p.dataSync()[0], 0);
    expect(sum).toBeCloseTo(whole.dataSync()[0], 3);
    expect(Math.abs(sum - whole.dataSync()[0])).toBeLessThan(1e-5 * Math.abs(whole.dataSync()[0]));
    // Part 2 holds only its block of the log-uniform kernel: smaller than part 0, which has the Gaussian layer too.
    expect(parts[2].dataSync()[0]).toBeLessThan(parts[0].dataSync()[0]);
    tf.dispose([whole, ...parts]);
    model.dispose();
  });
});
