import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { batchCount, makeBatch, sliceBatch } from '../data/batches.js';
import type { Dataset } from '../data/dataset.js';
import { backendInfo, describeBackend } from '../runtime/backend.js';
import { deriveRunSeed, RUN_STREAM } from '../runtime/parallel/seeds.js';
import { Random } from '../runtime/random.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { BayescompError, requireConfig } from '../util/errors.js';
import {
  CHECKPOINT_FILE,
  type PartialEpoch,
  type TrainingCheckpoint,
  readCheckpoint,
  readModelWeights,
  readVariableValues,
  restoreModelWeights,
  restoreVariables,
  writeCheckpoint,
} from './checkpoint.js';
import {
  type LrScheduleFunction,
  type LrScheduleSpec,
  learningRateAt,
  validateLrSchedule,
} from './lr-schedules.js';
import { kernelVariables, mapObjective } from './map-objective.js';
import {
  type OptimizerSpec,
  applyDecoupledWeightDecay,
  createOptimizer,
  getOptimizerState,
  setOptimizerLearningRate,
  setOptimizerState,
} from './optimizers.js';
import { type ProgressMode, createProgressReporter } from './progress-reporter.js';
import { type LossDivergence, StepLossMonitor } from './step-loss-monitor.js';
import type { Batch, EpochLog, Objective, StepContext, TrainCallbacks } from './types.js';
import { epochValidation } from './epoch-validation.js';

/** The file a run directory's per-epoch metrics are written to. */
export const HISTORY_FILE = 'history.json';

/** Handed to a custom {@link TrainOptions.validate} function. */
export interface ValidationContext {
  /** Zero-based epoch just finished. */
  readonly epoch: number;
  /** The validation set, when one was given. */
  readonly data?: Dataset;
  /** A generator for Monte-Carlo draws, derived from the seed and epoch (so validating never shifts training noise). */
  readonly random: Random;
}

/** Options for {@link train}. */
export interface TrainOptions {
  /** The network; its outputs are logits (classification) or predictions (regression). Trained in place. */
  readonly model: tf.LayersModel;
  /** What to minimise. Default: {@link mapObjective} (softmax cross-entropy, no weight decay). */
  readonly objective?: Objective;
  /** Training set. */
  readonly data: Dataset;
  /** Validation set, evaluated after each epoch (see `validate`, `validateEvery`). */
  readonly validation?: Dataset;
  readonly epochs: number;
  readonly batchSize: number;
  /** Default: Adam with learning rate 1e-3. */
  readonly optimizer?: OptimizerSpec;
  /** Learning-rate schedule applied to `optimizer.learningRate`. Default constant. */
  readonly lrSchedule?: LrScheduleSpec | LrScheduleFunction;
  /** Seeds the batch order (a generator derived per epoch) and the objective's noise. Default 0. */
  readonly seed?: number;
  readonly callbacks?: TrainCallbacks;
  /**
   * Custom validation returning named metrics (e.g. a Monte-Carlo predictive's accuracy and NLL). Default: accuracy
   * and NLL (or MSE/RMSE for regression) of the deterministic model on `validation`, in batches.
   */
  readonly validate?: (
    model: tf.LayersModel,
    context: ValidationContext,
  ) => Record<string, number> | Promise<Record<string, number>>;
  /** Validate every this many epochs (and always after the last). Default 1. */
  readonly validateEvery?: number;
  /** Batch size of the default validation. Default 1000. */
  readonly validationBatchSize?: number;
  /** Directory for `history.json` and the checkpoint. Without it nothing is written. */
  readonly runDir?: string;
  /** Write a checkpoint every this many epochs (and after the last); 0 disables them. Default 1. */
  readonly checkpointEvery?: number;
  /** Also write a checkpoint every this many steps within epochs. Default: never. */
  readonly checkpointEverySteps?: number;
  /** Continue from the checkpoint in `runDir` when there is one (a fresh run when there is none). */
  readonly resume?: boolean;
  /** Progress display on stderr. Default `auto` (a bar on a terminal, one line per epoch otherwise). */
  readonly progress?: ProgressMode;
  /** Where progress goes. Default `process.stderr`. */
  readonly progressStream?: NodeJS.WritableStream;
  /**
   * Read the collected step losses from the device, and check them for NaN/Inf, every this many steps (and at each
   * epoch end and before every checkpoint). 1 checks every step; larger values avoid per-step device syncs, at the
   * cost of up to that many wasted steps after a divergence. Default 50.
   */
  readonly divergenceCheckEvery?: number;
  /** Shuffle the training set each epoch. Default true. */
  readonly shuffle?: boolean;
  /** Skip the last, smaller batch of each epoch. Default false (as PyTorch's `DataLoader`). */
  readonly dropLast?: boolean;
  /**
   * Ends the run cleanly when aborted (the CLI aborts it on SIGINT/SIGTERM): the current step finishes, a checkpoint
   * is written to `runDir` (mid-epoch when needed) and `train` resolves with `interrupted: true`, so that `resume`
   * continues exactly where it stopped.
   */
  readonly signal?: AbortSignal;
  /**
   * What a NaN/Inf loss (or weights that became NaN/Inf) does: `stop` (default) ends the run with a `diverged` error;
   * `rollback` restores the last good state — the last checkpoint, or the in-memory snapshot taken at the same moments
   * when there is no `runDir` (run start, epoch ends, `checkpointEverySteps`) — multiplies the learning rate by
   * `rollback.lrFactor` and continues, up to `rollback.maxRetries` times before stopping with a `diverged` error.
   */
  readonly onNonFinite?: 'stop' | 'rollback';
  /** Settings of `onNonFinite: 'rollback'`. */
  readonly rollback?: RollbackOptions;
}

/** How {@link TrainOptions.onNonFinite} `rollback` lowers the learning rate and how often it may. */
export interface RollbackOptions {
  /** Factor in (0, 1) the learning rate is multiplied by at each rollback. Default 0.5. */
  readonly lrFactor?: number;
  /** Rollbacks allowed in one call before the run stops with a `diverged` error. Default 3. */
  readonly maxRetries?: number;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** Every epoch's log, including those of earlier runs continued with `resume`. */
  readonly history: EpochLog[];
  /** Epochs completed in total. */
  readonly epochsCompleted: number;
  /** Optimiser steps taken in total. */
  readonly steps: number;
  /** True when a callback asked to stop before the last epoch. */
  readonly stoppedEarly: boolean;
  /** Wall-clock seconds of this call. */
  readonly seconds: number;
  /** Where a resumed run continued from (epochs and steps completed before). */
  readonly resumedFrom?: { readonly epoch: number; readonly step: number };
  /** True when {@link TrainOptions.signal} stopped the run (a checkpoint to resume from is in `runDir`). */
  readonly interrupted?: boolean;
  /** Rollbacks after a non-finite loss (`onNonFinite: 'rollback'`) in this call. */
  readonly rollbacks?: number;
  /** Factor on the scheduled learning rate after rollbacks (1 without; kept in checkpoints, so resume keeps it). */
  readonly learningRateScale?: number;
}

/**
 * Trains `model` by minibatch gradient descent on `objective`, the one loop every method of the library uses (MAP
 * training, variational inference). Each step: build the batch, compute the objective and its gradients with respect
 * to the model's trainable weights and the objective's extra variables, apply decoupled weight decay if configured,
 * and take an optimiser step. Per-step losses stay on the device and are read in bulk (see `divergenceCheckEvery`);
 * a NaN/Inf loss ends the run with a `diverged` error, leaving the last checkpoint (always written from finite
 * weights) in place. With `runDir`, `history.json` and a checkpoint are written atomically after each epoch, and
 * `resume` continues a run so that it ends with the same weights as if it had never stopped.
 *
 * The optimiser is created from `optimizer` and disposed when the call returns; to continue training later with its
 * state, use `runDir` and `resume`. Reproducibility covers the batch order and noise drawn through
 * `StepContext.random`; layers that draw their own unseeded noise (TF.js `dropout`) are not reproducible.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const startTime = performance.now();
  validateTrainOptions(options);
  const { model, data, epochs, batchSize, runDir } = options;
  const objective = options.objective ?? mapObjective();
  const optimizerSpec = options.optimizer ?? { name: 'adam', learningRate: 1e-3 };
  let seed = options.seed ?? 0;
  const random = new Random(deriveRunSeed(seed, RUN_STREAM.objective, 0));
  const extraVariables = objective.extraVariables?.() ?? [];
  const variables = [...model.trainableWeights.map((w) => w.read() as tf.Variable), ...extraVariables].filter(
    (v) => v.trainable,
  );
  requireConfig(variables.length > 0, 'the model has no trainable weights');
  const decoupledDecay = optimizerSpec.decoupledWeightDecay ?? 0;
  const decayedVariables = decoupledDecay > 0 ? kernelVariables(model) : [];
  const stepsPerEpoch = batchCount(data.n, batchSize, options.dropLast);
  requireConfig(
    stepsPerEpoch > 0,
    `the training set (${data.n} examples) holds no full batch of ${batchSize}`,
  );
  const checkEvery = options.divergenceCheckEvery ?? 50;
  const checkpointEvery = options.checkpointEvery ?? 1;

  let optimizer = createOptimizer(optimizerSpec);
  let resumed: TrainingCheckpoint | undefined;
  try {
    if (options.resume && runDir) {
      resumed = await resumeFromCheckpoint(runDir, options, objective, optimizer, random, extraVariables);
    }
  } catch (err) {
    optimizer.dispose();
    throw err;
  }
  if (resumed) seed = resumed.seed;
  const history: EpochLog[] = [...(resumed?.history ?? [])];
  // Where the epoch loop (re)starts: the resumed checkpoint, then after a rollback the restored state.
  let startEpoch = resumed?.epoch ?? 0;
  let startStep = resumed?.step ?? 0;
  let globalStep = resumed?.globalStep ?? 0;
  let partial = resumed?.partialEpoch;
  const resumedFrom = resumed ? { epoch: resumed.epoch, step: resumed.step } : undefined;
  const rollbackEnabled = options.onNonFinite === 'rollback';
  const lrFactor = options.rollback?.lrFactor ?? 0.5;
  const maxRetries = options.rollback?.maxRetries ?? 3;
  let lrScale = resumed?.learningRateScale ?? 1;
  let rollbacks = 0;

  const reporter = createProgressReporter(options.progress ?? 'auto', options.progressStream);
  const callbacks = options.callbacks ?? {};
  let monitor: StepLossMonitor | undefined;
  let termNames: string[] | undefined = partial ? Object.keys(partial.termSums) : undefined;
  let lastCheckpoint: { epoch: number; step: number } | undefined = resumedFrom;
  let stoppedEarly = false;
  let interrupted = false;
  let epochsCompleted = Math.min(startEpoch, epochs);
  /** The last state known to be finite, kept in memory for `rollback` (what the last checkpoint holds). */
  let lastGood: TrainingCheckpoint | undefined;

  const checkLosses = async (): Promise<void> => {
    const divergence = await monitor?.flush();
    if (divergence) throw divergedError(divergence, epochs, stepsPerEpoch, runDir, lastCheckpoint);
  };

  const snapshot = async (
    epoch: number,
    step: number,
    partialEpoch?: PartialEpoch,
  ): Promise<TrainingCheckpoint> => ({
    epoch,
    step,
    globalStep,
    seed,
    random: random.getState(),
    objective: { name: objective.name, state: objective.getState?.() },
    optimizer: await getOptimizerState(optimizer),
    modelWeights: await readModelWeights(model),
    extraVariables: await readVariableValues(extraVariables.map((v) => ({ name: v.name, tensor: v }))),
    history: [...history],
    partialEpoch,
    run: { batchSize, datasetSize: data.n },
    learningRateScale: lrScale,
  });

  const saveCheckpoint = async (epoch: number, step: number, partialEpoch?: PartialEpoch): Promise<void> => {
    if (!runDir && !rollbackEnabled) return;
    await checkLosses();
    if (!(await allFinite([...model.weights.map((w) => w.read()), ...extraVariables]))) {
      throw new BayescompError(
        'diverged',
        `training diverged: weights became NaN or Inf by ${step > 0 ? `step ${step} of epoch ${epoch + 1}` : `the end of epoch ${epoch}`}` +
          checkpointNote(runDir, lastCheckpoint),
      );
    }
    const state = await snapshot(epoch, step, partialEpoch);
    if (rollbackEnabled) lastGood = state;
    if (!runDir) return;
    await writeCheckpoint(runDir, state);
    lastCheckpoint = { epoch, step };
  };

  /** Puts the model, optimiser, generator, objective and loop position back to `lastGood`. */
  const rollBack = async (): Promise<void> => {
    const good = lastGood!;
    restoreModelWeights(model, good.modelWeights);
    restoreVariables(extraVariables, good.extraVariables);
    // A fresh optimiser: setting the state of a used one would leave its old slot variables behind.
    optimizer.dispose();
    optimizer = createOptimizer(optimizerSpec);
    await setOptimizerState(optimizer, good.optimizer);
    random.setState(good.random);
    objective.setState?.(good.objective.state ?? {});
    history.splice(0, history.length, ...good.history);
    startEpoch = good.epoch;
    startStep = good.step;
    partial = good.partialEpoch;
    globalStep = good.globalStep;
    epochsCompleted = Math.min(startEpoch, epochs);
    stoppedEarly = false;
    monitor?.dispose();
    monitor?.resetSums();
    lrScale *= lrFactor;
    rollbacks++;
  };

  const runEpochs = async (): Promise<void> => {
    epochLoop: for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const resumingMidEpoch = epoch === startEpoch && startStep > 0;
      const epochStart = performance.now() - (resumingMidEpoch && partial ? partial.seconds * 1000 : 0);
      if (!resumingMidEpoch) {
        objective.onEpochStart?.(epoch, model);
        if ((await callbacks.onEpochStart?.(epoch)) === 'stop') {
          stoppedEarly = true;
          break;
        }
      }
      monitor?.resetSums(resumingMidEpoch ? partial : undefined);
      const order =
        options.shuffle === false
          ? undefined
          : new Random(deriveRunSeed(seed, RUN_STREAM.shuffle, epoch)).permutation(data.n);
      let firstLearningRate = resumingMidEpoch ? partial?.learningRate : undefined;
      const firstStep = resumingMidEpoch ? startStep : 0;
      reporter.epochStart(epoch, epochs, stepsPerEpoch, firstStep);

      for (let step = firstStep; step < stepsPerEpoch; step++) {
        const learningRate =
          lrScale *
          learningRateAt(options.lrSchedule, optimizerSpec.learningRate, {
            epoch,
            step,
            stepsPerEpoch,
            epochs,
          });
        firstLearningRate ??= learningRate;
        setOptimizerLearningRate(optimizer, learningRate);
        const start = step * batchSize;
        const end = Math.min(start + batchSize, data.n);
        const batch = order ? makeBatch(data, order.subarray(start, end)) : sliceBatch(data, start, end);
        const context: StepContext = { epoch, step, stepsPerEpoch, datasetSize: data.n, random };
        const stepValues = optimizerStep(
          objective,
          model,
          batch,
          context,
          variables,
          optimizer,
          () => {
            applyDecoupledWeightDecay(decayedVariables, learningRate, decoupledDecay);
          },
          termNames,
        );
        termNames = stepValues.termNames;
        if (!monitor) {
          monitor = new StepLossMonitor(termNames ?? []);
          if (resumingMidEpoch) monitor.resetSums(partial);
        }
        monitor.push(stepValues.values, epoch, step);
        globalStep++;
        if (monitor.pendingCount >= checkEvery) await checkLosses();
        reporter.step(step, monitor.steps > 0 ? monitor.lossSum / monitor.steps : undefined);

        let stop = false;
        if (callbacks.onBatchEnd) {
          const m = monitor;
          const result = await callbacks.onBatchEnd({
            epoch,
            step,
            stepsPerEpoch,
            globalStep: globalStep - 1,
            learningRate,
            readLoss: () => m.readLatestLoss(),
          });
          stop = result === 'stop';
        }
        if (options.signal?.aborted) {
          stop = true;
          interrupted = true;
        }
        const midEpoch = step + 1 < stepsPerEpoch;
        const stepCheckpointDue =
          options.checkpointEverySteps !== undefined && globalStep % options.checkpointEverySteps === 0;
        if (midEpoch && (stepCheckpointDue || stop)) {
          await checkLosses();
          await saveCheckpoint(epoch, step + 1, {
            steps: monitor.steps,
            lossSum: monitor.lossSum,
            termSums: { ...monitor.termSums },
            learningRate: firstLearningRate,
            seconds: (performance.now() - epochStart) / 1000,
          });
        }
        if (stop && midEpoch) {
          stoppedEarly = true;
          break epochLoop;
        }
        if (stop) stoppedEarly = true;
      }

      await checkLosses();
      const log = await finishEpoch(epoch, firstLearningRate ?? 0, epochStart);
      history.push(log);
      epochsCompleted = epoch + 1;
      const last = epoch + 1 === epochs || stoppedEarly;
      if (checkpointEvery > 0 && ((epoch + 1) % checkpointEvery === 0 || last))
        await saveCheckpoint(epoch + 1, 0);
      else if (rollbackEnabled && !runDir) await saveCheckpoint(epoch + 1, 0);
      if (runDir) await writeHistory(runDir, options, objective, optimizerSpec, seed, history);
      reporter.epochEnd(log, epochs);
      if ((await callbacks.onEpochEnd?.(log)) === 'stop') stoppedEarly = true;
      if (stoppedEarly) break;
    }
  };

  try {
    if (rollbackEnabled) {
      // The state to return to when the first epochs already diverge.
      lastGood = await snapshot(startEpoch, startStep, partial);
    }
    for (;;) {
      try {
        await runEpochs();
        break;
      } catch (err) {
        if (!(err instanceof BayescompError && err.code === 'diverged' && rollbackEnabled && lastGood))
          throw err;
        if (rollbacks >= maxRetries) {
          throw new BayescompError(
            'diverged',
            `${err.message} (after ${rollbacks} rollback${rollbacks === 1 ? '' : 's'} that lowered the learning rate ` +
              `to ${lrScale}× the configured one)`,
          );
        }
        await rollBack();
        const where =
          startStep > 0
            ? `epoch ${startEpoch + 1}, step ${startStep}`
            : startEpoch > 0
              ? `the end of epoch ${startEpoch}`
              : 'the start of the run';
        (options.progressStream ?? process.stderr).write(
          `${err.message.split(';')[0]}; rolled back to ${where} with the learning rate ×${lrScale} ` +
            `(rollback ${rollbacks} of at most ${maxRetries})\n`,
        );
      }
    }
  } finally {
    monitor?.dispose();
    reporter.close();
    optimizer.dispose();
  }

  return {
    history,
    epochsCompleted,
    steps: globalStep,
    stoppedEarly,
    seconds: (performance.now() - startTime) / 1000,
    resumedFrom,
    interrupted,
    rollbacks,
    learningRateScale: lrScale,
  };

  async function finishEpoch(epoch: number, learningRate: number, epochStart: number): Promise<EpochLog> {
    const steps = monitor?.steps ?? 0;
    const loss = steps > 0 ? monitor!.lossSum / steps : NaN;
    const terms = Object.fromEntries(Object.entries(monitor?.termSums ?? {}).map(([k, v]) => [k, v / steps]));
    const validation = await epochValidation(options, model, epoch, epochs, seed);
    const metrics = objective.epochMetrics?.(model);
    const flat: Record<string, number> = { loss, ...terms, learningRate, ...metrics };
    for (const [k, v] of Object.entries(validation ?? {})) flat[`val_${k}`] = v;
    objective.onEpochEnd?.(epoch, model, flat);
    return {
      epoch,
      steps,
      loss,
      terms,
      learningRate,
      ...(validation ? { validation } : {}),
      ...(metrics ? { metrics } : {}),
      seconds: (performance.now() - epochStart) / 1000,
    };
  }
}

/**
 * Loads the checkpoint in `runDir` (if any) into the model, the objective's extra variables and state, the optimiser
 * and the run's generator, after checking it belongs to a compatible run. Returns it, or undefined when there is none.
 */
async function resumeFromCheckpoint(
  runDir: string,
  options: TrainOptions,
  objective: Objective,
  optimizer: tf.Optimizer,
  random: Random,
  extraVariables: readonly tf.Variable[],
): Promise<TrainingCheckpoint | undefined> {
  const saved = await readCheckpoint(runDir);
  if (!saved) return undefined;
  const file = join(runDir, CHECKPOINT_FILE);
  const mismatch = (message: string) => new BayescompError('bad-config', message, { file });
  if (options.seed !== undefined && options.seed !== saved.seed) {
    throw mismatch(
      `the checkpoint was trained with seed ${saved.seed}, not ${options.seed}; resume with the same seed`,
    );
  }
  if (saved.objective.name !== objective.name) {
    throw mismatch(
      `the checkpoint was trained with objective '${saved.objective.name}', not '${objective.name}'`,
    );
  }
  const { batchSize, data } = options;
  if (saved.run && (saved.run.batchSize !== batchSize || saved.run.datasetSize !== data.n)) {
    throw mismatch(
      `the checkpoint was trained with batch size ${saved.run.batchSize} on ${saved.run.datasetSize} examples, ` +
        `not ${batchSize} on ${data.n}; resume with the same data and batch size`,
    );
  }
  restoreModelWeights(options.model, saved.modelWeights, file);
  restoreVariables(extraVariables, saved.extraVariables, file);
  await setOptimizerState(optimizer, saved.optimizer, file);
  random.setState(saved.random);
  objective.setState?.(saved.objective.state ?? {});
  return saved;
}

/**
 * One optimiser step on one batch: the objective and its gradients (one tape), `beforeUpdate` (decoupled weight
 * decay), then the optimiser update. Disposes the batch and gradients; returns the step's `[loss, ...terms]` as a kept
 * tensor the caller owns, with the term names (fixed by the first step of the run, absent terms read as NaN).
 */
function optimizerStep(
  objective: Objective,
  model: tf.LayersModel,
  batch: Batch,
  context: StepContext,
  variables: readonly tf.Variable[],
  optimizer: tf.Optimizer,
  beforeUpdate: () => void,
  knownTermNames: string[] | undefined,
): { values: tf.Tensor1D; termNames: string[] } {
  let termNames = knownTermNames;
  let values: tf.Tensor1D | undefined;
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    result = tf.variableGrads(() => {
      const out = objective.loss(model, batch, context);
      const names = (termNames ??= Object.keys(out.terms ?? {}));
      values = tf.keep(
        tf.tidy(() =>
          tf.stack(
            [out.loss, ...names.map((k) => out.terms?.[k] ?? tf.scalar(NaN))].map((t) => tf.reshape(t, [])),
          ),
        ) as tf.Tensor1D,
      );
      return out.loss;
    }, [...variables]);
  } finally {
    tf.dispose([batch.x, batch.y]);
  }
  const { value, grads } = result;
  beforeUpdate();
  optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] })));
  tf.dispose([value, ...Object.values(grads)]);
  return { values: values!, termNames: termNames ?? [] };
}

function validateTrainOptions(options: TrainOptions): void {
  const { epochs, batchSize } = options;
  requireConfig(Number.isInteger(epochs) && epochs >= 0, `epochs must be an integer ≥ 0, got ${epochs}`);
  requireConfig(
    Number.isInteger(batchSize) && batchSize >= 1,
    `batch size must be an integer ≥ 1, got ${batchSize}`,
  );
  requireConfig(options.data.n > 0, 'the training set is empty');
  const positiveInt = (v: number | undefined, what: string, min = 1) => {
    if (v !== undefined)
      requireConfig(Number.isInteger(v) && v >= min, `${what} must be an integer ≥ ${min}, got ${v}`);
  };
  positiveInt(options.checkpointEvery, 'checkpointEvery', 0);
  positiveInt(options.checkpointEverySteps, 'checkpointEverySteps');
  positiveInt(options.validateEvery, 'validateEvery');
  positiveInt(options.validationBatchSize, 'validationBatchSize');
  positiveInt(options.divergenceCheckEvery, 'divergenceCheckEvery');
  requireConfig(!options.resume || options.runDir !== undefined, 'resume needs a run directory');
  validateLrSchedule(options.lrSchedule);
}

/** Whether every value of the tensors is finite (`x · 0` is 0 for finite x and NaN otherwise; one read). */
async function allFinite(tensors: readonly tf.Tensor[]): Promise<boolean> {
  if (tensors.length === 0) return true;
  const probe = tf.tidy(() => tf.addN(tensors.map((t) => tf.sum(tf.mul(t, 0)))));
  const [v] = await probe.data();
  probe.dispose();
  return Number.isFinite(v);
}

function checkpointNote(
  runDir: string | undefined,
  last: { epoch: number; step: number } | undefined,
): string {
  if (!runDir) return '';
  if (!last) return `; no checkpoint was written in ${runDir}`;
  const where =
    last.step > 0 ? `epoch ${last.epoch + 1}, step ${last.step}` : `the end of epoch ${last.epoch}`;
  return `; the last good checkpoint in ${runDir} is from ${where}`;
}

function divergedError(
  d: LossDivergence,
  epochs: number,
  stepsPerEpoch: number,
  runDir: string | undefined,
  last: { epoch: number; step: number } | undefined,
): BayescompError {
  const at = (e: number, s: number) => `epoch ${e + 1}/${epochs}, step ${s + 1}/${stepsPerEpoch}`;
  const previous = d.lastFinite
    ? `last finite loss ${d.lastFinite.loss} at ${at(d.lastFinite.epoch, d.lastFinite.step)}`
    : 'no finite loss before it';
  return new BayescompError(
    'diverged',
    `training diverged: the loss is ${d.value} at ${at(d.epoch, d.step)} (${previous})${checkpointNote(runDir, last)}; ` +
      'try a lower learning rate',
  );
}

async function writeHistory(
  runDir: string,
  options: TrainOptions,
  objective: Objective,
  optimizer: OptimizerSpec,
  seed: number,
  history: readonly EpochLog[],
): Promise<void> {
  const backend = backendInfo();
  await writeJsonAtomic(join(runDir, HISTORY_FILE), {
    format: 'bayescomp-history',
    version: 1,
    objective: objective.name,
    optimizer,
    lrSchedule:
      typeof options.lrSchedule === 'function' ? 'custom' : (options.lrSchedule ?? { type: 'constant' }),
    epochs: options.epochs,
    batchSize: options.batchSize,
    seed,
    backend: backend ? describeBackend(backend) : tf.getBackend(),
    history,
  });
}
