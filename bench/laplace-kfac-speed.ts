/**
 * CPU cost of the all-weights KFAC Laplace on a trained LeNet-5 (issue 4's "all-weights KFAC linearised predictive over
 * 10k images under 60 s", issue 7): process CPU seconds per 1000 images for
 * - the curvature fit (forward pass, GGN backward passes for every class, Kronecker factors A and G of every layer),
 * - the eigendecompositions of the factors (once per fit, independent of the number of images),
 * - the linearised (GLM) probit predictive (forward pass, one backward pass per class, J Σ Jᵀ's diagonal per layer).
 * CPU time, not wall time: the benchmark machines are shared. The prior precision is fixed (the evidence optimisation
 * is timed by `laplace-lenet5.ts`).
 * With `--predict-workers N` the same predictive is also computed by `predictLaplaceParallel` on N worker threads, and
 * both are reported in wall seconds per 1000 images next to the CPU seconds of all the process's threads (the main
 * thread's CPU time alone says nothing about the workers'); the pool is started and warmed up on one batch per worker
 * before the clock runs (both reported apart), and the two results are compared.
 *
 *   npx tsx bench/laplace-kfac-speed.ts --model /work/runs/lenet5-map [--train-n 2000] [--test-n 1000] \
 *       [--fit-batch-size 100] [--glm-batch-size 100] [--prior 1] [--predict-workers 2] [--single-n N] [--json]
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
  predictLaplaceParallel,
  sliceBatch,
  splitOutputActivation,
  subsetDataset,
  WorkerPool,
  type LaplacePosterior,
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
  const predictWorkers = Number(argValue('predict-workers', '0'));
  const backend = await initBackend();
  const splits = await loadImageDataset(argValue('data', 'fashion-mnist'), { download: false });
  const train = head(splits.train!, trainN);
  const test = head(splits.test!, testN);
  // Images of the main-thread predictive (default all): with workers, a prefix is enough to compare the outputs.
  const singleN = Math.min(test.n, Number(argValue('single-n', String(test.n))));
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
  const wallStart = performance.now();
  let sum = 0;
  const singleProbs: Float32Array[] = [];
  for (let s = 0; s < singleN; s += glmBatch) {
    const batch = sliceBatch(test, s, Math.min(singleN, s + glmBatch));
    const p = posterior.predict(batch.x, { method: 'glm', link: 'probit', batchSize: glmBatch });
    sum += tf.tidy(() => p.sum().arraySync() as number);
    if (predictWorkers > 0) singleProbs.push(p.dataSync() as Float32Array);
    tf.dispose([p, batch.x, batch.y]);
  }
  const predictCpu = cpuSince(start);
  const predictWall = (performance.now() - wallStart) / 1000;
  const parallel =
    predictWorkers > 0
      ? await timeParallelPredict(posterior, test, glmBatch, predictWorkers, backend.name, singleProbs)
      : undefined;
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
    singleThreadImages: singleN,
    predictCpuSecondsPer1000: (1000 * predictCpu) / singleN,
    predictWallSecondsPer1000: (1000 * predictWall) / singleN,
    ...(parallel && {
      predictWorkers,
      parallelPoolStartSeconds: parallel.poolStartSeconds,
      parallelWarmUpSeconds: parallel.warmUpSeconds,
      parallelPredictWallSecondsPer1000: (1000 * parallel.wallSeconds) / test.n,
      parallelPredictCpuSecondsPer1000: (1000 * parallel.cpuSeconds) / test.n,
      parallelSpeedup: (predictWall * test.n) / singleN / parallel.wallSeconds,
      parallelMaxAbsDifference: parallel.maxAbsDifference,
    }),
    probabilitySumPerImage: sum / singleN,
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
        `(${singleN} images, batch ${glmBatch}); probabilities sum to ${out.probabilitySumPerImage.toFixed(6)} per image`,
    );
    if (parallel) {
      console.log(
        `GLM probit predictive, wall s per 1000 test images: ${out.predictWallSecondsPer1000.toFixed(2)} on the main ` +
          `thread, ${out.parallelPredictWallSecondsPer1000?.toFixed(2)} on ${predictWorkers} workers ` +
          `(×${out.parallelSpeedup?.toFixed(2)}; ${out.parallelPredictCpuSecondsPer1000?.toFixed(2)} CPU s of all ` +
          `threads; pool start ${parallel.poolStartSeconds.toFixed(2)} s, ` +
          `warm-up ${parallel.warmUpSeconds.toFixed(2)} s; ` +
          `max |Δp| ${parallel.maxAbsDifference})`,
      );
    }
  }
  console.log(JSON.stringify(out));
}

/**
 * Wall seconds of the GLM probit predictive over `test` on `workers` worker threads (pool started beforehand) and the
 * largest difference from the main thread's probabilities `single` (batches of the same size, so it should be 0).
 */
async function timeParallelPredict(
  posterior: LaplacePosterior,
  test: Dataset,
  batchSize: number,
  workers: number,
  backend: string,
  single: readonly Float32Array[],
): Promise<{
  poolStartSeconds: number;
  warmUpSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
  maxAbsDifference: number;
}> {
  let start = performance.now();
  const pool = await WorkerPool.start({ workers, backend });
  const poolStartSeconds = (performance.now() - start) / 1000;
  try {
    // A fresh worker's first predictive costs seconds more CPU (kernel set-up, wasm heap growth) than later ones, which
    // the main thread has already paid during the fit: one batch per worker first, timed apart.
    const warm = sliceBatch(test, 0, Math.min(test.n, batchSize * workers));
    start = performance.now();
    tf.dispose(await predictLaplaceParallel(posterior, warm.x, { batchSize, pool }));
    const warmUpSeconds = (performance.now() - start) / 1000;
    tf.dispose([warm.x, warm.y]);
    const all = sliceBatch(test, 0, test.n);
    start = performance.now();
    const cpuStart = process.cpuUsage();
    const p = await predictLaplaceParallel(posterior, all.x, { batchSize, pool });
    const wallSeconds = (performance.now() - start) / 1000;
    // Process-wide: the main thread's and every worker's.
    const cpuSeconds = cpuSince(cpuStart);
    const values = p.dataSync();
    tf.dispose([p, all.x, all.y]);
    let maxAbsDifference = 0;
    let offset = 0;
    for (const part of single) {
      for (let i = 0; i < part.length; i++)
        maxAbsDifference = Math.max(maxAbsDifference, Math.abs(part[i] - values[offset + i]));
      offset += part.length;
    }
    return { poolStartSeconds, warmUpSeconds, wallSeconds, cpuSeconds, maxAbsDifference };
  } finally {
    await pool.terminate();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
