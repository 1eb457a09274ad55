import * as tf from '@tensorflow/tfjs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { ensembleMemberSeeds } from '../eval/baselines.js';
import { MODEL_JSON_FILE, loadModel, saveModel } from '../models/file-io.js';
import { splitOutputActivation } from '../models/logits.js';
import { buildZooModel, isZooModelName } from '../models/zoo.js';
import { Random } from '../runtime/random.js';
import type { TrainOptions } from '../train/trainer.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { BayescompError } from '../util/errors.js';
import { type ParallelSetup, startWorkerPool, trainNetwork, trainingSeconds } from './network-training.js';
import { type RunRecord, RUN_FILES, readRunRecord } from './run-dir.js';

/**
 * Layout of a deep-ensemble run directory: besides `run.json` and `metrics.json`, member m lives in `members/<m>/`,
 * holding its trained model (a stock TF.js `model.json` + `weights.bin`), its `history.json` and `checkpoints/`, and
 * `member.json`, written last, which marks the member finished. There is no top-level `model/`.
 */
export const ENSEMBLE_FILES = { members: 'members', member: 'member.json' } as const;

/** The directory of member `m` of the ensemble run in `runDir`. */
export function ensembleMemberDir(runDir: string, member: number): string {
  return join(runDir, ENSEMBLE_FILES.members, String(member));
}

/** What `member.json` records about a finished member. */
export interface EnsembleMemberRecord {
  readonly member: number;
  readonly seed: number;
  readonly epochs: number;
  /** Wall-clock training seconds, across resumptions. */
  readonly trainSeconds: number;
}

/** Whether a run record is a deep-ensemble training run. */
export function isEnsembleRecord(record: RunRecord): boolean {
  return record.command === 'train' && record.options.method === 'ensemble';
}

/** Whether a run record is an MC dropout training run. */
export function isMcDropoutRecord(record: RunRecord): boolean {
  return record.command === 'train' && record.options.method === 'mc-dropout';
}

/** The run record of `dir` when it is a run directory, else undefined. */
export async function runRecordIfAny(dir: string): Promise<RunRecord | undefined> {
  const isRun = await stat(join(dir, RUN_FILES.run)).then(
    (s) => s.isFile(),
    () => false,
  );
  return isRun ? readRunRecord(dir) : undefined;
}

/**
 * Loads the M members of the ensemble run in `runDir` (M from `run.json`) as saved, and their logits views. Throws a
 * `not-found` error naming the first unfinished member.
 */
export async function loadEnsembleMembers(
  runDir: string,
): Promise<{ models: tf.LayersModel[]; logits: tf.LayersModel[] }> {
  const record = await readRunRecord(runDir);
  const members = Number(record.options.members);
  if (!(members >= 1))
    throw new BayescompError('bad-format', 'run.json has no member count', { file: runDir });
  const models: tf.LayersModel[] = [];
  try {
    for (let m = 0; m < members; m++) {
      const dir = ensembleMemberDir(runDir, m);
      if (!(await isFinishedMember(dir))) {
        throw new BayescompError(
          'not-found',
          `ensemble member ${m} of ${members} has not finished training (continue with train --resume)`,
          { file: dir },
        );
      }
      models.push(await loadModel(join(dir, MODEL_JSON_FILE)));
    }
  } catch (err) {
    models.forEach((model) => model.dispose());
    throw err;
  }
  return { models, logits: models.map((model) => splitOutputActivation(model).logits) };
}

async function isFinishedMember(dir: string): Promise<boolean> {
  return stat(join(dir, ENSEMBLE_FILES.member)).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** One member network: as saved (a user's folded softmax kept) and its logits view, which is trained. */
export interface EnsembleMemberModel {
  readonly model: tf.LayersModel;
  readonly logits: tf.LayersModel;
}

/**
 * How members are built for `--model`: a zoo model built with the member's seed, or a copy of the user's model whose
 * random initialisers are re-seeded per member ({@link reseededCopy}), so members start from different weights as
 * Lakshminarayanan et al. (2017) require, each with the user's own initialisation scheme.
 */
export async function memberBuilder(
  spec: string,
  template: tf.LayersModel | undefined,
  data: Dataset,
): Promise<(seed: number) => Promise<EnsembleMemberModel>> {
  if (isZooModelName(spec)) {
    return async (seed) => {
      const model = buildZooModel(spec, {
        inputShape: [...data.featureShape],
        numClasses: data.numClasses,
        seed,
      });
      return { model, logits: model };
    };
  }
  if (!template) throw new BayescompError('bad-config', `no model to copy for ensemble members of ${spec}`);
  return async (seed) => {
    const model = await reseededCopy(template, seed);
    return { model, logits: splitOutputActivation(model).logits };
  };
}

/**
 * A new model with `model`'s architecture and freshly drawn initial weights: every initialiser in its topology that
 * takes a seed gets its own seed from a generator seeded with `seed` (fixed initialisers such as zeros stay as they
 * are).
 */
export async function reseededCopy(model: tf.LayersModel, seed: number): Promise<tf.LayersModel> {
  const topology = model.toJSON(null, false) as unknown as tf.io.ModelJSON['modelTopology'];
  const random = new Random(seed);
  const reseed = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(reseed);
    else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      const config = record.config as Record<string, unknown> | undefined;
      if (typeof record.class_name === 'string' && config && typeof config === 'object' && 'seed' in config)
        config.seed = random.tfSeed();
      Object.values(record).forEach(reseed);
    }
  };
  reseed(topology);
  return tf.models.modelFromJSON({ modelTopology: topology });
}

/** What {@link trainEnsembleRun} needs. */
export interface EnsembleRunSetup {
  readonly runDir: string;
  readonly members: number;
  /** The ensemble's seed; member seeds come from {@link ensembleMemberSeeds}. */
  readonly seed: number;
  /** Continue: finished members are loaded, the first unfinished one resumes from its checkpoint. */
  readonly resume?: boolean;
  readonly build: (seed: number) => Promise<EnsembleMemberModel>;
  /** The training options of every member (`model`, `seed`, `runDir` and `resume` are set per member). */
  readonly train: Omit<TrainOptions, 'model' | 'seed' | 'runDir' | 'resume'>;
  /** Worker threads per member (a pool is started once for all members) and the objective spec they rebuild. */
  readonly parallel: Omit<ParallelSetup, 'pool'>;
  /** Reports each member's start (for the log). */
  readonly onMemberStart?: (member: number, seed: number, resumed: boolean) => void;
}

/** What {@link trainEnsembleRun} returns. */
export interface EnsembleRunResult {
  /** The members finished so far, as saved and as logits (all M unless interrupted). */
  readonly models: tf.LayersModel[];
  readonly logits: tf.LayersModel[];
  readonly seeds: number[];
  readonly records: EnsembleMemberRecord[];
  /** True when `train.signal` stopped a member (its checkpoint is in place for `--resume`). */
  readonly interrupted: boolean;
  /** Sum of the members' training seconds. */
  readonly trainSeconds: number;
}

/**
 * Trains the members of a deep ensemble one after another by the library's training loop, each in its own directory
 * ({@link ensembleMemberDir}), saving each finished member before starting the next, so an interrupted run loses at
 * most the unfinished member's progress since its last checkpoint. With `resume`, finished members are loaded rather
 * than retrained and the first unfinished member continues from its checkpoint (`train`'s resume gives the same
 * weights as an uninterrupted run), so a resumed ensemble equals an uninterrupted one.
 */
export async function trainEnsembleRun(setup: EnsembleRunSetup): Promise<EnsembleRunResult> {
  const seeds = ensembleMemberSeeds(setup.seed, setup.members);
  const models: tf.LayersModel[] = [];
  const logits: tf.LayersModel[] = [];
  const records: EnsembleMemberRecord[] = [];
  const pool = await startWorkerPool(setup.parallel.workers);
  let interrupted = false;
  try {
    for (let m = 0; m < setup.members && !interrupted; m++) {
      const dir = ensembleMemberDir(setup.runDir, m);
      if (setup.resume && (await isFinishedMember(dir))) {
        const record = JSON.parse(
          await readFile(join(dir, ENSEMBLE_FILES.member), 'utf8'),
        ) as EnsembleMemberRecord;
        if (record.seed !== seeds[m]) {
          throw new BayescompError(
            'bad-config',
            `member ${m} was trained with seed ${record.seed}, not ${seeds[m]}: resume with the run's --seed`,
            { file: dir },
          );
        }
        const model = await loadModel(join(dir, MODEL_JSON_FILE));
        models.push(model);
        logits.push(splitOutputActivation(model).logits);
        records.push(record);
        continue;
      }
      setup.onMemberStart?.(m, seeds[m], Boolean(setup.resume));
      const member = await setup.build(seeds[m]);
      models.push(member.model);
      logits.push(member.logits);
      const result = await trainNetwork(
        {
          ...setup.train,
          model: member.logits,
          seed: seeds[m],
          runDir: dir,
          // A parallel member cannot resume within itself: it restarts.
          resume: setup.parallel.workers <= 1 ? setup.resume : undefined,
        },
        { ...setup.parallel, pool },
      );
      if ((result as { interrupted?: boolean }).interrupted) {
        interrupted = true;
        models.pop()?.dispose();
        logits.pop();
        break;
      }
      await saveModel(member.model, dir);
      const record: EnsembleMemberRecord = {
        member: m,
        seed: seeds[m],
        epochs: result.epochsCompleted,
        trainSeconds: trainingSeconds(result),
      };
      await writeJsonAtomic(join(dir, ENSEMBLE_FILES.member), record);
      records.push(record);
    }
  } catch (err) {
    models.forEach((model) => model.dispose());
    throw err;
  } finally {
    await pool?.terminate();
  }
  return {
    models,
    logits,
    seeds,
    records,
    interrupted,
    trainSeconds: records.reduce((sum, r) => sum + r.trainSeconds, 0),
  };
}
