import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import {
  assertFlatTensorCount,
  assertNoTensorLeak,
  countTensorsDuring,
  countTensorsDuringAsync,
} from './memory.js';

describe('tensor leak checks', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('counts returned and leaked tensors separately', () => {
    const x = tf.ones([3]);
    let kept: tf.Tensor | undefined;
    const usage = countTensorsDuring(() => {
      kept = tf.add(x, 1); // leaked: alive, not returned
      const y = tf.mul(x, 2);
      tf.sub(x, 1).dispose();
      return { y, list: [y, x] }; // y counted once; x existed before
    });
    expect(usage.created).toBe(2);
    expect(usage.returned).toBe(1);
    expect(usage.leaked).toBe(1);
    expect(usage.bytes).toBe(2 * 3 * 4);
    tf.dispose([x, kept as tf.Tensor, usage.result.y]);
  });

  it('passes tidy code and names the leaking function otherwise', () => {
    const x = tf.ones([2, 2]);
    const y = assertNoTensorLeak(() => tf.tidy(() => tf.matMul(tf.add(x, 1), x)));
    expect(Array.from(y.dataSync())).toEqual([4, 4, 4, 4]);
    let leak: tf.Tensor | undefined;
    expect(() =>
      assertNoTensorLeak(
        () => {
          leak = tf.exp(x);
          return tf.sum(x);
        },
        { label: 'step' },
      ),
    ).toThrow(/step leaked 1 tensor\(s\) \(2 created, 1 returned\)/);
    expect(assertNoTensorLeak(() => (leak = tf.neg(x)), { allowed: 0 })).toBe(leak);
    tf.dispose([x, y, leak as tf.Tensor]);
  });

  it('counts async functions', async () => {
    const usage = await countTensorsDuringAsync(async () => {
      const t = tf.zeros([4]);
      await t.data();
      return 7;
    });
    expect(usage.leaked).toBe(1);
    expect(usage.result).toBe(7);
    expect(() => countTensorsDuring(() => Promise.resolve(1))).toThrow(/countTensorsDuringAsync/);
  });

  it('accepts a flat loop after warm-up state and rejects a growing one', async () => {
    const v = tf.variable(tf.ones([5]));
    const optimizer = tf.train.adam(0.1);
    // Adam allocates its moment slots in the first step (warm-up), then stays flat.
    const counts = await assertFlatTensorCount(
      () => optimizer.minimize(() => tf.sum(tf.square(v)), false, [v]),
      { iterations: 3 },
    );
    expect(counts).toHaveLength(3);
    expect(new Set(counts).size).toBe(1);
    const hoard: tf.Tensor[] = [];
    await expect(assertFlatTensorCount(() => hoard.push(tf.square(v)), { label: 'hoarder' })).rejects.toThrow(
      /hoarder leaks/,
    );
    tf.dispose(hoard);
    optimizer.dispose();
    v.dispose();
  });
});
