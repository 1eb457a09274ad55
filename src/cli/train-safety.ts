import { type Command, Option } from 'commander';
import { readCheckpoint } from '../train/checkpoint.js';
import { BayescompError } from '../util/errors.js';
import type { CliIo } from './io.js';
import { positiveInt } from './parse-options.js';
import { describeUnfinishedRun, inspectRunDirectory, removeLeftoverTempFiles } from './run-dir.js';

/** The `train` options for long runs: what a NaN does, and how often a step checkpoint is written. */
export interface TrainSafetyOptions {
  /** `stop` (default): a NaN/Inf loss ends the run; `rollback`: back to the last checkpoint at half the rate. */
  onNan?: 'stop' | 'rollback';
  /** Also write a checkpoint every this many optimiser steps (default: at epoch ends only). */
  checkpointEverySteps?: number;
}

/** Adds `--on-nan` and `--checkpoint-every-steps` to `train`. */
export function withTrainSafetyOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--on-nan <action>',
        'on a NaN/Inf loss: stop, or roll back to the last checkpoint with half the learning rate (3 tries)',
      )
        .choices(['stop', 'rollback'])
        .default('stop'),
    )
    .option(
      '--checkpoint-every-steps <n>',
      'also checkpoint every n steps (an interrupted or killed run then loses at most n steps)',
      positiveInt,
    );
}

/**
 * Checks a run directory before `--resume`: a damaged checkpoint is an error saying how to recover; a directory
 * without a checkpoint (killed before its first one) or temporary files of an interrupted write are reported on
 * stderr (the temporary files are removed) and the run continues — from scratch when there is no checkpoint.
 */
export async function prepareResume(dir: string, io: CliIo): Promise<void> {
  const state = await inspectRunDirectory(dir);
  const c = state.checkpoint;
  if (c && 'problem' in c) {
    throw new BayescompError(
      'bad-format',
      `cannot resume ${dir}: ${describeUnfinishedRun(state)}; train again into a new --out directory`,
    );
  }
  const removed = await removeLeftoverTempFiles(dir);
  if (removed.length) {
    io.err(`bayescomp: removed ${removed.length} temporary file(s) of an interrupted write in ${dir}\n`);
  }
  if (!c) {
    io.err(
      `bayescomp: nothing to resume in ${dir} (${describeUnfinishedRun(state)}): starting the run from the beginning\n`,
    );
  }
}

/**
 * The error a run stopped by SIGINT/SIGTERM ends with (exit status 130): where its checkpoint stands and the command
 * that continues it.
 */
export async function interruptedError(dir: string, signal: string): Promise<BayescompError> {
  const saved = await readCheckpoint(dir).catch(() => undefined);
  const where = saved
    ? saved.step > 0
      ? `epoch ${saved.epoch + 1}, step ${saved.step}`
      : `the end of epoch ${saved.epoch}`
    : undefined;
  return new BayescompError(
    'interrupted',
    where
      ? `training stopped by ${signal}; checkpoint at ${where} in ${dir}: continue with the same command plus --resume`
      : `training stopped by ${signal} before its first checkpoint; ${dir} holds nothing to resume`,
  );
}
