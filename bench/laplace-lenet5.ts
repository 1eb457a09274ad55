/**
 * Laplace benchmark of issue 4 (and the KFAC timing of issue 7): a trained LeNet-5-Caffe on Fashion-MNIST, MNIST's
 * test set as out-of-distribution data, evaluated with the library's public API (`fitLaplace`, `LaplacePosterior`).
 *
 * Rows:
 * - `map`: the network itself (softmax of the logits);
 * - `last-layer`: last-layer KFAC (GGN, exact prior in the eigenbasis), prior precision by marginal likelihood,
 *   linearised predictive with the probit link;
 * - `all-kron`: the same over every layer (conv layers in the KFC convention);
 * - `all-diag`: a diagonal GGN Laplace over every layer (marglik prior, GLM probit) — an extra row, and the first
 *   step of the subnetwork;
 * - `subnetwork`: Daxberger et al. 2021 — the S weights of largest marginal variance under that diagonal Laplace
 *   (S ≤ 1% of the weights, `--subnet-size`), full-covariance GGN over them with prior precision λ·S/D (λ the
 *   diagonal Laplace's marglik value), GLM probit. Its fit time includes the diagonal fit and the selection. With
 *   `--subnet-layers a,b` the weights are chosen among those layers only, by a diagonal Laplace over them alone.
 *
 * `--train-n` training images fit the last layer (and the PyTorch comparison); `--train-n-all` (default the same)
 * the all-layer, diagonal and subnetwork rows, whose per-class backward passes cost far more per image.
 *
 * Columns: test accuracy, NLL, ECE (15 bins), OOD AUROC from the maximum probability and from the entropy, fit time
 * (curvature over the training images + eigendecompositions + prior precision), predict time for the test images
 * (the OOD pass is not timed), peak RSS so far, and the tensor count before/after each row (must be equal).
 *
 * With `--pytorch` (default on) `bench/pytorch/laplace_lenet5.py` runs in the same invocation on a PyTorch LeNet-5 of
 * the same shapes for the last-layer KFAC fit over the same number of training images, and the ratio of fit times
 * is printed (issue 7: ours ≤ 2×). The PyTorch fit is forward passes (batch 500) + A, G + float64 eigh; ours is the
 * same computation plus the log-likelihood (both also compute it) — prior optimisation is timed separately on both
 * sides. `--pytorch-epochs 0` (default) uses PyTorch's freshly initialised network: the fit time does not depend on
 * the weights.
 *
 *   npx tsx bench/laplace-lenet5.ts --model /work/runs/lenet5-map --ood-dir /work/shared/data/mnist-t10k \
 *       [--rows map,last-layer,all-kron,all-diag,subnetwork] [--train-n 60000] [--train-n-all N] [--test-n 10000] \
 *       [--subnet-size 1000] [--subnet-layers dense_2 [--subnet-strategy largestVariance|largestMagnitude|random] [--subnet-marglik]] [--glm-batch-size 100] [--fit-workers N] [--per-layer-prior] [--prior-grid-val N] \
 *       [--fit-batch-size 500] [--predict-batch-size 500] [--no-pytorch] [--pytorch-threads 1] [--json]
 */
import * as tf from '@tensorflow/tfjs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  accuracy,
  auroc,
  type Dataset,
  expectedCalibrationError,
  fitLaplace,
  fitLaplaceParallel,
  WorkerPool,
  initBackend,
  type LaplacePosterior,
  loadImageDataset,
  loadModel,
  maxProbability,
  negativeLogLikelihood,
  predictiveEntropy,
  setGlobalSeed,
  sliceBatch,
  splitOutputActivation,
  subsetDataset,
  type WeightSubset,
} from '../src/index.js';
import { largestVarianceScores, type SubnetworkStrategy, topIndices } from '../src/laplace/subset.js';
import { backendLine, peakRssMiB, printTable, runPytorchReference } from './lib/measure.js';

function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const ALL_ROWS = ['map', 'last-layer', 'all-kron', 'all-diag', 'subnetwork'] as const;
type RowName = (typeof ALL_ROWS)[number];

interface Metrics {
  accuracy: number;
  nll: number;
  ece: number;
  auroc_maxprob: number;
  auroc_entropy: number;
}

interface RowResult {
  row: RowName;
  description: string;
  parameters: number;
  priorPrecision?: readonly number[];
  logMarginalLikelihood?: number;
  /** Training images the curvature was fitted on. */
  fitImages: number;
  fitSeconds: number;
  /** Process CPU seconds of the fit (much less than the wall time: the machine was busy). */
  fitCpuSeconds: number;
  priorSeconds: number;
  priorCpuSeconds: number;
  predictSeconds: number;
  predictCpuSeconds: number;
  peakRssMiB: number;
  tensorsBefore: number;
  tensorsAfter: number;
  metrics: Metrics;
}

/** A run directory (its `model/`), a directory holding `model.json`, or a `model.json`. */
async function resolveModelPath(spec: string): Promise<string> {
  const isDir = await stat(spec).then((s) => s.isDirectory());
  if (!isDir) return spec;
  const inRun = join(spec, 'model', 'model.json');
  return stat(inRun).then(
    () => inRun,
    () => join(spec, 'model.json'),
  );
}

/** Probabilities `[n, C]` for every example of `data`, batch by batch. */
function predictAll(data: Dataset, batchSize: number, fn: (x: tf.Tensor) => tf.Tensor): Float32Array {
  const c = data.numClasses ?? 10;
  const out = new Float32Array(data.n * c);
  for (let s = 0; s < data.n; s += batchSize) {
    const batch = sliceBatch(data, s, Math.min(data.n, s + batchSize));
    const p = fn(batch.x);
    out.set(p.dataSync(), s * c);
    tf.dispose([p, batch.x, batch.y]);
  }
  return out;
}

/** CPU seconds (user + system, all threads) since `start`. */
function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

function metricsOf(pIn: Float32Array, labels: Int32Array, pOut: Float32Array, c: number): Metrics {
  const entIn = predictiveEntropy(pIn, c).map((v) => -v);
  const entOut = predictiveEntropy(pOut, c).map((v) => -v);
  return {
    accuracy: accuracy(pIn, labels),
    nll: negativeLogLikelihood(pIn, labels),
    ece: expectedCalibrationError(pIn, labels, 15),
    auroc_maxprob: auroc(maxProbability(pIn, c), maxProbability(pOut, c)),
    auroc_entropy: auroc(entIn, entOut),
  };
}

async function main(): Promise<void> {
  const modelSpec = argValue('model', '');
  const oodDir = argValue('ood-dir', '/work/shared/data/mnist-t10k');
  if (!modelSpec) throw new Error('--model <run dir | model.json> is required');
  const rows = argValue('rows', ALL_ROWS.join(',')).split(',') as RowName[];
  const trainN = Number(argValue('train-n', '60000'));
  const testN = Number(argValue('test-n', '10000'));
  const trainNAll = Number(argValue('train-n-all', String(trainN)));
  const subnetSize = Number(argValue('subnet-size', '1000'));
  // Restrict the subnetwork's largest-variance choice to these layers (comma-separated; default all layers).
  const subnetStrategy = argValue('subnet-strategy', 'largestVariance') as SubnetworkStrategy;
  const subnetLayers = argValue('subnet-layers', '')
    .split(',')
    .filter((n) => n.length > 0);
  const fitBatch = Number(argValue('fit-batch-size', '500'));
  const predictBatch = Number(argValue('predict-batch-size', '500'));
  // The all-layer GLM predictive and all-layer fits hold C backward passes' quantities per image: smaller batches
  // bound the memory (≈ 2.6 GB peak at 500) and stay in cache.
  const glmBatch = Number(argValue('glm-batch-size', '100'));
  const json = flag('json');
  // One marglik prior precision per layer for the all-layer rows (the evidence picks each layer's own λ).
  const perLayerPrior = flag('per-layer-prior');
  const log = (s: string) => process.stderr.write(`${s}\n`);

  const info = await initBackend();
  setGlobalSeed(0);
  const splits = await loadImageDataset(argValue('data', 'fashion-mnist'), { download: false });
  const ood = await loadImageDataset(oodDir, { download: false });
  const head = (d: Dataset | undefined, n: number): Dataset => {
    if (!d) throw new Error('missing split');
    return n >= d.n
      ? d
      : subsetDataset(
          d,
          Int32Array.from({ length: n }, (_, i) => i),
        );
  };
  const train = head(splits.train, trainN);
  // --prior-grid-val N: the all-layer rows take λ from a grid (1 … 10⁴) by the NLL of N training images the fit does
  // not see (the last N of the training set) instead of the evidence.
  const gridN = Number(argValue('prior-grid-val', '0'));
  const gridValidation =
    gridN > 0 && splits.train
      ? subsetDataset(
          splits.train,
          Int32Array.from({ length: gridN }, (_, i) => splits.train!.n - gridN + i),
        )
      : undefined;
  const trainAll = head(splits.train, trainNAll);
  const test = head(splits.test, testN);
  const oodTest = head(ood.test ?? ood.train, testN);
  const labels = test.y as Int32Array;
  const c = test.numClasses ?? 10;

  const stored = await loadModel(await resolveModelPath(modelSpec));
  const model = splitOutputActivation(stored).logits;
  const totalWeights = model.countParams();
  log(
    `backend: ${backendLine()}; model ${modelSpec} (${totalWeights} weights); train ${train.n}, test ${test.n}`,
  );

  const results: RowResult[] = [];
  let diag: { posterior: LaplacePosterior; fitSeconds: number; priorSeconds: number } | undefined;

  const evaluate = (
    row: RowName,
    description: string,
    fit: () => {
      posterior?: LaplacePosterior;
      fitSeconds: number;
      priorSeconds: number;
      priorCpuSeconds?: number;
    },
    keep = false,
  ) => {
    const tensorsBefore = tf.memory().numTensors;
    log(`${row}: fitting`);
    const fitCpu = process.cpuUsage();
    const fitted = fit();
    const fitCpuSeconds = cpuSince(fitCpu);
    const posterior = fitted.posterior;
    const batchSize = row === 'map' || row === 'last-layer' ? predictBatch : glmBatch;
    const predict = (x: tf.Tensor) =>
      posterior
        ? posterior.predict(x, { method: 'glm', link: 'probit', batchSize })
        : tf.tidy(() => tf.softmax(model.predict(x) as tf.Tensor));
    log(`${row}: predicting`);
    const start = performance.now();
    const predictCpu = process.cpuUsage();
    const pIn = predictAll(test, batchSize, predict);
    const predictSeconds = (performance.now() - start) / 1000;
    const predictCpuSeconds = cpuSince(predictCpu);
    const pOut = predictAll(oodTest, batchSize, predict);
    const result: RowResult = {
      row,
      description,
      parameters: posterior?.indices.length ?? 0,
      priorPrecision: posterior?.priorPrecision,
      logMarginalLikelihood: posterior?.logMarginalLikelihood(),
      fitImages: posterior?.dataSize ?? 0,
      fitSeconds: fitted.fitSeconds,
      fitCpuSeconds,
      priorSeconds: fitted.priorSeconds,
      priorCpuSeconds: fitted.priorCpuSeconds ?? 0,
      predictSeconds,
      predictCpuSeconds,
      peakRssMiB: peakRssMiB(),
      tensorsBefore,
      tensorsAfter: 0,
      metrics: metricsOf(pIn, labels, pOut, c),
    };
    if (!keep) posterior?.dispose();
    result.tensorsAfter = tf.memory().numTensors;
    results.push(result);
    log(
      `${row}: fit ${result.fitSeconds.toFixed(2)} s (prior ${result.priorSeconds.toFixed(2)} s), predict ` +
        `${predictSeconds.toFixed(2)} s, acc ${(100 * result.metrics.accuracy).toFixed(2)}%, AUROC ` +
        `${result.metrics.auroc_maxprob.toFixed(3)}`,
    );
  };

  /** fitLaplace + marglik prior, timed separately. */
  const fitTimed = (
    subset: WeightSubset,
    hessian: 'kron' | 'diag' | 'full',
    data: Dataset,
    priorPrecision = 1,
  ) => {
    const t0 = performance.now();
    // Per-class backward passes hold C copies of every activation: all-layer fits use the smaller GLM batch.
    const batchSize = subset === 'lastLayer' ? fitBatch : glmBatch;
    const posterior = fitLaplace(model, data, { subset, hessian, batchSize, priorPrecision });
    if (hessian === 'kron') void posterior.logMarginalLikelihood(); // eigendecompositions belong to the fit
    const t1 = performance.now();
    const priorCpu = process.cpuUsage();
    if (hessian !== 'full' && gridValidation && subset === 'all')
      void posterior.optimizePriorPrecision({
        method: 'gridsearch',
        validation: gridValidation,
        grid: Array.from({ length: 9 }, (_, i) => 10 ** (i / 2)),
        predict: { batchSize: glmBatch },
      });
    else if (hessian !== 'full')
      void posterior.optimizePriorPrecision({
        method: 'marglik',
        perLayer: perLayerPrior && subset === 'all',
      });
    const t2 = performance.now();
    return {
      posterior,
      fitSeconds: (t2 - t0) / 1000,
      priorSeconds: (t2 - t1) / 1000,
      priorCpuSeconds: cpuSince(priorCpu),
    };
  };

  for (const row of rows) {
    if (row === 'map') evaluate('map', 'MAP', () => ({ fitSeconds: 0, priorSeconds: 0 }));
    else if (row === 'last-layer')
      evaluate('last-layer', 'last-layer KFAC, GGN, exact prior, marglik, GLM probit', () =>
        fitTimed('lastLayer', 'kron', train),
      );
    else if (row === 'all-kron')
      evaluate(
        'all-kron',
        `all-layer KFAC, GGN, exact prior, ${gridValidation ? `λ by validation NLL (${gridN} images)` : `marglik${perLayerPrior ? ' per layer' : ''}`}, GLM probit`,
        () => fitTimed('all', 'kron', trainAll),
      );
    else if (row === 'subnetwork' && subnetLayers.length > 0)
      evaluate(
        'subnetwork',
        `subnetwork: ${subnetSize} weights by ${subnetStrategy} in ${subnetLayers.join(', ')}, full GGN, prior λ·S/D, GLM probit`,
        () => {
          // The library's `{ strategy, layers }` path: a diagonal Laplace over those layers only (its marglik λ is
          // the prior), then the full GGN over the chosen weights.
          const selection = fitTimed({ layers: subnetLayers }, 'diag', trainAll);
          const lambda = selection.posterior.priorPrecision[0];
          selection.posterior.dispose();
          const t0 = performance.now();
          const posterior = fitLaplace(model, trainAll, {
            subset: { strategy: subnetStrategy, count: subnetSize, layers: subnetLayers },
            hessian: 'full',
            batchSize: glmBatch,
            priorPrecision: lambda,
          });
          // Optionally the subnetwork's own λ: by the validation grid (--prior-grid-val) or its evidence.
          const p0 = performance.now();
          if (gridValidation)
            void posterior.optimizePriorPrecision({
              method: 'gridsearch',
              validation: gridValidation,
              grid: Array.from({ length: 9 }, (_, i) => lambda * 10 ** ((i - 4) / 2)),
              predict: { batchSize: glmBatch },
            });
          else if (flag('subnet-marglik')) void posterior.optimizePriorPrecision({ method: 'marglik' });
          const ownPriorSeconds = (performance.now() - p0) / 1000;
          void posterior.marginalVariances(); // the Cholesky factor and inverse belong to the fit
          return {
            posterior,
            fitSeconds: selection.fitSeconds + (performance.now() - t0) / 1000,
            priorSeconds: selection.priorSeconds + ownPriorSeconds,
          };
        },
      );
    else if (row === 'all-diag' || row === 'subnetwork') {
      if (!diag) {
        const keep = rows.includes('subnetwork');
        evaluate(
          'all-diag',
          `all-layer diagonal GGN, marglik${perLayerPrior ? ' per layer' : ''}, GLM probit`,
          () => (diag = fitTimed('all', 'diag', trainAll)),
          keep,
        );
        if (!rows.includes('all-diag')) results.pop();
      }
      if (row === 'subnetwork') {
        const d = diag!;
        evaluate(
          'subnetwork',
          `subnetwork: ${subnetSize} weights of largest diagonal-Laplace variance, full GGN, prior λ·S/D, GLM probit`,
          () => {
            const t0 = performance.now();
            const lambda = d.posterior.priorPrecision[0];
            const variances = d.posterior.marginalVariances();
            const { curvature } = d.posterior.fittedState;
            if (curvature.structure !== 'diag')
              throw new Error('the all-diag row holds a diagonal curvature');
            // The library's ranking: largest variance among weights with curvature (see `SubnetworkStrategy`).
            const indices = topIndices(
              largestVarianceScores({ variances, curvature: curvature.values }),
              subnetSize,
            );
            d.posterior.dispose();
            const posterior = fitLaplace(model, trainAll, {
              subset: { indices },
              hessian: 'full',
              batchSize: glmBatch,
              priorPrecision: lambda,
            });
            void posterior.marginalVariances(); // the Cholesky factor and inverse belong to the fit
            return {
              posterior,
              fitSeconds: d.fitSeconds + (performance.now() - t0) / 1000,
              priorSeconds: d.priorSeconds,
            };
          },
        );
      }
    }
  }

  // Both cores (issue 7): the same last-layer fit with the examples split between worker threads; pool start apart.
  const fitWorkers = Number(argValue('fit-workers', '0'));
  let parallelFit:
    { workers: number; poolStartSeconds: number; fitSeconds: number; logMarglikDelta: number } | undefined;
  if (fitWorkers > 0 && rows.includes('last-layer')) {
    log(`last-layer: fitting on ${fitWorkers} worker threads`);
    const s0 = performance.now();
    const pool = await WorkerPool.start({ workers: fitWorkers, backend: info.name });
    const s1 = performance.now();
    const parallel = await fitLaplaceParallel(model, train, {
      subset: 'lastLayer',
      hessian: 'kron',
      batchSize: fitBatch,
      priorPrecision: 1,
      pool,
    });
    const lml = parallel.logMarginalLikelihood(); // eigendecompositions belong to the fit, as in the row
    const s2 = performance.now();
    await pool.terminate();
    const single = fitLaplace(model, train, {
      subset: 'lastLayer',
      hessian: 'kron',
      batchSize: fitBatch,
      priorPrecision: 1,
    });
    parallelFit = {
      workers: fitWorkers,
      poolStartSeconds: (s1 - s0) / 1000,
      fitSeconds: (s2 - s1) / 1000,
      logMarglikDelta: Math.abs(lml - single.logMarginalLikelihood()),
    };
    parallel.dispose();
    single.dispose();
    log(
      `last-layer on ${fitWorkers} workers: fit ${parallelFit.fitSeconds.toFixed(2)} s (pool start ${parallelFit.poolStartSeconds.toFixed(2)} s)`,
    );
  }

  let pytorch: Record<string, unknown> | undefined;
  let ratio:
    { wall: number; cpu: number; ours: number; oursCpu: number; torch: number; torchCpu: number } | undefined;
  const ours = results.find((r) => r.row === 'last-layer');
  if (!flag('no-pytorch') && ours) {
    log('PyTorch: last-layer KFAC fit (bench/pytorch/laplace_lenet5.py)');
    const args = [
      '--epochs',
      argValue('pytorch-epochs', '0'),
      '--subsets',
      'last-layer',
      '--threads',
      argValue('pytorch-threads', '1'),
      '--fit-batch-size',
      String(fitBatch),
      '--train-subset',
      String(train.n),
      '--test-subset',
      String(test.n),
      '--ood-dir',
      oodDir,
    ];
    pytorch = await runPytorchReference('laplace_lenet5.py', args);
    const ll = pytorch.last_layer as { fit_seconds: number; fit_cpu_seconds: number } | undefined;
    if (ll) {
      // Ours without the prior search: PyTorch times its grid separately.
      const oursWall = ours.fitSeconds - ours.priorSeconds;
      const oursCpu = ours.fitCpuSeconds - ours.priorCpuSeconds;
      ratio = {
        wall: oursWall / ll.fit_seconds,
        cpu: oursCpu / ll.fit_cpu_seconds,
        ours: oursWall,
        oursCpu,
        torch: ll.fit_seconds,
        torchCpu: ll.fit_cpu_seconds,
      };
    }
  }

  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const table: (string | number)[][] = [
    [
      'row',
      'acc',
      'NLL',
      'ECE',
      'AUROC maxp',
      'AUROC ent',
      'fit images',
      'fit s (CPU s)',
      'of which prior s',
      'predict s (CPU s)',
      'RSS MiB',
      'tensors',
    ],
    ...results.map((r) => [
      r.row,
      pct(r.metrics.accuracy),
      r.metrics.nll.toFixed(4),
      pct(r.metrics.ece),
      r.metrics.auroc_maxprob.toFixed(3),
      r.metrics.auroc_entropy.toFixed(3),
      r.fitImages,
      `${r.fitSeconds.toFixed(2)} (${r.fitCpuSeconds.toFixed(2)})`,
      r.priorSeconds.toFixed(2),
      `${r.predictSeconds.toFixed(2)} (${r.predictCpuSeconds.toFixed(2)})`,
      r.peakRssMiB.toFixed(0),
      `${r.tensorsBefore}→${r.tensorsAfter}`,
    ]),
  ];
  const out = {
    benchmark: 'laplace-lenet5',
    backend: backendLine(),
    backendName: info.name,
    model: modelSpec,
    weights: totalWeights,
    trainSize: train.n,
    testSize: test.n,
    oodSize: oodTest.n,
    fitBatchSize: fitBatch,
    predictBatchSize: predictBatch,
    glmBatchSize: glmBatch,
    rows: results,
    pytorch: pytorch
      ? {
          last_layer: pytorch.last_layer,
          env: pytorch.env,
          peak_rss_mb: pytorch.peak_rss_mb,
        }
      : undefined,
    lastLayerFitRatioToPytorch: ratio,
    lastLayerParallelFit: parallelFit && {
      ...parallelFit,
      ratioToPytorch: ratio ? parallelFit.fitSeconds / ratio.torch : undefined,
    },
    peakRssMiB: peakRssMiB(),
  };
  if (!json) {
    console.log(`Backend: ${backendLine()}`);
    console.log(`| ${table[0].join(' | ')} |`);
    console.log(`|${table[0].map(() => '---').join('|')}|`);
    for (const r of table.slice(1)) console.log(`| ${r.join(' | ')} |`);
    if (ratio !== undefined) {
      console.log(
        `\nlast-layer KFAC fit over ${train.n} images: ours ${ratio.ours.toFixed(2)} s wall / ` +
          `${ratio.oursCpu.toFixed(2)} s CPU, PyTorch ${ratio.torch.toFixed(2)} s wall / ${ratio.torchCpu.toFixed(2)} s CPU ` +
          `(${argValue('pytorch-threads', '1')} thread); ratio ${ratio.wall.toFixed(2)}× wall, ${ratio.cpu.toFixed(2)}× CPU`,
      );
    }
    printTable([['peak RSS MiB', peakRssMiB()]]);
  }
  console.log(JSON.stringify(out));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
