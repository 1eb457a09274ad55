import type { Command } from 'commander';
import type { EvaluationMetrics } from '../../eval/evaluate.js';
import { applyConfigFile, requireOptions } from '../config-file.js';
import { startBackend, withDataOptions, withOutputOptions } from '../common-options.js';
import { type CliIo, printJson, printTable } from '../io.js';
import { nonNegativeInt, positiveInt } from '../parse-options.js';
import { evaluateModel, loadEvaluationData } from '../run-predictive.js';
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
  const data = await loadEvaluationData(options.data, options.ood, {
    dataDir: options.dataDir,
    download: options.download,
  });
  const { metrics } = await evaluateModel(options.model, data, options);
  return metrics;
}
