import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { loadModel, saveModel } from './file-io.js';
import { mlp } from './zoo.js';

/**
 * Untrusted model files: sizes in the topology that TF.js would allocate before comparing them with the weights, and
 * non-finite weight values, are refused with one-line `bad-format` errors (the fault suite in test/fault runs many
 * more malformed files through every loader and command).
 */
describe('loadModel on untrusted files', () => {
  let root: string;
  let n = 0;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-untrusted-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A saved 4 → 3 → 2 MLP (23 weights) whose model.json and weights.bin are edited. */
  async function edited(
    editJson: (j: { modelTopology: { config: { layers: { config: Record<string, unknown> }[] } } }) => void,
    editWeights: (w: Float32Array) => void = () => undefined,
  ): Promise<string> {
    const dir = join(root, String(++n));
    const model = mlp({ inputShape: [4], hiddenUnits: [3], numClasses: 2, seed: 1 });
    await saveModel(model, dir);
    model.dispose();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    editJson(json);
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    const bytes = new Uint8Array(await readFile(join(dir, 'weights.bin')));
    const weights = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    editWeights(weights);
    await writeFile(join(dir, 'weights.bin'), bytes);
    return dir;
  }

  async function refusal(dir: string): Promise<BayescompError> {
    const err = await loadModel(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BayescompError);
    expect((err as BayescompError).code).toBe('bad-format');
    expect((err as Error).message).not.toContain('\n');
    return err as BayescompError;
  }

  it('a Dense layer of 10⁹ units is refused before TF.js allocates its 4·10⁹-value kernel', async () => {
    const dir = await edited((j) => (j.modelTopology.config.layers[0].config.units = 1e9));
    const before = tf.memory();
    const start = performance.now();
    const err = await refusal(dir);
    expect(err.message).toContain(
      "layer 'dense_1' would create weight 'kernel' of shape [4, 1000000000] (4000000000 values), more than the 23 values the weights manifest declares",
    );
    expect(performance.now() - start).toBeLessThan(2000);
    expect(tf.memory().numBytes).toBe(before.numBytes);
    // The guard is removed afterwards: the unedited model still loads (23 weights).
    const fine = await loadModel(await edited(() => undefined));
    expect(fine.countParams()).toBe(23);
    fine.dispose();
  });

  it('NaN, +Inf and −Inf weights are refused naming the weight and the element', async () => {
    const nan = await refusal(
      await edited(
        () => undefined,
        (w) => (w[5] = NaN),
      ),
    );
    expect(nan.message).toMatch(/weight 'dense_1\/kernel' holds a non-finite value \(NaN\) at element 5/);
    // Weights are stored kernel₁ (12), bias₁ (3), kernel₂ (6), bias₂ (2): element 13 is the first layer's bias[1].
    const inf = await refusal(
      await edited(
        () => undefined,
        (w) => (w[13] = Infinity),
      ),
    );
    expect(inf.message).toMatch(/weight 'dense_1\/bias' holds a non-finite value \(Infinity\) at element 1/);
    const minusInf = await refusal(
      await edited(
        () => undefined,
        (w) => (w[22] = -Infinity),
      ),
    );
    expect(minusInf.message).toMatch(
      /weight 'dense_2\/bias' holds a non-finite value \(-Infinity\) at element 1/,
    );
  });
});
