import { join } from 'node:path';
import { evaluatePredictive } from '../../eval/evaluate.js';
import { ensemblePredictive } from '../../eval/predictive.js';
import { isZooModelName } from '../../models/zoo.js';
import { setGlobalSeed } from '../../runtime/random.js';
import { mapObjective } from '../../train/map-objective.js';
import type { TrainCallbacks } from '../../train/types.js';
import { writeJsonAtomic } from '../../util/atomic-write.js';
import { ensembleMemberDir, memberBuilder, trainEnsembleRun } from '../ensemble-run.js';
import { listenForInterrupt } from '../interrupt.js';
import { interruptedError } from '../train-safety.js';
import { BayescompError } from '../../util/errors.js';
import type { CliIo } from '../io.js';
import { objectiveSpecFor } from '../network-training.js';
import { resolveModel } from '../resolve-inputs.js';
import { finishRunRecord, interruptRunRecord, newRunRecord, RUN_FILES, writeRunRecord } from '../run-dir.js';
import { loadTrainingData } from '../training-data.js';
import type { TrainCommandOptions, TrainCommandResult } from './train.js';

/** Default number of ensemble members (Lakshminarayanan et al. 2017 use 5). */
export const DEFAULT_ENSEMBLE_MEMBERS = 5;

/** Hooks of an in-process ensemble run: a stop request (SIGINT in the CLI) and training callbacks (tests). */
export interface EnsembleTrainHooks {
  readonly signal?: AbortSignal;
  readonly callbacks?: TrainCallbacks;
}

/**
 * `bayescomp train --method ensemble`: M MAP networks, independently seeded (initial weights and batch order), each
 * trained by the same loop as `--method map` into `members/<m>/`; the test figures are those of the ensemble
 * predictive (1/M) Σ_m softmax(f_m(x)) (Lakshminarayanan et al. 2017, §2.4), whose members' disagreement gives the
 * mutual information.
 */
export async function runEnsembleTrain(
  options: TrainCommandOptions,
  io: CliIo,
  hooks: EnsembleTrainHooks = {},
): Promise<TrainCommandResult & { readonly interrupted?: boolean }> {
  setGlobalSeed(options.seed);
  const members = options.members ?? DEFAULT_ENSEMBLE_MEMBERS;
  const workers = options.workers ?? 1;
  const data = await loadTrainingData(options);
  // A user's model (or a run's) is the template every member copies with fresh initial weights.
  const resolved = isZooModelName(options.model)
    ? undefined
    : await resolveModel(options.model, data.train, options.seed);
  const build = await memberBuilder(options.model, resolved?.model, data.train);
  const record = newRunRecord(
    'train',
    {
      ...options,
      members,
      workers,
      klWeight: options.klWeight.name,
      modelSource: resolved?.source ?? 'zoo',
      modelOrigin: options.model,
    },
    options.seed,
  );
  await writeRunRecord(options.out, record);
  io.err(
    `training a deep ensemble of ${members} ${options.model} on ${data.splits.name} (${data.train.n} examples), ` +
      `backend ${record.backend}${workers > 1 ? `, ${workers} workers` : ''}\n`,
  );
  // The CLI stops on SIGINT/SIGTERM like a single run: the current member checkpoints, `--resume` continues it.
  const interrupt = hooks.signal ? undefined : listenForInterrupt(io);
  try {
    const run = await trainEnsembleRun({
      runDir: options.out,
      members,
      seed: options.seed,
      resume: options.resume,
      build,
      train: {
        objective: mapObjective({ weightDecay: options.weightDecay }),
        data: data.train,
        validation: data.validation,
        epochs: options.epochs,
        batchSize: options.batchSize,
        optimizer: { name: options.optimizer, learningRate: options.lr },
        lrSchedule: options.lrSchedule,
        progress: options.progress,
        signal: hooks.signal ?? interrupt?.signal,
        callbacks: hooks.callbacks,
        onNonFinite: options.onNan ?? 'stop',
        checkpointEverySteps: options.checkpointEverySteps,
      },
      parallel: { workers, objective: objectiveSpecFor(options) },
      onMemberStart: (m, seed, resume) =>
        io.err(
          `member ${m + 1}/${members} (seed ${seed})${resume ? ', resuming if it has a checkpoint' : ''}\n`,
        ),
    }).finally(() => interrupt?.dispose());
    const base = {
      out: options.out,
      method: options.method,
      backend: record.backend,
      epochs: options.epochs,
      seconds: run.trainSeconds,
      secondsPerEpoch: run.records.length ? run.trainSeconds / (run.records.length * options.epochs) : 0,
    };
    if (run.interrupted) {
      await writeRunRecord(options.out, { ...interruptRunRecord(record), trainSeconds: run.trainSeconds });
      run.models.forEach((m) => m.dispose());
      if (interrupt) {
        const memberDir = ensembleMemberDir(options.out, run.records.length);
        throw await interruptedError(memberDir, interrupt.received() ?? 'a signal');
      }
      return { ...base, test: { accuracy: NaN, nll: NaN }, interrupted: true };
    }
    const metrics = data.test
      ? await evaluatePredictive(
          ensemblePredictive(run.logits, { name: `deep ensemble (M=${members})` }),
          data.test,
        )
      : undefined;
    const test = metrics
      ? {
          accuracy: metrics.accuracy,
          nll: metrics.nll,
          ece: metrics.ece,
          brier: metrics.brier,
          mean_entropy: metrics.mean_entropy,
          ...(metrics.mean_mi !== undefined ? { mean_mi: metrics.mean_mi } : {}),
          predict_seconds: metrics.predict_seconds,
        }
      : { accuracy: NaN, nll: NaN };
    await writeJsonAtomic(join(options.out, RUN_FILES.metrics), {
      test,
      backend: record.backend,
      train_seconds: run.trainSeconds,
      member_seeds: run.seeds,
    });
    await writeRunRecord(options.out, { ...finishRunRecord(record), trainSeconds: run.trainSeconds });
    run.models.forEach((m) => m.dispose());
    return { ...base, test };
  } catch (err) {
    if (err instanceof BayescompError && err.code === 'interrupted') throw err;
    await writeRunRecord(options.out, finishRunRecord(record, err));
    throw err;
  }
}
