/**
 * Where the all-weights KFAC linearised predictive spends its time (issue 4's "< 60 s per 10k images"): process CPU
 * milliseconds per test image for the hand-written pullback of every class (`preactivationGradients`) and for the
 * diagonal of J Σ Jᵀ of each layer (`layerBasisVariance`), on one wasm thread.
 *
 *   npx tsx bench/laplace-glm-profile.ts --model runs/lenet5-map [--test-n 500] [--batch-size 100]
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import {
  fitLaplace,
  initBackend,
  loadImageDataset,
  loadModel,
  sliceBatch,
  splitOutputActivation,
  subsetDataset,
  unitCotangents,
} from '../src/index.js';
import { disposeQuantities, preactivationGradients } from '../src/laplace/model/preactivationGradients.js';
import { layerBasisVariance } from '../src/laplace/structures/layerBasisCovariance.js';
import { backendLine } from './lib/measure.js';

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(): Promise<void> {
  const run = argValue('model', 'runs/lenet5-map');
  const testN = Number(argValue('test-n', '500'));
  const batchSize = Number(argValue('batch-size', '100'));
  await initBackend();
  const splits = await loadImageDataset(argValue('data', 'fashion-mnist'), { download: false });
  const first = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
  const train = subsetDataset(splits.train!, first(300));
  const test = subsetDataset(splits.test!, first(testN));
  const model = splitOutputActivation(await loadModel(join(run, 'model', 'model.json'))).logits;
  const posterior = fitLaplace(model, train, {
    subset: 'all',
    hessian: 'kron',
    batchSize,
    priorPrecision: 1,
  });
  void posterior.logMarginalLikelihood(); // eigendecompositions, outside the clock
  const layers = posterior.parts.map((p) => p.layer);
  const pullback = (x: tf.Tensor) =>
    preactivationGradients(posterior.model, posterior.layout, layers, x, unitCotangents);
  // Warm-up: first calls set up kernels and grow the wasm heap.
  const warm = sliceBatch(test, 0, batchSize);
  const q0 = pullback(warm.x);
  posterior.structure.functionalVariance(q0).dispose();
  disposeQuantities(q0);
  tf.dispose([warm.x, warm.y]);

  const ms: Record<string, number> = { pullback: 0 };
  for (let s = 0; s < test.n; s += batchSize) {
    const batch = sliceBatch(test, s, Math.min(test.n, s + batchSize));
    let t0 = cpuSeconds();
    const q = pullback(batch.x);
    q.logits.dataSync();
    ms.pullback += cpuSeconds() - t0;
    // Each layer's variance with random stand-ins of the right shapes: the cost does not depend on the values.
    for (const [name, a] of q.inputs) {
      const g = q.gradients.get(name)!;
      const [r, o] = [a.shape[2], g.shape[3]];
      const [qa, qg, dinv] = [tf.randomNormal([r, r]), tf.randomNormal([o, o]), tf.randomUniform([r, o])];
      t0 = cpuSeconds();
      const v = layerBasisVariance(a, g, qa as tf.Tensor2D, qg as tf.Tensor2D, dinv as tf.Tensor2D);
      v.dataSync();
      ms[name] = (ms[name] ?? 0) + cpuSeconds() - t0;
      tf.dispose([v, qa, qg, dinv]);
    }
    disposeQuantities(q);
    tf.dispose([batch.x, batch.y]);
  }
  posterior.dispose();
  const perImage = Object.fromEntries(
    Object.entries(ms).map(([k, v]) => [k, Number(((1000 * v) / test.n).toFixed(2))]),
  );
  console.log(
    JSON.stringify({
      benchmark: 'laplace-glm-profile',
      backend: backendLine(),
      images: test.n,
      cpuMsPerImage: perImage,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
