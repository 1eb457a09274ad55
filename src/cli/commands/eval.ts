import type { Command } from 'commander';
import { Random, setGlobalSeed } from '../../runtime/random.js';
import { bayesianLayers, bayesianPredictive } from '../../variational/index.js';
import { deterministicPredictive, type Predictive } from '../../eval/predictive.js';
import type { Dataset } from '../../data/dataset.js';
import { isLaplaceDir, laplacePredictive, loadLaplaceDir } from '../laplace-source.js';
import { readRunRecord } from '../run-dir.js';
import { evaluatePredictive, type EvaluationMetrics } from '../../eval/evaluate.js';
import { BayescompError } from '../../util/errors.js';
import { applyConfigFile, requireOptions } from '../config-file.js';
import { startBackend, withDataOptions, withOutputOptions } from '../common-options.js';
import { type CliIo, printJson, printTable } from '../io.js';
import { nonNegativeInt, positiveInt } from '../parse-options.js';
import { resolveDataset, resolveModel } from '../resolve-inputs.js';
import { backendInfo } from '../../runtime/backend.js';

interface EvalCommandOptions {
  model: string;
  data: string;
  ood?: string;
  samples: number;
  bins: number;
  batchSize: number;
  seed: number;
  dataDir?: string;
  download: boolean;
  json?: boolean;
  config?: string;
}

/** `bayescomp eval`: test-set accuracy, NLL, calibration and (with `--ood`) OOD detection of a model or run. */
export function registerEval(program: Command, io: CliIo): void {
  const command = program
    .command('eval')
    .description('evaluate a model or run on a test set, optionally with out-of-distribution data')
    .option('--model <model>', 'path to model.json, or a run directory')
    .option('--data <data>', 'dataset name or directory of IDX files (its test split is used)')
    .option('--ood <data>', 'out-of-distribution dataset name or directory')
    .option('--samples <s>', 'Monte-Carlo samples for stochastic predictives', positiveInt, 30)
    .option('--bins <b>', 'confidence bins of the ECE', positiveInt, 15)
    .option('--batch-size <n>', 'examples per forward pass', positiveInt, 256)
    .option('--seed <s>', 'random seed for Monte-Carlo predictives', nonNegativeInt, 0);
  withDataOptions(command);
  withOutputOptions(command);
  command.action(async (raw: EvalCommandOptions) => {
    const options = await applyConfigFile(command, raw);
    requireOptions(options, ['model', 'data']);
    await startBackend(program);
    const metrics = await runEval(options);
    const result = { ...metrics, backend: backendInfo()?.name ?? 'unknown' };
    if (options.json) printJson(io, result);
    else {
      printTable(io, [
        ['method', result.method],
        ['examples', result.n],
        ['accuracy', `${(100 * result.accuracy).toFixed(2)}%`],
        ['NLL', result.nll.toFixed(4)],
        [`ECE (${result.bins} bins)`, `${(100 * result.ece).toFixed(2)}%`],
        ['Brier', result.brier.toFixed(4)],
        ...(result.ood
          ? ([
              ['OOD AUROC (max prob)', result.ood.auroc_maxprob.toFixed(4)],
              ['OOD AUROC (entropy)', result.ood.auroc_entropy.toFixed(4)],
              ...(result.ood.auroc_mi !== undefined
                ? [['OOD AUROC (MI)', result.ood.auroc_mi.toFixed(4)] as const]
                : []),
            ] as const)
          : []),
        ['backend', result.backend],
      ]);
    }
  });
}

/** Evaluates `--model` on `--data` (and `--ood`); exported for the demo. */
export async function runEval(options: EvalCommandOptions): Promise<EvaluationMetrics> {
  setGlobalSeed(options.seed);
  const data = await resolveDataset(options.data, { dataDir: options.dataDir, download: options.download });
  const test = data.test ?? data.train;
  if (!test) throw new BayescompError('bad-config', `${data.name} holds no examples`);
  let oodData;
  if (options.ood) {
    const ood = await resolveDataset(options.ood, { dataDir: options.dataDir, download: options.download });
    oodData = ood.test ?? ood.train;
  }
  const predictive = await predictiveFor(options.model, test, options);
  return evaluatePredictive(predictive, test, { oodData, bins: options.bins, batchSize: options.batchSize });
}

/**
 * The predictive of `--model`: a Laplace directory's linearised (or sampled) predictive with the options it was
 * fitted with; otherwise the deterministic network.
 */
async function predictiveFor(spec: string, data: Dataset, options: EvalCommandOptions): Promise<Predictive> {
  if (await isLaplaceDir(spec)) {
    const { posterior } = await loadLaplaceDir(spec);
    const fitted = (await readRunRecord(spec)).options as {
      predictive?: 'glm' | 'nn';
      link?: 'probit' | 'mc';
    };
    return laplacePredictive(posterior, {
      method: fitted.predictive,
      link: fitted.link,
      samples: options.samples,
      batchSize: options.batchSize,
    });
  }
  const { logits, source } = await resolveModel(spec, data, options.seed);
  if (source === 'run' && bayesianLayers(logits).length > 0) {
    return bayesianPredictive(logits, {
      samples: options.samples,
      random: new Random(options.seed),
      batchSize: options.batchSize,
    });
  }
  return deterministicPredictive(logits, { batchSize: options.batchSize });
}
