import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { maxRelativeError, randomInputs } from '../test-utils.js';
import { laplaceLayout } from './laplaceLayers.js';
import { tappedForward } from './tappedForward.js';

beforeAll(async () => {
  await initBackend();
});

/** ReLU convolutions (strided, 'same' and 'valid'), a ReLU dense layer and a dense softmax head. */
function reluConvNet(): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const bias = (seed: number) => tf.initializers.randomNormal({ stddev: 0.2, seed });
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [8, 8, 2],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(1),
        biasInitializer: bias(2),
      }),
      tf.layers.conv2d({
        filters: 3,
        kernelSize: 2,
        padding: 'valid',
        activation: 'relu',
        kernelInitializer: init(3),
        biasInitializer: bias(4),
      }),
      tf.layers.maxPooling2d({ poolSize: 3 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 5, activation: 'relu', kernelInitializer: init(5), biasInitializer: bias(6) }),
      tf.layers.dense({
        units: 4,
        activation: 'softmax',
        kernelInitializer: init(7),
        biasInitializer: bias(8),
      }),
    ],
  });
}

describe('tappedForward', () => {
  it('forwardOnly (fused conv/matmul + bias + activation) gives the logits and recorded inputs of the op-by-op pass', () => {
    const model = reluConvNet();
    const layout = laplaceLayout(model);
    const x = randomInputs(6, [8, 8, 2]);
    const last = layout.layers[layout.layers.length - 1].name;
    // Warm-up: recording a convolution's patches caches its one-hot patch filter once.
    const warm = tappedForward(model, layout, x, { recordInputs: true });
    tf.dispose([warm.logits, ...warm.inputs.values()]);
    const before = tf.memory().numTensors;
    for (const record of [new Set([last]), new Set([layout.layers[1].name, last])]) {
      const plain = tappedForward(model, layout, x, { recordInputs: record });
      const fused = tappedForward(model, layout, x, { recordInputs: record, forwardOnly: true });
      expect(fused.logits.shape).toEqual([6, 4]);
      expect(maxRelativeError(fused.logits.dataSync(), plain.logits.dataSync())).toBeLessThan(1e-5);
      // The model's own output is the softmax of the same logits.
      const p = tf.tidy(() => tf.softmax(fused.logits));
      const y = model.predict(x) as tf.Tensor;
      expect(maxRelativeError(p.dataSync(), y.dataSync())).toBeLessThan(1e-5);
      for (const name of record) {
        expect(
          maxRelativeError(fused.inputs.get(name)!.dataSync(), plain.inputs.get(name)!.dataSync()),
        ).toBeLessThan(1e-6);
      }
      tf.dispose([plain.logits, fused.logits, ...plain.inputs.values(), ...fused.inputs.values(), p, y]);
    }
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
