import type * as tf from '@tensorflow/tfjs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { laplaceWeightPosteriors } from '../compress/from-laplace.js';
import { pointWeightPosteriors, variationalWeightPosteriors } from '../compress/from-variational.js';
import type { PruningCriterion } from '../compress/pruning-rules.js';
import type { WeightPosterior } from '../compress/weight-posterior.js';
import type { LaplacePosterior } from '../laplace/index.js';
import { bayesianLayers, toDeterministic, VnqPosterior } from '../variational/index.js';
import { isLaplaceDir, loadLaplaceDir } from './laplace-source.js';
import { resolveModel } from './resolve-inputs.js';
import { readRunRecord, RUN_FILES } from './run-dir.js';

/** A model to compress, with the posterior summaries its weights have. */
export interface CompressionSource {
  /** `variational` (a Bayesian run), `laplace` (a Laplace directory) or `point` (weights only). */
  readonly kind: 'variational' | 'laplace' | 'point';
  /** A deterministic model of stock layers (posterior means / MAP), masked in place and exported as it is. */
  readonly model: tf.LayersModel;
  /** The same network producing logits (shares the weights), for evaluation. */
  readonly logits: tf.LayersModel;
  /** Kernel posteriors (point estimates for layers the posterior does not cover). */
  readonly posteriors: WeightPosterior[];
  /** The criterion that fits the posterior when none is asked for. */
  readonly defaultCriterion: PruningCriterion;
  /** VNQ codebooks by kernel name, when the model was trained with the quantizing prior. */
  readonly codebooks: Map<string, Float32Array>;
  /** Per-layer thresholds of the default criterion (the Bayesian layers' own log α thresholds). */
  readonly defaultThresholds?: Record<string, number>;
  /** The Laplace posterior itself (`laplace` sources), for the OBS update of the kept weights. */
  readonly laplace?: LaplacePosterior;
  /**
   * The output of an earlier `prune`/`quantize`/`export` (its run record says so): its zeros are the pruned weights
   * and its values may already be quantised, so by default it is exported as it is rather than pruned and rounded
   * again.
   */
  readonly compressedBy?: 'prune' | 'quantize' | 'export';
}

/** Loads what `prune`/`quantize`/`export` work on: a run directory, a Laplace directory, or a `model.json`. */
export async function loadCompressionSource(spec: string, seed = 0): Promise<CompressionSource> {
  if (await isLaplaceDir(spec)) {
    const { model, logits, posterior } = await loadLaplaceDir(spec);
    const covered = laplaceWeightPosteriors(posterior);
    const names = new Set(covered.map((p) => p.name));
    const posteriors = [...covered, ...pointWeightPosteriors(model).filter((p) => !names.has(p.name))];
    posterior.dispose();
    return {
      kind: 'laplace',
      model,
      logits,
      posteriors,
      defaultCriterion: 'snr',
      codebooks: new Map(),
      laplace: posterior,
    };
  }
  const { model: stored, logits } = await resolveModel(spec, undefined, seed);
  const layers = bayesianLayers(logits);
  if (layers.length === 0) {
    return {
      kind: 'point',
      model: stored,
      logits,
      posteriors: pointWeightPosteriors(stored),
      defaultCriterion: 'magnitude',
      codebooks: new Map(),
      compressedBy: await compressingCommand(spec),
    };
  }
  const posteriors = variationalWeightPosteriors(logits);
  const codebooks = new Map<string, Float32Array>();
  for (const layer of layers) {
    const family = layer.family();
    if (family instanceof VnqPosterior)
      codebooks.set(`${layer.name}/kernel`, Float32Array.from(family.codebookValues()));
  }
  const sparse = posteriors.some((p) => p.logAlpha !== undefined);
  const defaultThresholds = Object.fromEntries(layers.map((l) => [l.name, l.pruneThreshold]));
  const deterministic = toDeterministic(logits, { use: 'mean' });
  return {
    defaultThresholds,
    kind: 'variational',
    model: deterministic,
    logits: deterministic,
    posteriors,
    defaultCriterion: sparse ? 'log-alpha' : 'snr',
    codebooks,
  };
}

/** The compression command that wrote `spec`, when it is such a run directory. */
async function compressingCommand(spec: string): Promise<CompressionSource['compressedBy']> {
  const isRun = await stat(join(spec, RUN_FILES.run)).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!isRun) return undefined;
  const { command } = await readRunRecord(spec);
  return command === 'prune' || command === 'quantize' || command === 'export' ? command : undefined;
}
