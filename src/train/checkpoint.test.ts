import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import {
  CHECKPOINT_FILE,
  type TrainingCheckpoint,
  readCheckpoint,
  readModelWeights,
  restoreModelWeights,
  writeCheckpoint,
} from './checkpoint.js';
import { flatWeights, smallMlp } from './test-utils.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bayescomp-ckpt-'));
  dirs.push(dir);
  return dir;
}

function sample(globalStep: number): TrainingCheckpoint {
  return {
    epoch: 2,
    step: 3,
    globalStep,
    seed: 42,
    random: [1, 2, 3, 4294967295],
    objective: { name: 'elbo', state: { beta: 0.25 } },
    optimizer: {
      className: 'Adam',
      iterations: 23,
      adamBetaPowers: [0.5, 0.75],
      slots: [{ name: 'w/m', shape: [2, 2], values: new Float32Array([0.1, -0.2, 3e-9, 4]) }],
    },
    modelWeights: [
      { name: 'dense/kernel', shape: [3], dtype: 'float32', values: new Float32Array([1.5, -2.25, Math.PI]) },
      { name: 'counter', shape: [], dtype: 'int32', values: new Int32Array([-7]) },
    ],
    extraVariables: [{ name: 'codebook', shape: [1], dtype: 'float32', values: new Float32Array([0.05]) }],
    history: [{ epoch: 0, steps: 10, loss: 1.25, terms: { data: 1.2 }, learningRate: 1e-3, seconds: 0.5 }],
    partialEpoch: { steps: 3, lossSum: 2.5, termSums: { data: 2.4 }, learningRate: 1e-3, seconds: 0.1 },
    run: { batchSize: 100, datasetSize: 1000 },
  };
}

describe('checkpoints', () => {
  beforeAll(async () => {
    await initBackend();
  });
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('round-trips every field exactly and keeps only the current weights file', async () => {
    const dir = await tempDir();
    expect(await readCheckpoint(dir)).toBeUndefined();
    await writeCheckpoint(dir, sample(10));
    await writeCheckpoint(dir, sample(11));
    const back = await readCheckpoint(dir);
    expect(back).toEqual(sample(11));
    const bins = (await readdir(dir)).filter((f) => f.endsWith('.bin'));
    expect(bins).toHaveLength(1);
    expect(bins[0]).toMatch(/^checkpoint-11-/);
  });

  it('says what is wrong with a damaged checkpoint, naming the file', async () => {
    const expectBadFormat = async (dir: string, pattern: RegExp) => {
      const error = await readCheckpoint(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BayescompError);
      expect((error as BayescompError).code).toBe('bad-format');
      expect((error as Error).message).toMatch(pattern);
    };
    const dir = await tempDir();
    await writeCheckpoint(dir, sample(1));
    const jsonPath = join(dir, CHECKPOINT_FILE);
    const json = JSON.parse(await readFile(jsonPath, 'utf8'));
    const bin = join(dir, json.weightsFile);

    await truncate(bin, 8);
    await expectBadFormat(dir, /checkpoint-1-.*\.bin: holds 8 bytes, the checkpoint declares 36/);
    await rm(bin);
    await expectBadFormat(dir, /checkpoint\.json: the checkpoint's weights file .* is missing/);
    await writeFile(jsonPath, JSON.stringify({ ...json, version: 99 }));
    await expectBadFormat(dir, /format version 99 is not supported/);
    await writeFile(jsonPath, JSON.stringify({ ...json, weightsFile: '../escape.bin' }));
    await expectBadFormat(dir, /names no valid weights file/);
    await writeFile(jsonPath, '{"format": "bayescomp-checkpoint", ');
    await expectBadFormat(dir, /checkpoint\.json: checkpoint is not valid JSON/);
  });

  it('restores model weights by name, or by position into a model rebuilt with fresh layer names', async () => {
    const source = smallMlp(3, [4], 2, 1);
    const saved = await readModelWeights(source);
    // Built in the same process, the second model's layers get other names (dense_Dense3, …): matched by position.
    const target = smallMlp(3, [4], 2, 2);
    expect(target.weights[0].originalName).not.toBe(source.weights[0].originalName);
    expect(Array.from(flatWeights(target))).not.toEqual(Array.from(flatWeights(source)));
    restoreModelWeights(target, saved);
    expect(Array.from(flatWeights(target))).toEqual(Array.from(flatWeights(source)));
    // By name, a permuted list still lands in the right weights.
    const other = smallMlp(3, [4], 2, 3);
    const renamed = saved.map((s, i) => ({ ...s, name: other.weights[i].originalName })).reverse();
    restoreModelWeights(other, renamed);
    expect(Array.from(flatWeights(other))).toEqual(Array.from(flatWeights(source)));

    const wrong = smallMlp(3, [5], 2, 4);
    expect(() => restoreModelWeights(wrong, saved, 'run/checkpoint.json')).toThrow(
      /run\/checkpoint\.json: model weight '.*kernel' has shape \[3,5\] but the checkpoint's '.*' is \[3,4\]/,
    );
    expect(() => restoreModelWeights(smallMlp(3, [], 2, 5), saved)).toThrow(
      /holds 4 model weights but the run has 2/,
    );
    tf.dispose([source, target, other, wrong].flatMap((m) => m.weights.map((w) => w.read())));
  });
});
