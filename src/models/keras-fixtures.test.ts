import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { Random } from '../runtime/random.js';
import { loadModel } from './file-io.js';
import {
  FIXTURES_DIR,
  KERAS_FIXTURES,
  writeKerasFixtures,
  type KerasFixtureName,
} from './fixtures/make-keras-fixtures.js';
import { splitOutputActivation } from './logits.js';

/** A float64 image batch element: height × width × channels, row-major. */
interface Volume {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

type Step =
  | { op: 'conv'; layer: string; padding: 'valid' | 'same' }
  | { op: 'pool' }
  | { op: 'dense'; layer: string; activation: 'relu' | 'softmax' };

const ARCHITECTURES: Record<'sequential' | 'functional', Step[]> = {
  sequential: [
    { op: 'conv', layer: 'conv2d', padding: 'valid' },
    { op: 'pool' },
    { op: 'dense', layer: 'dense', activation: 'relu' },
    { op: 'dense', layer: 'dense_1', activation: 'softmax' },
  ],
  functional: [
    { op: 'conv', layer: 'conv2d', padding: 'same' },
    { op: 'pool' },
    { op: 'conv', layer: 'conv2d_1', padding: 'valid' },
    { op: 'dense', layer: 'dense', activation: 'relu' },
    { op: 'dense', layer: 'dense_1', activation: 'softmax' },
  ],
};

interface Weight {
  shape: number[];
  values: Float64Array;
}

/** IEEE binary16 → number, written here so the check does not rely on TF.js's decoder. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Decodes the shard with plain byte arithmetic, following the manifest. */
async function readWeights(dir: string): Promise<Map<string, Weight>> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const bytes = await readFile(join(dir, json.weightsManifest[0].paths[0]));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const weights = new Map<string, Weight>();
  let offset = 0;
  for (const spec of json.weightsManifest[0].weights) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float64Array(n);
    const q = spec.quantization;
    for (let i = 0; i < n; i++) {
      if (q?.dtype === 'uint8') values[i] = Math.fround(view.getUint8(offset + i) * q.scale! + q.min!);
      else if (q?.dtype === 'float16') values[i] = halfToNumber(view.getUint16(offset + 2 * i, true));
      else values[i] = view.getFloat32(offset + 4 * i, true);
    }
    offset += n * (q?.dtype === 'uint8' ? 1 : q?.dtype === 'float16' ? 2 : 4);
    weights.set(spec.name, { shape: spec.shape, values });
  }
  expect(offset).toBe(bytes.byteLength);
  return weights;
}

function conv(x: Volume, kernel: Weight, bias: Weight, padding: 'valid' | 'same'): Volume {
  const [kh, kw, cin, cout] = kernel.shape;
  const pad = padding === 'same' ? (kh - 1) / 2 : 0;
  const h = x.h + 2 * pad - kh + 1;
  const w = x.w + 2 * pad - kw + 1;
  const out = new Float64Array(h * w * cout);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let o = 0; o < cout; o++) {
        let s = bias.values[o];
        for (let a = 0; a < kh; a++)
          for (let b = 0; b < kw; b++) {
            const r = i + a - pad;
            const col = j + b - pad;
            if (r < 0 || col < 0 || r >= x.h || col >= x.w) continue;
            for (let c = 0; c < cin; c++) {
              s += x.data[(r * x.w + col) * x.c + c] * kernel.values[((a * kw + b) * cin + c) * cout + o];
            }
          }
        out[(i * w + j) * cout + o] = Math.max(0, s);
      }
  return { h, w, c: cout, data: out };
}

function pool(x: Volume): Volume {
  const h = Math.floor(x.h / 2);
  const w = Math.floor(x.w / 2);
  const out = new Float64Array(h * w * x.c);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let c = 0; c < x.c; c++) {
        let m = -Infinity;
        for (let a = 0; a < 2; a++)
          for (let b = 0; b < 2; b++) m = Math.max(m, x.data[((2 * i + a) * x.w + 2 * j + b) * x.c + c]);
        out[(i * w + j) * x.c + c] = m;
      }
  return { h, w, c: x.c, data: out };
}

/** The network computed in float64 from the decoded weights; returns [logits, probabilities]. */
function reference(steps: Step[], weights: Map<string, Weight>, image: Float64Array): [number[], number[]] {
  let volume: Volume = { h: 8, w: 8, c: 1, data: image };
  let vector: Float64Array | undefined;
  let logits: number[] = [];
  for (const step of steps) {
    if (step.op === 'conv') {
      volume = conv(
        volume,
        weights.get(`${step.layer}/kernel`)!,
        weights.get(`${step.layer}/bias`)!,
        step.padding,
      );
    } else if (step.op === 'pool') {
      volume = pool(volume);
    } else {
      const input = vector ?? volume.data; // Flatten of channels-last data is the row-major buffer itself.
      const kernel = weights.get(`${step.layer}/kernel`)!;
      const bias = weights.get(`${step.layer}/bias`)!;
      const [nIn, nOut] = kernel.shape;
      expect(input.length).toBe(nIn);
      const z = new Float64Array(nOut);
      for (let o = 0; o < nOut; o++) {
        let s = bias.values[o];
        for (let i = 0; i < nIn; i++) s += input[i] * kernel.values[i * nOut + o];
        z[o] = s;
      }
      if (step.activation === 'relu') vector = z.map((v) => Math.max(0, v));
      else {
        logits = Array.from(z);
        vector = z;
      }
    }
  }
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return [logits, e.map((v) => v / total)];
}

const N = 6;
const images: Float64Array[] = [];

describe('models converted from Keras by tensorflowjs_converter', () => {
  let x: tf.Tensor;
  beforeAll(async () => {
    await initBackend();
    const random = new Random(123);
    for (let n = 0; n < N; n++)
      images.push(Float64Array.from({ length: 64 }, () => Math.fround(random.uniform())));
    x = tf.tensor4d(
      images.flatMap((im) => Array.from(im)),
      [N, 8, 8, 1],
    );
  });
  afterAll(() => x.dispose());

  for (const name of Object.keys(KERAS_FIXTURES) as KerasFixtureName[]) {
    it(`${name}: loads and predicts what a float64 computation of the same network gives`, async () => {
      const dir = join(FIXTURES_DIR, name);
      const model = await loadModel(dir);
      expect(
        model.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.getClassName()),
      ).toEqual(
        KERAS_FIXTURES[name].kind === 'sequential'
          ? ['Conv2D', 'MaxPooling2D', 'Flatten', 'Dropout', 'Dense', 'Dense']
          : ['Conv2D', 'MaxPooling2D', 'Conv2D', 'Flatten', 'Dropout', 'Dense', 'Dense'],
      );
      const weights = await readWeights(dir);
      const steps = ARCHITECTURES[KERAS_FIXTURES[name].kind];
      const expected = images.map((im) => reference(steps, weights, im));

      const probs = (model.predict(x) as tf.Tensor).arraySync() as number[][];
      probs.forEach((row, n) =>
        row.forEach((p, k) => expect(Math.abs(p - expected[n][1][k])).toBeLessThan(1e-6)),
      );

      const { logits, outputActivation } = splitOutputActivation(model);
      expect(outputActivation).toBe('softmax');
      const z = logits.predict(x) as tf.Tensor;
      (z.arraySync() as number[][]).forEach((row, n) =>
        row.forEach((v, k) => expect(Math.abs(v - expected[n][0][k])).toBeLessThan(1e-5)),
      );
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.softmax(z), tf.tensor(probs)))).dataSync()[0]);
      expect(diff).toBeLessThan(1e-6);
      // The predictions are not degenerate (every class is predicted with some spread).
      expect(Math.max(...probs.flat()) - Math.min(...probs.flat())).toBeGreaterThan(0.05);
      z.dispose();
      model.dispose();
    });
  }

  it('quantised variants stay close to their float32 originals', async () => {
    for (const [full, quantised, tol] of [
      ['keras-sequential', 'keras-sequential-uint8', 0.05],
      ['keras-functional', 'keras-functional-float16', 2e-3],
    ] as const) {
      const a = await loadModel(join(FIXTURES_DIR, full));
      const b = await loadModel(join(FIXTURES_DIR, quantised));
      const diff = tf.tidy(
        () => tf.max(tf.abs(tf.sub(a.predict(x) as tf.Tensor, b.predict(x) as tf.Tensor))).dataSync()[0],
      );
      expect(diff).toBeGreaterThan(0);
      expect(diff).toBeLessThan(tol);
      a.dispose();
      b.dispose();
    }
  });

  it('the committed fixtures are exactly what the committed script writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-fixtures-'));
    try {
      await writeKerasFixtures(dir);
      for (const name of Object.keys(KERAS_FIXTURES)) {
        for (const file of ['model.json', 'group1-shard1of1.bin']) {
          const fresh = await readFile(join(dir, name, file));
          const committed = await readFile(join(FIXTURES_DIR, name, file));
          expect(fresh.equals(committed), `${name}/${file}`).toBe(true);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
