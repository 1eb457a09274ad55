import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { layerJacobian, subsetJacobian, splitByLayer } from '../curvature/layerJacobian.js';
import { unitCotangents } from '../likelihood.js';
import {
  finiteDifferenceJacobian,
  maxRelativeError,
  randomInputs,
  tinyConvNet,
  tinyMlp,
} from '../test-utils.js';
import { laplaceLayout } from './laplaceLayers.js';
import { disposeQuantities, preactivationGradients } from './preactivationGradients.js';

beforeAll(async () => {
  await initBackend();
});

/** Jacobian [M][C][D] (float64, flattened) from the module's per-layer inputs and pre-activation gradients. */
function moduleJacobian(model: tf.LayersModel, x: tf.Tensor): Float64Array {
  const layout = laplaceLayout(model);
  const q = preactivationGradients(model, layout, layout.layers, x, unitCotangents);
  const all = Int32Array.from({ length: layout.totalParams }, (_, i) => i);
  const j = subsetJacobian(q, splitByLayer(layout.layers, all)); // [C, M, D]
  const t = j.transpose([1, 0, 2]);
  const out = Float64Array.from(t.dataSync());
  tf.dispose([j, t]);
  disposeQuantities(q);
  return out;
}

describe('per-example Jacobians from layer inputs and pre-activation gradients', () => {
  it('equal J = [x, 1] ⊗ I for a linear model', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3], units: 2 })] });
    const x = randomInputs(4, [3]);
    const jac = moduleJacobian(model, x);
    const xv = x.dataSync();
    // Parameter (r, o) sits at r·2 + o; row r = 3 is the bias.
    let err = 0;
    for (let n = 0; n < 4; n++)
      for (let c = 0; c < 2; c++)
        for (let r = 0; r < 4; r++)
          for (let o = 0; o < 2; o++) {
            const expected = o === c ? (r < 3 ? xv[n * 3 + r] : 1) : 0;
            err = Math.max(err, Math.abs(jac[(n * 2 + c) * 8 + r * 2 + o] - expected));
          }
    expect(err).toBeLessThan(1e-6);
  });

  it('equal central finite differences on an MLP with a softmax fused into its last layer (logits taken)', () => {
    const model = tinyMlp(3, 4, 3, true);
    const x = randomInputs(5, [3]);
    const fd = finiteDifferenceJacobian(model, laplaceLayout(model), x);
    expect(fd.d).toBe(4 * 4 + 5 * 3);
    const jac = moduleJacobian(model, x);
    expect(maxRelativeError(jac, fd.jac)).toBeLessThan(2e-3);
  });

  it('equal central finite differences on a conv net (same/valid padding, pooling, flatten, dropout)', () => {
    const model = tinyConvNet(3);
    const x = randomInputs(3, [6, 6, 2]);
    const layout = laplaceLayout(model);
    expect(layout.layers.map((l) => l.kind)).toEqual(['conv2d', 'conv2d', 'dense']);
    const fd = finiteDifferenceJacobian(model, layout, x);
    const jac = moduleJacobian(model, x);
    expect(maxRelativeError(jac, fd.jac)).toBeLessThan(2e-3);
  });

  it('work for functional models with an Activation softmax output layer', () => {
    const input = tf.input({ shape: [3] });
    const h = tf.layers.dense({ units: 4, activation: 'tanh' }).apply(input) as tf.SymbolicTensor;
    const d = tf.layers.dropout({ rate: 0.3 }).apply(h) as tf.SymbolicTensor;
    const logits = tf.layers.dense({ units: 3 }).apply(d) as tf.SymbolicTensor;
    const probs = tf.layers.activation({ activation: 'softmax' }).apply(logits) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: probs });
    const x = randomInputs(4, [3]);
    const layout = laplaceLayout(model);
    const fd = finiteDifferenceJacobian(model, layout, x);
    expect(maxRelativeError(moduleJacobian(model, x), fd.jac)).toBeLessThan(2e-3);
    // Softmax of the logits the module sees equals the model's own output.
    const q = preactivationGradients(model, layout, layout.layers, x, unitCotangents);
    const own = model.predict(x) as tf.Tensor;
    expect(maxRelativeError(tf.softmax(q.logits).dataSync(), own.dataSync())).toBeLessThan(1e-5);
    disposeQuantities(q);
  });

  it('rejects a sigmoid output (its Bernoulli likelihood is not supported) with a one-line error', () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [3], units: 1, activation: 'sigmoid' })],
    });
    expect(() => laplaceLayout(model)).toThrow(/ends in a sigmoid/);
  });

  it('dense layer Jacobian is the outer product a ⊗ g', () => {
    const a = tf.tensor3d([[[1, 2]]]);
    const g = tf.tensor4d([[[[3, 4, 5]]]]);
    expect(Array.from(layerJacobian(a, g).dataSync())).toEqual([3, 4, 5, 6, 8, 10]);
  });

  it('leaves no tensors behind', () => {
    const model = tinyConvNet(3);
    const x = randomInputs(2, [6, 6, 2]);
    moduleJacobian(model, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) moduleJacobian(model, x);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('convolution patches', () => {
  it('one-hot-filter and slice extraction agree with a JavaScript im2col (same padding, stride 2, dilation)', async () => {
    const { convPatches } = await import('./tappedForward.js');
    const x = randomInputs(2, [7, 6, 3], 9) as tf.Tensor4D;
    const xv = x.arraySync();
    for (const [kernelSize, strides, dilation, padding] of [
      [3, 2, 1, 'same'],
      [2, 1, 2, 'valid'],
      [3, 1, 1, 'valid'],
    ] as const) {
      const small = tf.sequential({
        layers: [
          tf.layers.conv2d({
            inputShape: [7, 6, 3],
            filters: 2,
            kernelSize,
            strides,
            dilationRate: dilation,
            padding,
          }),
        ],
      });
      const wide = tf.sequential({
        layers: [tf.layers.conv2d({ inputShape: [7, 6, 3], filters: 2, kernelSize: 7, padding: 'same' })],
      });
      for (const model of [small, wide]) {
        const l = laplaceLayout(model).layers[0];
        const patches = convPatches(l, x);
        const [kh, kw] = l.conv!.kernelSize;
        const [sh, sw] = l.conv!.strides;
        const [dh, dw] = l.conv!.dilations;
        const out = model.outputs[0].shape as number[];
        const [oh, ow] = [out[1], out[2]];
        const padTop =
          l.conv!.padding === 'same' ? Math.floor(Math.max((oh - 1) * sh + (kh - 1) * dh + 1 - 7, 0) / 2) : 0;
        const padLeft =
          l.conv!.padding === 'same' ? Math.floor(Math.max((ow - 1) * sw + (kw - 1) * dw + 1 - 6, 0) / 2) : 0;
        const expected: number[] = [];
        for (let n = 0; n < 2; n++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++)
              for (let u = 0; u < kh; u++)
                for (let v = 0; v < kw; v++)
                  for (let c = 0; c < 3; c++) {
                    const r = i * sh + u * dh - padTop;
                    const q = j * sw + v * dw - padLeft;
                    expected.push(r >= 0 && r < 7 && q >= 0 && q < 6 ? xv[n][r][q][c] : 0);
                  }
        expect(patches.shape).toEqual([2, oh * ow, kh * kw * 3]);
        expect(maxRelativeError(patches.dataSync(), expected)).toBe(0);
      }
    }
  });
});
