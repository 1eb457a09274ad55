import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { FusedAdamOptimizer } from './fusedAdam.js';
import { getOptimizerState, setOptimizerState } from './optimizers.js';

beforeAll(async () => {
  await initBackend();
});

function seededVariables(seed: number): tf.Variable[] {
  const rng = new Random(seed);
  return [[30, 20], [20]].map((shape) =>
    tf.variable(
      tf.tensor(
        Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
        shape,
      ),
    ),
  );
}

/** Steps on a non-quadratic loss (Σ w⁴/4 + w·c with fixed c), so gradients change scale between steps. */
function train(
  optimizer: tf.Optimizer,
  variables: tf.Variable[],
  count: number,
  learningRates: number[],
): void {
  const coefficients = variables.map((v, i) => tf.fill(v.shape, 0.3 * (i + 1)));
  for (let t = 0; t < count; t++) {
    (optimizer as unknown as { learningRate: number }).learningRate = learningRates[t % learningRates.length];
    const { value, grads } = tf.variableGrads(
      () =>
        tf.addN(
          variables.map((v, i) => tf.sum(tf.add(tf.div(tf.pow(v, 4), 4), tf.mul(v, coefficients[i])))),
        ) as tf.Scalar,
      variables,
    );
    optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] })));
    tf.dispose([value, ...Object.values(grads)]);
  }
  tf.dispose(coefficients);
}

describe('FusedAdamOptimizer', () => {
  it('follows tf.train.adam step for step (20 steps, changing learning rate; 1e-5 relative to the distance moved)', () => {
    const reference = seededVariables(1);
    const fused = seededVariables(1);
    const start = reference.map((v) => v.clone());
    const tfAdam = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    const ours = new FusedAdamOptimizer(0.05, 0.9, 0.999, 1e-8);
    train(tfAdam, reference, 20, [0.05, 0.02]);
    train(ours, fused, 20, [0.05, 0.02]);
    reference.forEach((r, i) => {
      const moved = tf.max(tf.abs(tf.sub(r, start[i]))).dataSync()[0];
      const diff = tf.max(tf.abs(tf.sub(r, fused[i]))).dataSync()[0];
      expect(moved).toBeGreaterThan(0.1);
      expect(diff / moved).toBeLessThan(1e-5);
    });
    tfAdam.dispose();
    ours.dispose();
    tf.dispose([...reference, ...fused, ...start]);
  });

  it('shares TF.js Adam’s state layout: state saved from one continues in the other', async () => {
    const a = seededVariables(2);
    const b = seededVariables(2);
    const tfAdam = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    const ours = new FusedAdamOptimizer(0.05, 0.9, 0.999, 1e-8);
    train(tfAdam, a, 5, [0.05]);
    train(ours, b, 5, [0.05]);
    const state = await getOptimizerState(tfAdam);
    expect(state.className).toBe('Adam');
    const resumed = new FusedAdamOptimizer(0.05, 0.9, 0.999, 1e-8);
    await setOptimizerState(resumed, state);
    const c = a.map((v) => tf.variable(v.clone()));
    train(tfAdam, a, 5, [0.05]);
    train(resumed, c, 5, [0.05]);
    a.forEach((v, i) => {
      const diff = tf.max(tf.abs(tf.sub(v, c[i]))).dataSync()[0];
      expect(diff).toBeLessThan(1e-5);
    });
    tfAdam.dispose();
    ours.dispose();
    resumed.dispose();
    tf.dispose([...a, ...b, ...c]);
  });

  it('on the wasm heap is bit-identical to its kernel-by-kernel form (run on the cpu backend)', async () => {
    // Sizes 35, 3 and 64: a SIMD body with a 3-element tail, a tail alone, no tail. The loss Σ c·w² + d·w has a
    // gradient made of float32 products and sums only, which both backends round identically.
    const run = (): number[][] => {
      const rng = new Random(9);
      const vars = [[7, 5], [3], [64]].map((shape) =>
        tf.variable(
          tf.tensor(
            Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
            shape,
          ),
        ),
      );
      const opt = new FusedAdamOptimizer(0.05, 0.9, 0.999, 1e-7);
      for (let t = 0; t < 15; t++) {
        (opt as unknown as { learningRate: number }).learningRate = t % 2 ? 0.05 : 0.013;
        const { value, grads } = tf.variableGrads(
          () =>
            tf.addN(
              vars.map((v, i) => tf.sum(tf.add(tf.mul(tf.square(v), 0.7 + i), tf.mul(v, -0.3 * i)))),
            ) as tf.Scalar,
          vars,
        );
        opt.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
        tf.dispose([value, ...Object.values(grads)]);
      }
      const out = vars.map((v) => Array.from(v.dataSync()));
      opt.dispose();
      tf.dispose(vars);
      return out;
    };
    expect(tf.getBackend()).toBe('wasm');
    const onHeap = run();
    await tf.setBackend('cpu');
    try {
      const byKernels = run();
      expect(onHeap).toEqual(byKernels);
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('leaks no tensors per step', () => {
    const vars = seededVariables(3);
    const opt = new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-8);
    train(opt, vars, 1, [0.01]);
    const before = tf.memory().numTensors;
    train(opt, vars, 3, [0.01]);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    tf.dispose(vars);
  });
});
