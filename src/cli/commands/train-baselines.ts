import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../../util/errors.js';
import type { CliIo } from '../io.js';

/** Default dropout rate of `train --method mc-dropout` on a zoo model (Gal & Ghahramani 2016 use 0.5). */
export const DEFAULT_MC_DROPOUT_RATE = 0.5;

/**
 * Methods `--workers N ≥ 2` cannot train: `trainParallel` rebuilds the objective in each worker from plain data,
 * which every method of `bayescomp train` has, so none is excluded today; a method added later without an
 * objective spec belongs here.
 */
const PARALLEL_UNSUPPORTED: ReadonlySet<string> = new Set<string>();

/** Rejects `--workers` settings that data-parallel training cannot honour, before anything is written. */
export function checkWorkersSupported(options: {
  readonly method: string;
  readonly workers?: number;
  readonly resume?: boolean;
}): void {
  const workers = options.workers ?? 1;
  if (workers <= 1) return;
  if (PARALLEL_UNSUPPORTED.has(options.method)) {
    throw new BayescompError(
      'bad-config',
      `--workers ${workers} does not support --method ${options.method}; use --workers 1`,
    );
  }
  if (options.resume && options.method !== 'ensemble') {
    throw new BayescompError(
      'bad-config',
      `--resume needs --workers 1: training on ${workers} workers writes no checkpoints`,
    );
  }
}

/** The dropout-type layers of a model (nested models included). */
export function dropoutLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.flatMap((layer) =>
    layer instanceof tf.LayersModel
      ? dropoutLayers(layer)
      : layer.getClassName().includes('Dropout')
        ? [layer]
        : [],
  );
}

/**
 * MC dropout needs dropout in the network: a zoo model gets it from `--dropout`; a user's model must already have
 * Dropout layers, which are used as they are (their own rates).
 */
export function requireDropoutLayers(model: tf.LayersModel, origin: string, io: CliIo): void {
  const layers = dropoutLayers(model);
  if (layers.length === 0) {
    throw new BayescompError(
      'bad-config',
      `${origin} has no Dropout layers, which MC dropout needs (zoo models get them with --dropout)`,
    );
  }
  const rates = layers.map((l) => String((l.getConfig() as { rate?: number }).rate ?? '?'));
  io.err(`MC dropout over ${layers.length} dropout layers (rates ${rates.join(', ')})\n`);
}
