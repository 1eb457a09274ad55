import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { LRT_VARIANCE_EPSILON, localReparameterisedDense } from './localReparameterisation.js';

beforeAll(async () => {
  await initBackend();
});

function seeded(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor {
  const rng = new Random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => offset + scale * rng.normal()),
    shape,
  );
}

/** Largest absolute difference relative to the largest magnitude of the reference. */
function relativeError(got: tf.Tensor, want: tf.Tensor): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
    const scale = tf.max(tf.abs(want)).dataSync()[0];
    return diff / scale;
  });
}

/** The straightforward composition of TF.js ops the fused op replaces. */
function composed(
  x: tf.Tensor,
  mean: tf.Tensor,
  variance: tf.Tensor,
  noise: tf.Tensor,
  biasMean?: tf.Tensor,
  biasVariance?: tf.Tensor,
): tf.Tensor {
  let m = tf.matMul(x as tf.Tensor2D, mean as tf.Tensor2D) as tf.Tensor;
  let v = tf.matMul(tf.square(x) as tf.Tensor2D, variance as tf.Tensor2D) as tf.Tensor;
  if (biasMean) m = tf.add(m, biasMean);
  if (biasVariance) v = tf.add(v, biasVariance);
  return tf.add(m, tf.mul(tf.sqrt(tf.add(v, LRT_VARIANCE_EPSILON)), noise));
}

describe('localReparameterisedDense (fused local reparameterisation)', () => {
  // Two shapes: a narrow layer (g·μᵀ formed directly) and a wide one with a small batch ((μ·gᵀ)ᵀ instead).
  let [batch, inputs, units] = [7, 13, 5];

  function operands() {
    return {
      x: seeded([batch, inputs], 1),
      mean: seeded([inputs, units], 2, 0.3),
      variance: tf.exp(seeded([inputs, units], 3, 1, -3)),
      noise: seeded([batch, units], 4),
      biasMean: seeded([units], 5, 0.2),
      biasVariance: tf.exp(seeded([units], 6, 1, -4)),
      // Weights of the test loss L = Σ y ⊙ w, so that ∂L/∂y varies per element.
      lossWeights: seeded([batch, units], 7),
    };
  }

  for (const [shape, withBias] of [
    [[7, 13, 5], 'no bias'],
    [[7, 13, 5], 'deterministic bias'],
    [[7, 13, 5], 'Bayesian bias'],
    [[3, 40, 30], 'Bayesian bias'],
  ] as const) {
    it(`values and gradients (x, μ, σ², bias) equal tf.grads of the composition within 1e-5 (${shape.join('×')}, ${withBias})`, () => {
      [batch, inputs, units] = shape;
      const o = operands();
      const names = ['x', 'mean', 'variance', 'biasMean', 'biasVariance'].slice(
        0,
        withBias === 'no bias' ? 3 : withBias === 'deterministic bias' ? 4 : 5,
      );
      const args = names.map((n) => o[n as keyof typeof o]);
      const build =
        (fused: boolean) =>
        (...t: tf.Tensor[]) => {
          const [x, mean, variance, biasMean, biasVariance] = t;
          const y = fused
            ? localReparameterisedDense({
                x: x as tf.Tensor2D,
                mean: mean as tf.Tensor2D,
                variance: variance as tf.Tensor2D,
                noise: o.noise as tf.Tensor2D,
                biasMean: biasMean as tf.Tensor1D | undefined,
                biasVariance: biasVariance as tf.Tensor1D | undefined,
              })
            : composed(x, mean, variance, o.noise, biasMean, biasVariance);
          return tf.sum(tf.mul(y, o.lossWeights));
        };
      const fusedValue = tf.tidy(() => {
        const [x, mean, variance, biasMean, biasVariance] = args;
        return localReparameterisedDense({
          x: x as tf.Tensor2D,
          mean: mean as tf.Tensor2D,
          variance: variance as tf.Tensor2D,
          noise: o.noise as tf.Tensor2D,
          biasMean: biasMean as tf.Tensor1D | undefined,
          biasVariance: biasVariance as tf.Tensor1D | undefined,
        });
      });
      const plainValue = tf.tidy(() => composed(args[0], args[1], args[2], o.noise, args[3], args[4]));
      expect(relativeError(fusedValue, plainValue)).toBeLessThan(1e-5);
      const fusedGrads = tf.grads(build(true))(args);
      const plainGrads = tf.grads(build(false))(args);
      names.forEach((name, i) => {
        const err = relativeError(fusedGrads[i], plainGrads[i]);
        expect(err, `gradient of ${name}`).toBeLessThan(1e-5);
      });
      tf.dispose([fusedValue, plainValue, ...fusedGrads, ...plainGrads, ...Object.values(o)]);
    });
  }

  it('gradients match central finite differences of the composition (float32, ~1e-2)', () => {
    const o = operands();
    const loss = (x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) =>
      tf.sum(
        tf.mul(
          localReparameterisedDense({
            x: x as tf.Tensor2D,
            mean: mean as tf.Tensor2D,
            variance: variance as tf.Tensor2D,
            noise: o.noise as tf.Tensor2D,
            biasMean: o.biasMean as tf.Tensor1D,
          }),
          o.lossWeights,
        ),
      );
    const [, , gVar] = tf.grads(loss)([o.x, o.mean, o.variance]);
    const analytic = gVar.dataSync();
    const base = o.variance.dataSync();
    const h = 1e-3;
    for (const index of [0, 17, 40, 64]) {
      const shifted = (delta: number) =>
        tf.tidy(() => {
          const values = Float32Array.from(base);
          values[index] += delta;
          return loss(o.x, o.mean, tf.tensor(values, o.variance.shape)).dataSync()[0];
        });
      const numeric = (shifted(h) - shifted(-h)) / (2 * h);
      expect(Math.abs(numeric - analytic[index])).toBeLessThan(1e-2 * Math.max(1, Math.abs(numeric)));
    }
    tf.dispose([gVar, ...Object.values(o)]);
  });

  it('forms the input gradient only when the tape needs it (4 products instead of 6 for a first layer)', async () => {
    const o = operands();
    const mean = tf.variable(o.mean as tf.Tensor2D);
    const variance = tf.variable(o.variance as tf.Tensor2D);
    const countProducts = async (inputNeedsGradient: boolean) => {
      const profile = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => {
          const x = inputNeedsGradient ? tf.mul(o.x, mean.sum()) : o.x;
          const y = localReparameterisedDense({
            x: x as tf.Tensor2D,
            mean,
            variance,
            noise: o.noise as tf.Tensor2D,
          });
          return tf.sum(tf.mul(y, o.lossWeights)) as tf.Scalar;
        }, [mean, variance]);
        tf.dispose([value, ...Object.values(grads)]);
        return tf.scalar(0);
      });
      tf.dispose(profile.result as tf.Tensor);
      return profile.kernels.filter((k) => k.name === 'BatchMatMul').length;
    };
    expect(await countProducts(false)).toBe(4);
    expect(await countProducts(true)).toBe(6);
    tf.dispose([mean, variance, ...Object.values(o)]);
  });

  it('leaks no tensors over repeated gradient steps', () => {
    const o = operands();
    const mean = tf.variable(o.mean as tf.Tensor2D);
    const variance = tf.variable(o.variance as tf.Tensor2D);
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.sum(
            localReparameterisedDense({
              x: o.x as tf.Tensor2D,
              mean,
              variance,
              noise: o.noise as tf.Tensor2D,
            }),
          ) as tf.Scalar,
        [mean, variance],
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([mean, variance, ...Object.values(o)]);
  });
});
