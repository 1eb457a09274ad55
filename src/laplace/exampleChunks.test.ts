import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { exampleChunks } from './exampleChunks.js';

beforeAll(async () => {
  await initBackend();
});

describe('exampleChunks', () => {
  it('cuts consecutive chunks of the first axis (last one shorter) that concatenate back to the input', () => {
    const x = tf.range(0, 7 * 2 * 3).reshape([7, 2, 3]);
    const before = tf.memory().numTensors;
    const shapes: number[][] = [];
    const values: number[] = [];
    for (const chunk of exampleChunks(x, 3)) {
      shapes.push(chunk.shape);
      values.push(...chunk.dataSync());
      chunk.dispose();
    }
    expect(shapes).toEqual([
      [3, 2, 3],
      [3, 2, 3],
      [1, 2, 3],
    ]);
    expect(values).toEqual(Array.from(x.dataSync()));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('hands out the input itself when it fits in one chunk; disposing the chunk leaves the input intact', () => {
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    for (const chunk of exampleChunks(x, 5)) {
      expect(Array.from(chunk.dataSync())).toEqual([1, 2, 3, 4]);
      chunk.dispose();
    }
    expect(Array.from(x.dataSync())).toEqual([1, 2, 3, 4]);
    x.dispose();
  });
});
