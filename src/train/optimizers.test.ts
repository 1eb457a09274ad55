import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import {
  type OptimizerSpec,
  applyDecoupledWeightDecay,
  createOptimizer,
  getOptimizerLearningRate,
  getOptimizerState,
  setOptimizerLearningRate,
  setOptimizerState,
} from './optimizers.js';

const targets = [
  tf.tensor2d([
    [1, -2, 0.5],
    [3, 0.25, -1],
  ]),
  tf.tensor1d([0.3, -0.7]),
];

/** A few steps of `optimizer` on a least-squares loss whose curvature differs per coordinate. */
function steps(optimizer: tf.Optimizer, vars: tf.Variable[], count: number): void {
  for (let i = 0; i < count; i++) {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.tidy(() =>
          tf.addN(
            vars.map((v, k) =>
              tf.sum(tf.mul(tf.square(tf.sub(v, targets[k])), tf.linspace(0.5, 3, v.size).reshape(v.shape))),
            ),
          ),
        ) as tf.Scalar,
      vars,
    );
    optimizer.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
    tf.dispose([value, ...Object.values(grads)]);
  }
}

function makeVars(): tf.Variable[] {
  return [
    tf.variable(
      tf.tensor2d([
        [0.1, 0.2, 0.3],
        [-0.4, 0.5, -0.6],
      ]),
    ),
    tf.variable(tf.tensor1d([1, 2])),
  ];
}

describe('optimizers', () => {
  beforeAll(async () => {
    await initBackend();
  });

  const specs: OptimizerSpec[] = [
    { name: 'adam', learningRate: 0.05 },
    { name: 'sgd', learningRate: 0.05 },
    { name: 'momentum', learningRate: 0.05, momentum: 0.8, nesterov: true },
    { name: 'rmsprop', learningRate: 0.01, momentum: 0.5, centered: true },
  ];

  for (const spec of specs) {
    it(`${spec.name}: state saved after 5 steps and restored into a fresh optimiser continues bit-identically`, async () => {
      const varsA = makeVars();
      const optA = createOptimizer(spec);
      steps(optA, varsA, 5);
      const state = await getOptimizerState(optA);
      expect(state.iterations).toBe(5);
      const perVariable = { adam: 2, sgd: 0, momentum: 1, rmsprop: 3 }[spec.name];
      expect(state.slots).toHaveLength(perVariable * 2);

      const varsB = varsA.map((v) => tf.variable(v.clone()));
      const optB = createOptimizer(spec);
      await setOptimizerState(optB, state);
      steps(optA, varsA, 5);
      steps(optB, varsB, 5);
      varsA.forEach((v, i) => expect(Array.from(varsB[i].dataSync())).toEqual(Array.from(v.dataSync())));
      // Without the saved state the continuation differs (so the comparison above can fail).
      if (spec.name !== 'sgd') {
        const varsC = makeVars();
        const optC = createOptimizer(spec);
        steps(optC, varsC, 5);
        steps(createOptimizer(spec), varsC, 5);
        expect(Array.from(varsC[0].dataSync())).not.toEqual(Array.from(varsA[0].dataSync()));
      }
      optA.dispose();
      optB.dispose();
      tf.dispose([...varsA, ...varsB]);
    });
  }

  it('refuses state saved by another kind of optimiser', async () => {
    const adam = createOptimizer({ name: 'adam', learningRate: 0.1 });
    const state = await getOptimizerState(adam);
    await expect(
      setOptimizerState(createOptimizer({ name: 'sgd', learningRate: 0.1 }), state),
    ).rejects.toThrow(/holds Adam optimizer state but the run uses SGD/);
  });

  it('Adam follows the PyTorch update with its defaults (β = 0.9, 0.999, ε = 1e-8), and learning-rate changes apply', () => {
    const v = tf.variable(tf.tensor1d([0.5, -1.5]));
    const opt = createOptimizer({ name: 'adam', learningRate: 0.1 });
    let w = [0.5, -1.5];
    const m = [0, 0];
    const s = [0, 0];
    const rates = [0.1, 0.1, 0.02];
    rates.forEach((lr, t) => {
      setOptimizerLearningRate(opt, lr);
      expect(getOptimizerLearningRate(opt)).toBe(lr);
      // loss = Σ w³/3 + w, gradient w² + 1
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.add(tf.div(tf.pow(v, 3), 3), v)) as tf.Scalar,
        [v],
      );
      opt.applyGradients({ [v.name]: grads[v.name] });
      tf.dispose([value, grads[v.name]]);
      w = w.map((wi, i) => {
        const g = wi * wi + 1;
        m[i] = 0.9 * m[i] + 0.1 * g;
        s[i] = 0.999 * s[i] + 0.001 * g * g;
        const mh = m[i] / (1 - 0.9 ** (t + 1));
        const sh = s[i] / (1 - 0.999 ** (t + 1));
        return wi - (lr * mh) / (Math.sqrt(sh) + 1e-8);
      });
    });
    const got = v.dataSync();
    // float32 bias correction: 1 − β₂ with β₂ rounded to float32 is off by ~1e-5 relative.
    w.forEach((wi, i) => expect(got[i]).toBeCloseTo(wi, 5));
    opt.dispose();
    v.dispose();
  });

  it('SGD and momentum use a changed learning rate from the next step', () => {
    for (const name of ['sgd', 'momentum'] as const) {
      const v = tf.variable(tf.scalar(1));
      const opt = createOptimizer({ name, learningRate: 0.1, momentum: 0 });
      setOptimizerLearningRate(opt, 0.25);
      opt.applyGradients({ [v.name]: tf.scalar(2) });
      expect(v.dataSync()[0]).toBeCloseTo(1 - 0.25 * 2, 7);
      opt.dispose();
      v.dispose();
    }
  });

  it('decoupled weight decay shrinks each variable by 1 − lr·λ', () => {
    const v = tf.variable(tf.tensor1d([2, -4]));
    applyDecoupledWeightDecay([v], 0.1, 0.5);
    expect(Array.from(v.dataSync())).toEqual([2 * 0.95, -4 * 0.95].map(Math.fround));
    v.dispose();
  });

  it('rejects impossible specs with bad-config errors', () => {
    const bad: unknown[] = [
      { name: 'adagrad', learningRate: 0.1 },
      { name: 'adam', learningRate: Number.NaN },
      { name: 'adam', learningRate: 0.1, beta1: 1 },
      { name: 'rmsprop', learningRate: 0.1, epsilon: 0 },
      { name: 'sgd', learningRate: 0.1, decoupledWeightDecay: -1 },
    ];
    for (const spec of bad) expect(() => createOptimizer(spec as OptimizerSpec)).toThrow(BayescompError);
  });
});
