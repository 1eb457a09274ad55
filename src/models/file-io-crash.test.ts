import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';

/** Simulates a crash: the atomic write of `crashOn` fails after the files before it were written. */
const crash = vi.hoisted(() => ({ crashOn: undefined as string | undefined }));

vi.mock('../util/atomic-write.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../util/atomic-write.js')>();
  return {
    ...real,
    writeFilesAtomic: async (dir: string, files: ReadonlyArray<readonly [string, string | Uint8Array]>) => {
      for (const [name, data] of files) {
        if (name === crash.crashOn) throw new Error(`simulated crash while writing ${name}`);
        await real.writeFileAtomic(join(dir, name), data);
      }
    },
  };
});

const { loadModel, saveModel } = await import('./file-io.js');
const { mlp } = await import('./zoo.js');

describe('saving is crash-safe', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-crash-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('a crash before model.json is written leaves no loadable half model, even over an old one', async () => {
    const dir = join(root, 'model');
    const old = mlp({ inputShape: [4], hiddenUnits: [3], numClasses: 2, seed: 1 });
    await saveModel(old, dir);
    // The new model has a different architecture: old model.json + new weights.bin would be a half model.
    const next = mlp({ inputShape: [4], hiddenUnits: [5], numClasses: 2, seed: 2 });
    crash.crashOn = 'model.json';
    await expect(saveModel(next, dir)).rejects.toThrow(/simulated crash/);
    crash.crashOn = undefined;
    expect(await readdir(dir)).toEqual(['weights.bin']);
    const err = await loadModel(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BayescompError);
    expect((err as BayescompError).code).toBe('not-found');
    // Saving again completes the directory.
    await saveModel(next, dir);
    const loaded = await loadModel(dir);
    expect(loaded.countParams()).toBe(4 * 5 + 5 + 5 * 2 + 2);
    [old, next, loaded].forEach((m) => m.dispose());
    expect(tf.memory().numTensors).toBe(0);
  });

  it('a crash while writing a shard leaves no model.json', async () => {
    const dir = join(root, 'sharded');
    const model = mlp({ inputShape: [4], hiddenUnits: [3], numClasses: 2, seed: 3 });
    crash.crashOn = 'group1-shard2of3.bin';
    await expect(saveModel(model, dir, { shardSizeBytes: 40 })).rejects.toThrow(/simulated crash/);
    crash.crashOn = undefined;
    expect(await readdir(dir)).toEqual(['group1-shard1of3.bin']);
    model.dispose();
  });
});
