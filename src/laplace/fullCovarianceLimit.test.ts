import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { lenet300, mlp } from '../models/zoo.js';
import { initBackend } from '../runtime/backend.js';
import { BayescompError, EXIT_CODES } from '../util/errors.js';
import { fullCovarianceBytes } from './fullCovarianceLimit.js';
import { fitLaplace } from './laplacePosterior.js';

describe('full-covariance Laplace memory limit', () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('refuses LeNet-300-100 (266,610 parameters) before allocating, stating the 1,705,941,410,400 bytes it would need', () => {
    const model = lenet300({ seed: 1 });
    const params = model.countParams();
    expect(params).toBe(784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10);
    const data = {
      x: new Float32Array(2 * 784),
      y: new Int32Array([0, 1]),
      n: 2,
      featureShape: [28, 28, 1],
      numClasses: 10,
    };
    const before = tf.memory();
    const start = performance.now();
    const error = (() => {
      try {
        fitLaplace(model, data, { hessian: 'full' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BayescompError);
    expect((error as BayescompError).code).toBe('resource-limit');
    expect(EXIT_CODES['resource-limit']).toBe(9);
    const needed = 24 * params * params;
    expect(needed).toBe(1705941410400); // 24 · 266610²
    expect((error as Error).message).toContain(`needs ${needed} bytes`);
    expect((error as Error).message).toContain(`limit is ${2 ** 30} bytes`);
    expect((error as Error).message).toContain('at most 6688 weights'); // ⌊√(2³⁰/24)⌋
    // Refused before the curvature pass: well under a second, and not one tensor made.
    expect(performance.now() - start).toBeLessThan(1000);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    model.dispose();
  });

  it('the limit is configurable: 23 parameters need 24·23² = 12,696 bytes; a limit one byte lower refuses them', () => {
    const model = mlp({ inputShape: [4], hiddenUnits: [3], numClasses: 2, seed: 2 });
    expect(model.countParams()).toBe(23);
    expect(fullCovarianceBytes(23)).toBe(12696);
    const x = tf.tensor2d(
      Array.from({ length: 16 }, (_, i) => Math.sin(i)),
      [4, 4],
    );
    const y = tf.tensor1d([0, 1, 1, 0], 'int32');
    expect(() => fitLaplace(model, { x, y }, { hessian: 'full', maxFullCovarianceBytes: 12695 })).toThrow(
      /needs 12696 bytes .* limit is 12695 bytes/,
    );
    const posterior = fitLaplace(model, { x, y }, { hessian: 'full', maxFullCovarianceBytes: 12696 });
    expect(posterior.indices.length).toBe(23);
    // Diagonal and Kronecker structures are not limited by it.
    fitLaplace(model, { x, y }, { hessian: 'kron', maxFullCovarianceBytes: 1 }).dispose();
    posterior.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });
});
