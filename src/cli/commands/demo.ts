import type { Command } from 'commander';
import { join } from 'node:path';
import { evaluatePredictiveWithScores } from '../../eval/evaluate.js';
import { deterministicPredictive, type Predictive } from '../../eval/predictive.js';
import { loadImageDataset } from '../../data/image-datasets.js';
import { loadModel } from '../../models/file-io.js';
import { writeReport } from '../../report/html-report.js';
import { methodSummaryFromEvaluation, type MethodSummary } from '../../report/run-summary.js';
import { Random } from '../../runtime/random.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { bayesianPredictive } from '../../variational/index.js';
import { startBackend } from '../common-options.js';
import { type CliIo, printJson } from '../io.js';
import { laplacePredictive, loadLaplaceDir } from '../laplace-source.js';
import { positiveInt } from '../parse-options.js';
import { EVALUATION_FILE, summaryFromRunDirectory } from '../report-builder.js';
import { resolveModel } from '../resolve-inputs.js';
import { RUN_FILES } from '../run-dir.js';
import { parseKlWeight } from '../variational-method.js';
import { runCompress } from './compress.js';
import { runLaplace } from './laplace.js';
import { runTrain, type TrainCommandOptions } from './train.js';

interface DemoOptions {
  out: string;
  epochs: number;
  vdEpochs: number;
  seed: number;
  json?: boolean;
}

/**
 * `bayescomp demo`: the whole story on the embedded Fashion-MNIST subset, offline — train LeNet-300-100 (MAP), fit a
 * last-layer Kronecker Laplace, make the network Bayesian with Sparse VD, compress it, and write a report comparing
 * the three on accuracy, calibration and out-of-distribution detection (MNIST digits).
 */
export function registerDemo(program: Command, io: CliIo): void {
  program
    .command('demo')
    .description(
      'train, make Bayesian (Laplace, Sparse VD), compress and report on the embedded Fashion-MNIST subset',
    )
    .option('--out <dir>', 'directory for the runs and the report', 'runs/demo')
    .option('--epochs <n>', 'MAP training epochs', positiveInt, 8)
    .option('--vd-epochs <n>', 'Sparse VD epochs (starting from the MAP network)', positiveInt, 12)
    .option('--seed <s>', 'random seed', positiveInt, 1)
    .option('--json', 'print one JSON object')
    .action(async (options: DemoOptions) => {
      await startBackend(program);
      const result = await runDemo(options, io);
      if (options.json) printJson(io, result);
      else {
        io.out('\nmethod                      accuracy   NLL     ECE     OOD AUROC (max prob)\n');
        for (const m of result.methods) {
          io.out(
            `${m.method.padEnd(26)}  ${(100 * m.accuracy).toFixed(2).padStart(6)}%  ${m.nll.toFixed(4)}  ${(100 * m.ece).toFixed(2).padStart(5)}%  ${m.auroc.toFixed(3)}\n`,
          );
        }
        io.out(
          `\nSparse VD compression: ${result.compression.ratio.toFixed(1)}× fewer weights, ${result.compression.compactBytes} bytes compact vs ${result.compression.tfjsBytes} bytes as TF.js float32 (${result.compression.bytesRatio.toFixed(1)}×)\n`,
        );
        io.out(`report: ${result.report} (backend ${result.backend}, ${result.seconds.toFixed(0)} s)\n`);
      }
    });
}

/** What the demo prints with `--json`. */
export interface DemoResult {
  readonly backend: string;
  readonly seconds: number;
  readonly report: string;
  readonly methods: ReadonlyArray<{
    method: string;
    accuracy: number;
    nll: number;
    ece: number;
    auroc: number;
  }>;
  readonly compression: { ratio: number; tfjsBytes: number; compactBytes: number; bytesRatio: number };
}

/** Runs the demo; exported for tests. */
export async function runDemo(options: DemoOptions, io: CliIo): Promise<DemoResult> {
  const start = performance.now();
  const data = 'fashion-mnist-subset';
  const ood = 'mnist-subset';
  const progress = io.isTty ? 'auto' : 'lines';
  const trainDefaults: Omit<TrainCommandOptions, 'model' | 'method' | 'out' | 'epochs'> = {
    data,
    batchSize: 100,
    lr: 1e-3,
    optimizer: 'adam',
    lrSchedule: { type: 'constant' },
    weightDecay: 0,
    validationSplit: 0,
    seed: options.seed,
    progress,
    download: false,
    objective: 'elbo',
    alpha: 0.5,
    samples: 1,
    klWeight: parseKlWeight('constant'),
    initLogSigma2: -10,
    evalSamples: 10,
  };
  const mapDir = join(options.out, 'map');
  const vdDir = join(options.out, 'sparse-vd');
  const laplaceDir = join(options.out, 'laplace');
  const compressedDir = join(options.out, 'compressed');

  io.err('1/5 training LeNet-300-100 (MAP)\n');
  await runTrain(
    { ...trainDefaults, model: 'lenet300', method: 'map', epochs: options.epochs, out: mapDir },
    io,
  );
  io.err('2/5 fitting a last-layer Kronecker Laplace approximation\n');
  await runLaplace(
    {
      model: mapDir,
      data,
      out: laplaceDir,
      subset: 'last-layer',
      hessian: 'kron',
      curvature: 'ggn',
      priorPrecision: 1,
      optimizePrior: 'marglik',
      subnetworkSize: 1000,
      strategy: 'largest-variance',
      link: 'probit',
      predictive: 'glm',
      samples: 100,
      validationSplit: 0.1,
      ood,
      batchSize: 64,
      seed: options.seed,
      download: false,
    },
    io,
  );
  io.err('3/5 Sparse variational dropout from the MAP network\n');
  const warm = Math.max(1, Math.round(options.vdEpochs / 2));
  await runTrain(
    {
      ...trainDefaults,
      model: mapDir,
      method: 'sparse-vd',
      epochs: options.vdEpochs,
      klWeight: parseKlWeight(`warmup:0:${warm}`),
      out: vdDir,
    },
    io,
  );
  io.err('4/5 pruning (log α ≥ 3), bit precision from the posterior, exports\n');
  const compressed = await runCompress('export', vdDir, {
    out: compressedDir,
    scope: 'global',
    epsilon: 0.01,
    method: 'precision',
    bits: 4,
    format: 'all',
    data,
    download: false,
    sweep: true,
  });
  io.err('5/5 evaluating with MNIST digits as out-of-distribution data, writing the report\n');
  const splits = await loadImageDataset(data);
  const oodSet = (await loadImageDataset(ood)).test!;
  const test = splits.test!;
  const predictives: Predictive[] = [
    deterministicPredictive((await resolveModel(mapDir, test, options.seed)).logits, { name: 'MAP' }),
    laplacePredictive((await loadLaplaceDir(laplaceDir)).posterior),
    bayesianPredictive((await resolveModel(vdDir, test, options.seed)).logits, {
      samples: 20,
      random: new Random(options.seed),
      name: 'Sparse VD (S=20)',
    }),
  ];
  const summaries: MethodSummary[] = [];
  for (const p of predictives) {
    summaries.push(
      methodSummaryFromEvaluation(await evaluatePredictiveWithScores(p, test, { oodData: oodSet })),
    );
  }
  await writeJsonAtomic(join(options.out, EVALUATION_FILE), summaries);
  const summary = await summaryFromRunDirectory(options.out, (d) => loadModel(join(d, RUN_FILES.model)));
  const written = await writeReport(options.out, {
    ...summary,
    title: 'bayescomp demo: Fashion-MNIST subset, MNIST as OOD',
  });
  return {
    backend: summary.backend.name,
    seconds: (performance.now() - start) / 1000,
    report: written.reportPath,
    methods: summaries.map((s) => ({
      method: s.method,
      accuracy: s.metrics.accuracy,
      nll: s.metrics.nll,
      ece: s.metrics.ece,
      auroc: s.metrics.ood?.auroc_maxprob ?? NaN,
    })),
    compression: {
      ratio: compressed.totals.compressionRatio,
      tfjsBytes: compressed.bytes.tfjs,
      compactBytes: compressed.bytes.compact,
      bytesRatio: compressed.bytes.tfjs / compressed.bytes.compact,
    },
  };
}
