import type * as tf from '@tensorflow/tfjs';
import { type Command, Option } from 'commander';
import type { Dataset } from '../../data/dataset.js';
import { evaluatePredictive } from '../../eval/evaluate.js';
import { bayesianPredictive, type KlWeightSchedule, sparsityReport } from '../../variational/index.js';
import {
  inMode,
  isVariationalMethod,
  parseKlWeight,
  type TrainMethod,
  variationalTraining,
} from '../variational-method.js';
import { join } from 'node:path';
import { saveModel } from '../../models/file-io.js';
import { setGlobalSeed } from '../../runtime/random.js';
import { mapObjective } from '../../train/map-objective.js';
import type { OptimizerName } from '../../train/optimizers.js';
import type { LrScheduleSpec } from '../../train/lr-schedules.js';
import { deterministicValidationMetrics } from '../../train/validation-metrics.js';
import { Random } from '../../runtime/random.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { BayescompError } from '../../util/errors.js';
import { applyConfigFile, requireOptions } from '../config-file.js';
import { startBackend, withDataOptions, withOutputOptions } from '../common-options.js';
import { type CliIo, printJson } from '../io.js';
import { finiteNumber, fraction, nonNegativeInt, parseLrSchedule, positiveInt } from '../parse-options.js';
import { resolveModel } from '../resolve-inputs.js';
import { finishRunRecord, newRunRecord, RUN_FILES, writeRunRecord } from '../run-dir.js';
import { mcDropoutPredictive } from '../../eval/baselines.js';
import { objectiveSpecFor, trainingSeconds, trainNetwork } from '../network-training.js';
import { DEFAULT_ENSEMBLE_MEMBERS, runEnsembleTrain } from './train-ensemble.js';
import { loadTrainingData } from '../training-data.js';
import { checkWorkersSupported, DEFAULT_MC_DROPOUT_RATE, requireDropoutLayers } from './train-baselines.js';
import { listenForInterrupt } from '../interrupt.js';
import {
  interruptedError,
  prepareResume,
  type TrainSafetyOptions,
  withTrainSafetyOptions,
} from '../train-safety.js';

/** Options of `bayescomp train`, as parsed (and merged with `--config`). */
export interface TrainCommandOptions extends TrainSafetyOptions {
  model: string;
  data: string;
  method: string;
  out: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerName;
  lrSchedule: LrScheduleSpec;
  weightDecay: number;
  validationSplit: number;
  seed: number;
  resume?: boolean;
  progress: 'auto' | 'bar' | 'lines' | 'none';
  dataDir?: string;
  download: boolean;
  json?: boolean;
  config?: string;
  objective: 'elbo' | 'renyi';
  alpha: number;
  samples: number;
  klWeight: KlWeightSchedule;
  initLogSigma2: number;
  groupInitLogSigma2?: number;
  evalSamples: number;
  pruneThreshold?: number;
  /** Ensemble members (`--method ensemble`). Default 5. */
  members?: number;
  /** Dropout rate of a zoo model (`--method mc-dropout`). Default 0.5. */
  dropout?: number;
  /** Worker threads for data-parallel training. Default 1 (the main thread). */
  workers?: number;
}

/** `bayescomp train`: trains a zoo model or a user's model on a dataset, into a run directory. */
export function registerTrain(program: Command, io: CliIo): void {
  const command = program
    .command('train')
    .description('train a model (MAP or variational) and write a run directory')
    .option('--model <model>', 'zoo name (lenet300, lenet5, mlp, cnn), path to model.json, or run directory')
    .option('--data <data>', 'dataset name or directory of IDX files')
    .addOption(
      new Option('--method <method>', 'inference method')
        .choices(['map', 'gaussian', 'sparse-vd', 'group-nj', 'group-hs', 'vnq', 'ensemble', 'mc-dropout'])
        .default('map'),
    )
    .option('--out <dir>', 'run directory to write')
    .option('--epochs <n>', 'training epochs', positiveInt, 10)
    .option('--batch-size <n>', 'minibatch size', positiveInt, 100)
    .option('--lr <rate>', 'learning rate', finiteNumber, 1e-3)
    .addOption(
      new Option('--optimizer <name>', 'optimiser')
        .choices(['adam', 'sgd', 'momentum', 'rmsprop'])
        .default('adam'),
    )
    .option(
      '--lr-schedule <schedule>',
      'constant | multistep:M,..:GAMMA | linear[:HOLD[:FINAL]] | cosine[:FINAL]',
      parseLrSchedule,
      {
        type: 'constant',
      },
    )
    .option(
      '--weight-decay <lambda>',
      'L2 weight decay on kernels (coupled, like PyTorch weight_decay)',
      finiteNumber,
      0,
    )
    .option('--validation-split <f>', 'fraction of the training set held out for validation', fraction, 0)
    .option('--seed <s>', 'random seed', nonNegativeInt, 0)
    .option('--resume', 'continue from the run directory’s last checkpoint')
    .addOption(
      new Option('--progress <mode>', 'progress display')
        .choices(['auto', 'bar', 'lines', 'none'])
        .default('auto'),
    )
    .addOption(
      new Option('--objective <name>', 'variational objective').choices(['elbo', 'renyi']).default('elbo'),
    )
    .option('--alpha <a>', 'Rényi α (1 = ELBO, 0 = IWAE)', finiteNumber, 0.5)
    .option('--samples <k>', 'Monte-Carlo samples per training step', positiveInt, 1)
    .option(
      '--kl-weight <schedule>',
      'constant[:B] | warmup:START:END | additive[:INIT[:STEP]] | plateau[:INIT[:FACTOR[:PATIENCE]]]',
      parseKlWeight,
      parseKlWeight('constant'),
    )
    .option(
      '--init-log-sigma2 <v>',
      'initial log σ² of the posterior (variational methods)',
      finiteNumber,
      -10,
    )
    .option(
      '--group-init-log-sigma2 <v>',
      'initial log σ² of the group scales (group-nj, group-hs; default −9): nearer the pruning threshold, groups the data do not need are pruned in fewer epochs',
      finiteNumber,
    )
    .option(
      '--eval-samples <s>',
      'Monte-Carlo samples of the test-set predictive (variational methods, MC dropout)',
      positiveInt,
      10,
    )
    .option('--members <m>', 'ensemble members (--method ensemble)', positiveInt, DEFAULT_ENSEMBLE_MEMBERS)
    .option(
      '--dropout <p>',
      `dropout rate of a zoo model for --method mc-dropout (default ${DEFAULT_MC_DROPOUT_RATE}; a model.json keeps its own Dropout layers)`,
      fraction,
    )
    .option(
      '--workers <n>',
      'worker threads for data-parallel training (map, variational, ensemble, mc-dropout; no --resume)',
      positiveInt,
      1,
    );
  withTrainSafetyOptions(command);
  withDataOptions(command);
  withOutputOptions(command);
  command.action(async (raw: TrainCommandOptions) => {
    const options = await applyConfigFile(command, raw);
    requireOptions(options, ['model', 'data', 'out']);
    await startBackend(program);
    const result = await runTrain(options, io);
    if (options.json) printJson(io, result);
    else {
      io.out(
        `test accuracy ${(100 * result.test.accuracy).toFixed(2)}%  NLL ${result.test.nll.toFixed(4)}\n`,
      );
      io.out(`run directory ${options.out} (${result.backend}, ${result.seconds.toFixed(1)} s)\n`);
    }
  });
}

/** The result `bayescomp train --json` prints. */
export interface TrainCommandResult {
  readonly out: string;
  readonly method: string;
  readonly backend: string;
  readonly epochs: number;
  readonly seconds: number;
  readonly secondsPerEpoch: number;
  readonly test: Readonly<Record<string, number>> & { readonly accuracy: number; readonly nll: number };
}

/** Runs `train` with resolved options; exported for the demo and tests. */
export async function runTrain(options: TrainCommandOptions, io: CliIo): Promise<TrainCommandResult> {
  // A config file gives the KL-weight schedule as text.
  if (typeof options.klWeight === 'string')
    options = { ...options, klWeight: parseKlWeight(options.klWeight) };
  checkWorkersSupported(options);
  if (options.method === 'ensemble') return runEnsembleTrain(options, io);
  setGlobalSeed(options.seed);
  const { splits, train: trainData, validation, test: testSet } = await loadTrainingData(options);
  const method = options.method as TrainMethod;
  const { model, logits, source, origin } = await resolveModel(options.model, trainData, options.seed, {
    dropout: method === 'mc-dropout' ? (options.dropout ?? DEFAULT_MC_DROPOUT_RATE) : undefined,
  });
  if (method === 'mc-dropout') requireDropoutLayers(model, origin, io);
  const variational = !isVariationalMethod(method)
    ? undefined
    : variationalTraining(logits, {
        method,
        objective: options.objective,
        alpha: options.alpha,
        samples: options.samples,
        klWeight: options.klWeight,
        initLogSigma2: options.initLogSigma2,
        groupInitLogSigma2: options.groupInitLogSigma2,
        pruneThreshold: options.pruneThreshold,
      });
  const trained = variational?.model ?? logits;
  const record = newRunRecord(
    'train',
    { ...options, klWeight: options.klWeight.name, modelSource: source, modelOrigin: origin },
    options.seed,
  );
  if (options.resume) await prepareResume(options.out, io);
  await writeRunRecord(options.out, record);
  io.err(
    `training ${origin} on ${splits.name} (${trainData.n} examples) with ${options.method}, backend ${record.backend}\n`,
  );
  try {
    const interrupt = listenForInterrupt(io);
    const result = await trainNetwork(
      {
        model: trained,
        objective: variational?.objective ?? mapObjective({ weightDecay: options.weightDecay }),
        validate: variational?.validate,
        data: trainData,
        validation,
        epochs: options.epochs,
        batchSize: options.batchSize,
        optimizer: { name: options.optimizer, learningRate: options.lr },
        lrSchedule: options.lrSchedule,
        seed: options.seed,
        runDir: options.out,
        resume: options.resume,
        progress: options.progress,
        signal: interrupt.signal,
        onNonFinite: options.onNan ?? 'stop',
        checkpointEverySteps: options.checkpointEverySteps,
      },
      { workers: options.workers ?? 1, objective: objectiveSpecFor(options) },
    ).finally(() => interrupt.dispose());
    if (result.interrupted) throw await interruptedError(options.out, interrupt.received() ?? 'a signal');
    // A user's model is saved as they had it (softmax folded in); a Bayesian one as its Bayesian layers.
    await saveModel(variational ? trained : model, join(options.out, RUN_FILES.model));
    const test = testSet ? await testMetrics(trained, testSet, options) : { accuracy: NaN, nll: NaN };
    const trainSeconds = trainingSeconds(result);
    await writeJsonAtomic(join(options.out, RUN_FILES.metrics), {
      test,
      backend: record.backend,
      train_seconds: trainSeconds,
    });
    const finished = { ...finishRunRecord(record), trainSeconds };
    await writeRunRecord(options.out, finished);
    const epochsRun = result.history.length;
    return {
      out: options.out,
      method: options.method,
      backend: record.backend,
      epochs: result.epochsCompleted,
      seconds: result.seconds,
      secondsPerEpoch: epochsRun ? result.history.reduce((s, h) => s + h.seconds, 0) / epochsRun : 0,
      test,
    };
  } catch (err) {
    const interrupted = err instanceof BayescompError && err.code === 'interrupted';
    await writeRunRecord(options.out, finishRunRecord(record, err, interrupted ? 'interrupted' : 'failed'));
    throw err;
  }
}

/** Test-set figures: the network's accuracy and NLL; for variational methods the Monte-Carlo predictive's as well. */
async function testMetrics(
  model: tf.LayersModel,
  test: Dataset,
  options: TrainCommandOptions,
): Promise<TrainCommandResult['test']> {
  if (options.method === 'map')
    return (await deterministicValidationMetrics(model, test)) as TrainCommandResult['test'];
  if (options.method === 'mc-dropout') return mcDropoutTestMetrics(model, test, options);
  const validate = (await inMode(model, 'mean', () => deterministicValidationMetrics(model, test))) as Record<
    string,
    number
  >;
  const pruned = await inMode(model, 'pruned-mean', () => deterministicValidationMetrics(model, test));
  const mc = await evaluatePredictive(
    bayesianPredictive(model, { samples: options.evalSamples, random: new Random(options.seed) }),
    test,
  );
  const sparsity = sparsityReport(model);
  return {
    accuracy: mc.accuracy,
    nll: mc.nll,
    ece: mc.ece,
    mean_accuracy: validate.accuracy,
    mean_nll: validate.nll,
    pruned_accuracy: pruned.accuracy,
    pruned_nll: pruned.nll,
    sparsity: sparsity.fraction,
    compression: sparsity.compression,
  };
}

/** MC dropout's test figures: the Monte-Carlo predictive's, with the deterministic (dropout off) network's beside. */
async function mcDropoutTestMetrics(
  model: tf.LayersModel,
  test: Dataset,
  options: TrainCommandOptions,
): Promise<TrainCommandResult['test']> {
  const deterministic = await deterministicValidationMetrics(model, test);
  const mc = await evaluatePredictive(
    mcDropoutPredictive(model, { samples: options.evalSamples, seed: options.seed }),
    test,
  );
  return {
    accuracy: mc.accuracy,
    nll: mc.nll,
    ece: mc.ece,
    brier: mc.brier,
    mean_entropy: mc.mean_entropy,
    ...(mc.mean_mi !== undefined ? { mean_mi: mc.mean_mi } : {}),
    deterministic_accuracy: deterministic.accuracy,
    deterministic_nll: deterministic.nll,
  };
}
