import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { StepLossMonitor } from './step-loss-monitor.js';

describe('StepLossMonitor', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('sums losses and terms read in bulk, and reports the first non-finite loss with the last finite one', async () => {
    const before = tf.memory().numTensors;
    const monitor = new StepLossMonitor(['data', 'kl']);
    const rows = [
      [1.5, 1, 0.5],
      [2.5, 2, 0.5],
      [0.25, 0.125, 0.125],
    ];
    rows.forEach((r, i) => monitor.push(tf.tensor1d(r), 0, i));
    expect(await monitor.readLatestLoss()).toBe(0.25);
    expect(await monitor.flush()).toBeUndefined();
    expect(monitor.steps).toBe(3);
    expect(monitor.lossSum).toBe(4.25);
    expect(monitor.termSums).toEqual({ data: 3.125, kl: 1.125 });

    monitor.push(tf.tensor1d([3, 3, 0]), 1, 0);
    monitor.push(tf.tensor1d([Infinity, 0, 0]), 1, 1);
    monitor.push(tf.tensor1d([NaN, 0, 0]), 1, 2);
    const divergence = await monitor.flush();
    expect(divergence).toEqual({
      epoch: 1,
      step: 1,
      value: Infinity,
      lastFinite: { epoch: 1, step: 0, loss: 3 },
    });
    expect(monitor.steps).toBe(4);

    monitor.resetSums({ steps: 2, lossSum: 1, termSums: { data: 0.5 } });
    expect(monitor.termSums).toEqual({ data: 0.5, kl: 0 });
    monitor.push(tf.tensor1d([1, 1, 1]), 2, 0);
    monitor.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
