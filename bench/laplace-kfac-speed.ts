/**
 * CPU cost of the all-weights KFAC Laplace on a trained LeNet-5 (issue 4's "all-weights KFAC linearised predictive over
 * 10k images under 60 s", issue 7): process CPU seconds per 1000 images for
 * - the curvature fit (forward pass, GGN backward passes for every class, Kronecker factors A and G of every layer),
 * - the eigendecompositions of the factors (once per fit, independent of the number of images),
 * - the linearised (GLM) probit predictive (forward pass, one backward pass per class, J Σ Jᵀ's diagonal per layer).
 * CPU time, not wall time: the benchmark machines are shared. The prior precision is fixed (the evidence optimisation
 * is timed by `laplace-lenet5.ts`).
 *
 *   npx tsx bench/laplace-kfac-speed.ts --model /work/runs/lenet5-map [--train-n 2000] [--test-n 1000] \
 *       [--fit-batch-size 100] [--glm-batch-size 100] [--prior 1] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Dataset,
  fitLaplace,
  initBackend,
  loadImageDataset,
  loadModel,
  sliceBatch,
  splitOutputActivation,
  subsetDataset,
} from '../src/index.js';
import { backendLine, peakRssMiB } from './lib/measure.js';

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** CPU seconds (user + system) since `start`. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

async function modelPath(spec: string): Promise<string> {
  if (!(await stat(spec)).isDirectory()) return spec;
  const inRun = join(spec, 'model', 'model.json');
  return stat(inRun).then(
    () => inRun,
    () => join(spec, 'model.json'),
  );
}

const head = (d: Dataset, n: number): Dataset =>
  n >= d.n
    ? d
    : subsetDataset(
        d,
        Int32Array.from({ length: n }, (_, i) => i),
      );

async function main(): Promise<void> {
  const spec = argValue('model', '/work/runs/lenet5-map');
  const trainN = Number(argValue('train-n', '2000'));
  const testN = Number(argValue('test-n', '1000'));
  const fitBatch = Number(argValue('fit-batch-size', '100'));
  const glmBatch = Number(argValue('glm-batch-size', '100'));
  const prior = Number(argValue('prior', '1'));
  await initBackend();
  const splits = await loadImageDataset(argValue('data', 'fashion-mnist'), { download: false });
  const train = head(splits.train!, trainN);
  const test = head(splits.test!, testN);
  const model = splitOutputActivation(await loadModel(await modelPath(spec))).logits;
  const tensorsBefore = tf.memory().numTensors;

  let start = process.cpuUsage();
  const posterior = fitLaplace(model, train, {
    subset: 'all',
    hessian: 'kron',
    batchSize: fitBatch,
    priorPrecision: prior,
  });
  const fitCpu = cpuSince(start);
  start = process.cpuUsage();
  void posterior.logMarginalLikelihood(); // eigendecompositions
  const eigenCpu = cpuSince(start);

  start = process.cpuUsage();
  let sum = 0;
  for (let s = 0; s < test.n; s += glmBatch) {
    const batch = sliceBatch(test, s, Math.min(test.n, s + glmBatch));
    const p = posterior.predict(batch.x, { method: 'glm', link: 'probit', batchSize: glmBatch });
    sum += tf.tidy(() => p.sum().arraySync() as number);
    tf.dispose([p, batch.x, batch.y]);
  }
  const predictCpu = cpuSince(start);
  posterior.dispose();
  const out = {
    benchmark: 'laplace-kfac-speed',
    backend: backendLine(),
    model: spec,
    trainImages: train.n,
    testImages: test.n,
    fitBatchSize: fitBatch,
    glmBatchSize: glmBatch,
    fitCpuSecondsPer1000: (1000 * fitCpu) / train.n,
    eigenCpuSeconds: eigenCpu,
    predictCpuSecondsPer1000: (1000 * predictCpu) / test.n,
    probabilitySumPerImage: sum / test.n,
    peakRssMiB: peakRssMiB(),
    tensors: `${tensorsBefore}→${tf.memory().numTensors}`,
  };
  if (!process.argv.includes('--json')) {
    console.log(`Backend: ${out.backend}`);
    console.log(
      `fit: ${out.fitCpuSecondsPer1000.toFixed(2)} CPU s per 1000 training images (${train.n} images, batch ${fitBatch}); ` +
        `eigendecompositions ${eigenCpu.toFixed(2)} CPU s`,
    );
    console.log(
      `GLM probit predictive: ${out.predictCpuSecondsPer1000.toFixed(2)} CPU s per 1000 test images ` +
        `(${test.n} images, batch ${glmBatch}); probabilities sum to ${out.probabilitySumPerImage.toFixed(6)} per image`,
    );
  }
  console.log(JSON.stringify(out));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
