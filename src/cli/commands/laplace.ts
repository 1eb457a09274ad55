import { type Command, Option } from 'commander';
import { join } from 'node:path';
import { evaluatePredictive, type EvaluationMetrics } from '../../eval/evaluate.js';
import { deterministicPredictive } from '../../eval/predictive.js';
import { fitLaplace, type WeightSubset } from '../../laplace/index.js';
import { saveModel } from '../../models/file-io.js';
import { backendInfo } from '../../runtime/backend.js';
import { Random, setGlobalSeed } from '../../runtime/random.js';
import { trainValidationSplit } from '../../data/splits.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { BayescompError } from '../../util/errors.js';
import { applyConfigFile, requireOptions } from '../config-file.js';
import { startBackend, withDataOptions, withOutputOptions } from '../common-options.js';
import { type CliIo, printJson, printTable } from '../io.js';
import { laplacePredictive } from '../laplace-source.js';
import { commaList, finiteNumber, fraction, nonNegativeInt, positiveInt } from '../parse-options.js';
import { resolveDataset, resolveModel } from '../resolve-inputs.js';
import { finishRunRecord, newRunRecord, RUN_FILES, writeRunRecord } from '../run-dir.js';

export interface LaplaceCommandOptions {
  model: string;
  data: string;
  out: string;
  subset: 'all' | 'last-layer' | 'subnetwork';
  hessian: 'diag' | 'kron' | 'full';
  curvature: 'ggn' | 'ef';
  priorPrecision: number;
  optimizePrior: 'marglik' | 'gridsearch' | 'none';
  perLayer?: boolean;
  subnetworkSize: number;
  strategy: 'largest-variance' | 'largest-magnitude' | 'random';
  subnetworkLayers?: string[];
  link: 'probit' | 'mc';
  predictive: 'glm' | 'nn';
  samples: number;
  validationSplit: number;
  ood?: string;
  batchSize: number;
  seed: number;
  dataDir?: string;
  download: boolean;
  json?: boolean;
  config?: string;
}

/** `bayescomp laplace`: fits a Laplace approximation to a trained model and evaluates its predictive. */
export function registerLaplace(program: Command, io: CliIo): void {
  const command = program
    .command('laplace')
    .description(
      'fit a Laplace approximation to a trained model (diag / Kronecker / full; all, last layer, subnetwork)',
    )
    .option('--model <model>', 'path to model.json, or a run directory')
    .option(
      '--data <data>',
      'dataset name or directory of IDX files (the training split is used for the fit)',
    )
    .option('--out <dir>', 'directory to write the posterior, model and metrics to')
    .addOption(
      new Option('--subset <which>', 'which weights are Bayesian')
        .choices(['all', 'last-layer', 'subnetwork'])
        .default('last-layer'),
    )
    .addOption(
      new Option('--hessian <structure>', 'curvature structure')
        .choices(['diag', 'kron', 'full'])
        .default('kron'),
    )
    .addOption(
      new Option('--curvature <type>', 'generalised Gauss–Newton or empirical Fisher')
        .choices(['ggn', 'ef'])
        .default('ggn'),
    )
    .option('--prior-precision <lambda>', 'prior precision (initial value when optimised)', finiteNumber, 1)
    .addOption(
      new Option(
        '--optimize-prior <method>',
        'choose the prior precision by the marginal likelihood or a validation grid',
      )
        .choices(['marglik', 'gridsearch', 'none'])
        .default('marglik'),
    )
    .option('--per-layer', 'one prior precision per layer (marglik)')
    .option(
      '--subnetwork-size <n>',
      'weights in the subnetwork (--subset subnetwork, full covariance)',
      positiveInt,
      1000,
    )
    .addOption(
      new Option('--strategy <name>', 'how the subnetwork is chosen')
        .choices(['largest-variance', 'largest-magnitude', 'random'])
        .default('largest-variance'),
    )
    .option(
      '--subnetwork-layers <names>',
      'choose the subnetwork among these Dense/Conv2D layers only (comma-separated names)',
      commaList,
    )
    .addOption(
      new Option('--predictive <kind>', 'linearised (glm) or sampled networks (nn)')
        .choices(['glm', 'nn'])
        .default('glm'),
    )
    .addOption(
      new Option('--link <link>', 'GLM link approximation').choices(['probit', 'mc']).default('probit'),
    )
    .option('--samples <s>', 'Monte-Carlo samples (mc link, nn predictive)', positiveInt, 100)
    .option(
      '--validation-split <f>',
      'held-out fraction of the training set for --optimize-prior gridsearch',
      fraction,
      0.1,
    )
    .option('--ood <data>', 'out-of-distribution dataset for the evaluation')
    .option('--batch-size <n>', 'examples per curvature / prediction batch', positiveInt, 64)
    .option('--seed <s>', 'random seed', nonNegativeInt, 0);
  withDataOptions(command);
  withOutputOptions(command);
  command.action(async (raw: LaplaceCommandOptions) => {
    const options = await applyConfigFile(command, raw);
    requireOptions(options, ['model', 'data', 'out']);
    await startBackend(program);
    const result = await runLaplace(options, io);
    if (options.json) printJson(io, result);
    else {
      const rows: [string, string][] = [];
      for (const m of [result.map, result.laplace]) {
        rows.push([
          m.method,
          `acc ${(100 * m.accuracy).toFixed(2)}%  NLL ${m.nll.toFixed(4)}  ECE ${(100 * m.ece).toFixed(2)}%${m.ood ? `  OOD AUROC ${m.ood.auroc_maxprob.toFixed(3)}` : ''}`,
        ]);
      }
      rows.push(['prior precision', result.priorPrecision.map((p) => p.toPrecision(3)).join(', ')]);
      rows.push(['fit', `${result.fitSeconds.toFixed(1)} s on ${result.backend}`]);
      printTable(io, rows);
    }
  });
}

/** What `bayescomp laplace --json` prints. */
export interface LaplaceCommandResult {
  readonly out: string;
  readonly backend: string;
  readonly subset: string;
  readonly hessian: string;
  readonly parameters: number;
  readonly priorPrecision: readonly number[];
  readonly logMarginalLikelihood: number;
  readonly fitSeconds: number;
  readonly map: EvaluationMetrics;
  readonly laplace: EvaluationMetrics;
}

function toSubset(options: LaplaceCommandOptions): WeightSubset {
  if (options.subset === 'all') return 'all';
  if (options.subset === 'last-layer') return 'lastLayer';
  const strategy = (
    {
      'largest-variance': 'largestVariance',
      'largest-magnitude': 'largestMagnitude',
      random: 'random',
    } as const
  )[options.strategy];
  return { strategy, count: options.subnetworkSize, seed: options.seed, layers: options.subnetworkLayers };
}

/** Runs `laplace` with resolved options; exported for the demo. */
export async function runLaplace(options: LaplaceCommandOptions, io: CliIo): Promise<LaplaceCommandResult> {
  setGlobalSeed(options.seed);
  if (options.subset === 'subnetwork' && options.hessian !== 'full') {
    throw new BayescompError('bad-config', 'a subnetwork Laplace needs --hessian full');
  }
  const splits = await resolveDataset(options.data, { dataDir: options.dataDir, download: options.download });
  if (!splits.train) throw new BayescompError('bad-config', `${splits.name} has no training split to fit on`);
  let fitData = splits.train;
  let validation;
  if (options.optimizePrior === 'gridsearch') {
    const parts = trainValidationSplit(fitData, options.validationSplit, new Random(options.seed), {
      stratify: true,
    });
    fitData = parts.train;
    validation = parts.validation;
  }
  const { model, logits, origin } = await resolveModel(options.model, fitData, options.seed);
  const record = newRunRecord('laplace', { ...options, modelOrigin: origin }, options.seed);
  await writeRunRecord(options.out, record);
  try {
    io.err(
      `fitting a ${options.hessian} Laplace over ${options.subset} weights of ${origin} on ${fitData.n} examples\n`,
    );
    const start = performance.now();
    const posterior = fitLaplace(model, fitData, {
      hessian: options.hessian,
      curvature: options.curvature,
      subset: toSubset(options),
      priorPrecision: options.priorPrecision,
      batchSize: options.batchSize,
    });
    const predictOptions = {
      method: options.predictive,
      link: options.link,
      samples: options.samples,
      batchSize: 256,
    };
    if (options.optimizePrior !== 'none') {
      await posterior.optimizePriorPrecision({
        method: options.optimizePrior,
        perLayer: options.perLayer,
        validation,
        predict: predictOptions,
      });
    }
    const fitSeconds = (performance.now() - start) / 1000;
    await saveModel(model, join(options.out, RUN_FILES.model));
    await posterior.save(options.out);
    const test = splits.test;
    if (!test) throw new BayescompError('bad-config', `${splits.name} has no test split to evaluate on`);
    const oodData = options.ood
      ? await resolveDataset(options.ood, { dataDir: options.dataDir, download: options.download }).then(
          (d) => d.test ?? d.train,
        )
      : undefined;
    const map = await evaluatePredictive(deterministicPredictive(logits), test, { oodData });
    const laplace = await evaluatePredictive(laplacePredictive(posterior, predictOptions), test, { oodData });
    const result: LaplaceCommandResult = {
      out: options.out,
      backend: backendInfo()?.name ?? 'unknown',
      subset: options.subset,
      hessian: options.hessian,
      parameters: posterior.indices.length,
      priorPrecision: posterior.priorPrecision,
      logMarginalLikelihood: posterior.logMarginalLikelihood(),
      fitSeconds,
      map,
      laplace,
    };
    await writeJsonAtomic(join(options.out, RUN_FILES.metrics), result);
    await writeRunRecord(options.out, finishRunRecord(record));
    posterior.dispose();
    return result;
  } catch (err) {
    await writeRunRecord(options.out, finishRunRecord(record, err));
    throw err;
  }
}
