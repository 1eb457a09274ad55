import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { BayesianConv2D } from './bayesianConv2d.js';
import { BayesianDense } from './bayesianDense.js';
import type { BayesianLayer, Reparameterisation } from './bayesianLayer.js';
import { gaussianFamily } from './families/gaussianPosterior.js';
import { logUniformFamily } from './families/logUniformPosterior.js';
import { withNoiseSource } from './noise.js';

beforeAll(async () => {
  await initBackend();
});

/** Gives every kernel weight its own mean and log σ² (seeded), so moment tests are not trivially symmetric. */
function randomisePosterior(layer: BayesianLayer, seed: number): void {
  const family = layer.family();
  const shape = family.mean().shape;
  const rng = new Random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const mu = Float32Array.from({ length: size }, () => rng.normal() * 0.5);
  const logVar = Float32Array.from({ length: size }, () => Math.log(0.05 + 0.3 * rng.uniform()));
  family.initialise(tf.tensor(mu, shape), tf.tensor(logVar, shape));
}

/** Per-column mean and variance of rows of a 2-D array of draws. */
function columnMoments(draws: tf.Tensor2D): { mean: Float32Array; variance: Float32Array } {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(draws, 0);
    return { mean: mean.dataSync() as Float32Array, variance: variance.dataSync() as Float32Array };
  });
}

function expectMomentsMatch(
  got: { mean: Float32Array; variance: Float32Array },
  want: { mean: Float32Array | Int32Array | Uint8Array; variance: Float32Array | Int32Array | Uint8Array },
  draws: number,
  varianceTolerance: number,
): void {
  for (let i = 0; i < got.mean.length; i++) {
    const se = Math.sqrt(want.variance[i] / draws);
    expect(Math.abs(got.mean[i] - want.mean[i])).toBeLessThan(4.5 * se);
    expect(Math.abs(got.variance[i] / want.variance[i] - 1)).toBeLessThan(varianceTolerance);
  }
}

describe('BayesianDense pre-activations', () => {
  const inputs = [0.3, -1.2, 0.8, 2.0, -0.5];
  const draws = 10000;

  function makeLayer(mode: Reparameterisation): BayesianDense {
    const layer = new BayesianDense({ units: 3, reparameterisation: mode, family: gaussianFamily() });
    layer.build([null, inputs.length]);
    randomisePosterior(layer, 5);
    tf.tidy(() => {
      layer.biasVariable!.write(tf.tensor1d([0.1, -0.2, 0.3]));
    });
    return layer;
  }

  /** The reference: explicit weight draws W ~ q, one per pre-activation draw, y = x·W + b. */
  function explicitSampling(layer: BayesianDense) {
    return tf.tidy(() => {
      const rng = new Random(99);
      const x = tf.tensor2d([inputs]);
      const rows = Array.from({ length: draws }, () =>
        tf.add(tf.matMul(x, layer.family().sample(rng)), layer.biasVariable!.read()),
      );
      return columnMoments(tf.concat(rows, 0) as tf.Tensor2D);
    });
  }

  function analytic(layer: BayesianDense) {
    return tf.tidy(() => {
      const x = tf.tensor2d([inputs]);
      const mean = tf.add(tf.matMul(x, layer.family().mean()), layer.biasVariable!.read());
      const variance = tf.matMul(tf.square(x), layer.family().variance());
      return { mean: mean.dataSync() as Float32Array, variance: variance.dataSync() as Float32Array };
    });
  }

  it('local reparameterisation matches explicit weight sampling (10⁴ draws)', () => {
    const layer = makeLayer('local');
    const reference = explicitSampling(layer);
    const exact = analytic(layer);
    expectMomentsMatch(reference, exact, draws, 0.06);
    const lrt = withNoiseSource(new Random(1), () =>
      tf.tidy(() => columnMoments(layer.apply(tf.tile(tf.tensor2d([inputs]), [draws, 1])) as tf.Tensor2D)),
    );
    expectMomentsMatch(lrt, exact, draws, 0.06);
    // And the two Monte-Carlo estimates agree with each other.
    for (let i = 0; i < 3; i++)
      expect(Math.abs(lrt.variance[i] / reference.variance[i] - 1)).toBeLessThan(0.08);
  });

  it('Flipout has the same marginal mean and variance, and decorrelates the examples of a batch', () => {
    const layer = makeLayer('flipout');
    const exact = analytic(layer);
    // Within one pass the rows share Δ, so the passes (not the rows) must be many for the variance estimate.
    const passes = 2500;
    const perPass = draws / passes;
    const outputs = withNoiseSource(new Random(2), () =>
      tf.tidy(() => {
        const x = tf.tile(tf.tensor2d([inputs]), [perPass, 1]);
        return tf.concat(
          Array.from({ length: passes }, () => layer.apply(x) as tf.Tensor2D),
          0,
        ) as tf.Tensor2D;
      }),
    );
    expectMomentsMatch(columnMoments(outputs), exact, draws, 0.08);
    // Examples 0 and 1 of each pass share the weight perturbation but not the signs: correlation ≈ 0 (SE 0.02).
    const corr = tf.tidy(() => {
      const y = tf.reshape(outputs, [passes, perPass, 3]);
      const a = tf.reshape(tf.slice(y, [0, 0, 0], [passes, 1, 3]), [-1, 3]);
      const b = tf.reshape(tf.slice(y, [0, 1, 0], [passes, 1, 3]), [-1, 3]);
      const da = tf.sub(a, tf.mean(a, 0));
      const db = tf.sub(b, tf.mean(b, 0));
      return tf.div(
        tf.mean(tf.mul(da, db), 0),
        tf.sqrt(tf.mul(tf.mean(tf.square(da), 0), tf.mean(tf.square(db), 0))),
      );
    });
    for (const c of corr.dataSync()) expect(Math.abs(c)).toBeLessThan(0.08);
    tf.dispose([outputs, corr]);
  });

  it('a Bayesian bias adds its mean and variance to the local-reparameterisation moments', () => {
    const layer = new BayesianDense({ units: 2, biasFamily: gaussianFamily() });
    layer.build([null, 2]);
    layer.family().initialise(
      tf.tensor2d([
        [0.5, -1],
        [2, 0.3],
      ]),
      tf.tensor2d([
        [-2, -3],
        [-1, -4],
      ]),
    );
    layer.biasFamily!.initialise(tf.tensor1d([0.2, -0.4]), tf.tensor1d([Math.log(0.5), Math.log(0.1)]));
    const x = [1.5, -0.5];
    const exact = {
      mean: Float32Array.from([1.5 * 0.5 - 0.5 * 2 + 0.2, -1.5 - 0.15 - 0.4]),
      variance: Float32Array.from([
        2.25 * Math.exp(-2) + 0.25 * Math.exp(-1) + 0.5,
        2.25 * Math.exp(-3) + 0.25 * Math.exp(-4) + 0.1,
      ]),
    };
    const got = withNoiseSource(new Random(6), () =>
      tf.tidy(() => columnMoments(layer.apply(tf.tile(tf.tensor2d([x]), [draws, 1])) as tf.Tensor2D)),
    );
    expectMomentsMatch(got, exact, draws, 0.06);
    expect(layer.kl().dataSync()[0]).toBeCloseTo(
      layer.family().kl().dataSync()[0] + layer.biasFamily!.kl().dataSync()[0],
      4,
    );
  });

  it('shared mode uses one weight draw for the whole batch', () => {
    const layer = makeLayer('shared');
    const y = withNoiseSource(
      new Random(3),
      () => layer.apply(tf.tile(tf.tensor2d([inputs]), [4, 1])) as tf.Tensor,
    );
    const rows = y.arraySync() as number[][];
    for (const row of rows) row.forEach((v, j) => expect(v).toBeCloseTo(rows[0][j], 6));
    const y2 = withNoiseSource(new Random(4), () => layer.apply(tf.tensor2d([inputs])) as tf.Tensor);
    expect(Math.abs(y2.dataSync()[0] - rows[0][0])).toBeGreaterThan(1e-4);
  });

  it('prediction modes: mean, pruned mean, and sampling whenever training', () => {
    const layer = new BayesianDense({ units: 2, family: logUniformFamily(), predictionMode: 'mean' });
    layer.build([null, 2]);
    layer.family().initialise(
      tf.tensor2d([
        [1, 0.01],
        [-2, 0.5],
      ]),
      Math.log(0.01),
    );
    tf.tidy(() => {
      layer.biasVariable!.write(tf.tensor1d([0.5, -0.5]));
    });
    const x = tf.tensor2d([[1, 2]]);
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(
      [1 - 4 + 0.5, 0.01 + 1 - 0.5].map((v) => Math.fround(v)),
    );
    // log α of 0.01 is log(0.01) − log(1e-4) ≈ 4.6 ≥ 3: pruned; the others are kept.
    layer.predictionMode = 'pruned-mean';
    const pruned = (layer.apply(x) as tf.Tensor).dataSync();
    expect(pruned[0]).toBeCloseTo(-2.5, 5);
    expect(pruned[1]).toBeCloseTo(0.5, 5);
    const trained = (layer.apply(x, { training: true }) as tf.Tensor).dataSync();
    expect(Math.abs(trained[0] + 2.5)).toBeGreaterThan(1e-4);
  });

  it('maps inputs of rank 3 along their last axis like tf.layers.dense', () => {
    const layer = new BayesianDense({ units: 4, predictionMode: 'mean' });
    const x = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 1);
    const y = layer.apply(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 3, 4]);
    const reference = tf.add(
      tf.matMul(tf.reshape(x, [6, 5]), layer.family().mean()),
      layer.biasVariable!.read(),
    );
    expect(tf.max(tf.abs(tf.sub(tf.reshape(y, [6, 4]), reference))).dataSync()[0]).toBeLessThan(1e-6);
  });
});

describe('BayesianConv2D', () => {
  it('mean-field local reparameterisation matches explicit filter sampling per output element (10⁴ draws)', () => {
    const layer = new BayesianConv2D({ filters: 2, kernelSize: 2, strides: 1, padding: 'valid' });
    layer.build([null, 3, 3, 2]);
    randomisePosterior(layer, 8);
    const x = tf.tensor4d(
      Array.from({ length: 18 }, (_, i) => Math.sin(i + 1)),
      [1, 3, 3, 2],
    );
    const draws = 10000;
    const rng = new Random(12);
    const explicit = tf.tidy(() => {
      const rows = Array.from({ length: draws }, () =>
        tf.reshape(tf.conv2d(x, layer.family().sample(rng) as tf.Tensor4D, 1, 'valid'), [1, -1]),
      );
      return columnMoments(tf.concat(rows, 0) as tf.Tensor2D);
    });
    const exact = tf.tidy(() => ({
      mean: tf.conv2d(x, layer.family().mean() as tf.Tensor4D, 1, 'valid').dataSync() as Float32Array,
      variance: tf
        .conv2d(tf.square(x), layer.family().variance() as tf.Tensor4D, 1, 'valid')
        .dataSync() as Float32Array,
    }));
    expectMomentsMatch(explicit, exact, draws, 0.06);
    const lrt = withNoiseSource(new Random(13), () =>
      tf.tidy(() =>
        columnMoments(
          tf.reshape(layer.apply(tf.tile(x, [draws, 1, 1, 1])) as tf.Tensor, [draws, -1]) as tf.Tensor2D,
        ),
      ),
    );
    expectMomentsMatch(lrt, exact, draws, 0.06);
  });

  it('Flipout convolution has the exact marginal moments', () => {
    const layer = new BayesianConv2D({ filters: 2, kernelSize: 2, reparameterisation: 'flipout' });
    layer.build([null, 3, 3, 2]);
    randomisePosterior(layer, 9);
    const x = tf.tensor4d(
      Array.from({ length: 18 }, (_, i) => Math.cos(i)),
      [1, 3, 3, 2],
    );
    const passes = 2500;
    const perPass = 4;
    const out = withNoiseSource(new Random(14), () =>
      tf.tidy(() => {
        const tiled = tf.tile(x, [perPass, 1, 1, 1]);
        const all = Array.from({ length: passes }, () =>
          tf.reshape(layer.apply(tiled) as tf.Tensor, [perPass, -1]),
        );
        return columnMoments(tf.concat(all, 0) as tf.Tensor2D);
      }),
    );
    const exact = tf.tidy(() => ({
      mean: tf.conv2d(x, layer.family().mean() as tf.Tensor4D, 1, 'valid').dataSync() as Float32Array,
      variance: tf
        .conv2d(tf.square(x), layer.family().variance() as tf.Tensor4D, 1, 'valid')
        .dataSync() as Float32Array,
    }));
    expectMomentsMatch(out, exact, passes * perPass, 0.08);
  });

  it('computes the output shape TF.js computes for strides, padding and dilation', () => {
    const cases = [
      { kernelSize: 3, strides: 2, padding: 'same' as const, dilationRate: 1 },
      { kernelSize: 3, strides: 1, padding: 'valid' as const, dilationRate: 2 },
      {
        kernelSize: [2, 3] as [number, number],
        strides: [2, 1] as [number, number],
        padding: 'valid' as const,
        dilationRate: 1,
      },
    ];
    for (const c of cases) {
      const bayes = new BayesianConv2D({ filters: 4, ...c, predictionMode: 'mean' });
      const stock = tf.layers.conv2d({ filters: 4, ...c });
      const x = tf.zeros([2, 9, 8, 3]);
      const y = bayes.apply(x) as tf.Tensor;
      expect(y.shape).toEqual((stock.apply(x) as tf.Tensor).shape);
      expect(bayes.computeOutputShape([2, 9, 8, 3])).toEqual(y.shape);
    }
  });
});

describe('training step', () => {
  it('keeps the tensor count flat over steps in every reparameterisation mode', () => {
    for (const mode of ['local', 'shared', 'flipout'] as const) {
      const model = tf.sequential({
        layers: [
          new BayesianConv2D({
            filters: 2,
            kernelSize: 3,
            inputShape: [5, 5, 1],
            activation: 'relu',
            reparameterisation: mode,
          }),
          tf.layers.flatten(),
          new BayesianDense({ units: 3, family: logUniformFamily(), reparameterisation: mode }),
        ],
      });
      const optimizer = tf.train.adam(1e-2);
      const x = tf.randomNormal([4, 5, 5, 1], 0, 1, 'float32', 3);
      const step = () =>
        optimizer.minimize(() => {
          const y = model.apply(x, { training: true }) as tf.Tensor;
          const kl = (model.layers[0] as BayesianLayer).kl().add((model.layers[2] as BayesianLayer).kl());
          return tf.add(tf.mean(tf.square(y)), tf.mul(1e-3, kl)) as tf.Scalar;
        });
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      optimizer.dispose();
      x.dispose();
      model.dispose();
    }
  });
});
