import type * as tf from '@tensorflow/tfjs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createPredictive, type Predictive } from '../eval/predictive.js';
import { LaplacePosterior, type LaplacePredictOptions } from '../laplace/index.js';
import { loadModel } from '../models/file-io.js';
import { splitOutputActivation } from '../models/logits.js';
import { RUN_FILES } from './run-dir.js';

/** The file a saved Laplace posterior is recognised by. */
export const LAPLACE_FILE = 'laplace.json';

/** Whether `dir` holds a posterior written by `bayescomp laplace`. */
export async function isLaplaceDir(dir: string): Promise<boolean> {
  return stat(join(dir, LAPLACE_FILE)).then(
    (s) => s.isFile(),
    () => false,
  );
}

/**
 * Loads the MAP model of a `bayescomp laplace` output directory as saved (the Laplace module takes the logits before
 * a folded softmax itself), its logits view, and the posterior.
 */
export async function loadLaplaceDir(
  dir: string,
): Promise<{ model: tf.LayersModel; logits: tf.LayersModel; posterior: LaplacePosterior }> {
  const model = await loadModel(join(dir, RUN_FILES.model));
  return {
    model,
    logits: splitOutputActivation(model).logits,
    posterior: await LaplacePosterior.load(dir, model),
  };
}

/** The Laplace predictive as a {@link Predictive} for evaluation. */
export function laplacePredictive(
  posterior: LaplacePosterior,
  options: LaplacePredictOptions = {},
): Predictive {
  const method = options.method ?? 'glm';
  const name =
    method === 'nn'
      ? `Laplace (sampled networks, S=${options.samples ?? 100})`
      : `Laplace (GLM, ${options.link ?? 'probit'})`;
  return createPredictive((x) => ({ probs: posterior.predict(x, options) }), {
    name,
    batchSize: options.batchSize,
  });
}
