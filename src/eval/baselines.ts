/**
 * The baselines every report compares Bayesian methods against: deep ensembles (Lakshminarayanan et al. 2017,
 * "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles") and MC dropout (Gal & Ghahramani
 * 2016, "Dropout as a Bayesian Approximation"), trained by the library's one training loop.
 *
 * MC dropout needs no special training: a network with `Dropout` layers trained by `train()` (the MAP objective
 * runs the model with `training: true`, so dropout is active) is predicted with {@link mcDropoutPredictive}.
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import { Random } from '../runtime/random.js';
import { type TrainOptions, type TrainResult, train } from '../train/trainer.js';
import { BayescompError } from '../util/errors.js';
import {
  type MonteCarloOptions,
  type Predictive,
  ensemblePredictive,
  monteCarloPredictive,
} from './predictive.js';
import { type StochasticForwardOptions, stochasticForward } from './stochastic-forward.js';

/** Options for {@link mcDropoutPredictive}. */
export interface McDropoutOptions
  extends Omit<MonteCarloOptions, 'samples'>, Omit<StochasticForwardOptions, 'random'> {
  /** Stochastic forward passes S. Default 30. */
  readonly samples?: number;
  /** Seed of the dropout masks; the same seed gives the same predictions. Default 0. */
  readonly seed?: number;
}

/**
 * MC dropout: the mean of S softmax outputs of `model` with dropout active (fresh masks per pass, seeded),
 * batch normalisation left in inference mode (Gal & Ghahramani 2016, eq. 8). The model must output logits.
 */
export function mcDropoutPredictive(model: tf.LayersModel, options: McDropoutOptions = {}): Predictive {
  const samples = options.samples ?? 30;
  const random = new Random(options.seed ?? 0);
  const forwardOptions: StochasticForwardOptions = { random, isStochastic: options.isStochastic };
  return monteCarloPredictive(
    (x) => {
      const out = stochasticForward(model, x, forwardOptions);
      if (Array.isArray(out))
        throw new BayescompError('bad-shape', `model ${model.name} must have one output`);
      return out;
    },
    { ...options, samples, name: options.name ?? `MC dropout (S=${samples})` },
  );
}

/**
 * The seeds of a deep ensemble's M members from the ensemble's seed: successive 32-bit draws of a generator seeded
 * with `seed`, so member m's seed does not depend on M (a larger ensemble extends a smaller one).
 */
export function ensembleMemberSeeds(seed: number, members: number): number[] {
  const stream = new Random(seed);
  return Array.from({ length: members }, () => stream.nextUint32());
}

/** Options for {@link trainEnsemble}: {@link TrainOptions} for each member, plus the ensemble's size and seed. */
export interface EnsembleTrainOptions extends Omit<TrainOptions, 'model' | 'data' | 'seed' | 'runDir'> {
  /** Number of members M. Default 5. */
  readonly members?: number;
  /** The ensemble's seed; member m gets its own seed derived from it (initialisation and batch order). Default 0. */
  readonly seed?: number;
  /** When given, member m trains in `runDir/member-<m>` (history and checkpoints there). */
  readonly runDir?: string;
  /** Called after each member finishes, e.g. to report progress. */
  readonly onMemberEnd?: (member: number, result: TrainResult) => void;
}

/** What {@link trainEnsemble} returns. */
export interface TrainedEnsemble {
  /** The M trained networks (the caller disposes them). */
  readonly models: tf.LayersModel[];
  /** Each member's training result. */
  readonly results: TrainResult[];
  /** The seed each member was built and trained with. */
  readonly seeds: number[];
  /** The ensemble predictive over `models`. */
  readonly predictive: Predictive;
}

/**
 * Trains a deep ensemble: M networks from `buildModel(seed, member)`, each initialised and shuffled with its own
 * seed and trained independently by {@link train} on the whole of `data` (Lakshminarayanan et al. 2017, Algorithm
 * 1, without adversarial training). `buildModel` must use the seed for its initial weights, or the members start
 * identical and differ only by batch order.
 */
export async function trainEnsemble(
  buildModel: (seed: number, member: number) => tf.LayersModel,
  data: Dataset,
  options: EnsembleTrainOptions,
): Promise<TrainedEnsemble> {
  const members = options.members ?? 5;
  if (!(members >= 1) || !Number.isInteger(members)) {
    throw new BayescompError('bad-config', `ensemble size must be a positive integer, got ${members}`);
  }
  const { members: _m, seed: _s, runDir, onMemberEnd, ...trainOptions } = options;
  const models: tf.LayersModel[] = [];
  const results: TrainResult[] = [];
  const seeds: number[] = [];
  const memberSeeds = ensembleMemberSeeds(options.seed ?? 0, members);
  try {
    for (let m = 0; m < members; m++) {
      const seed = memberSeeds[m];
      const model = buildModel(seed, m);
      models.push(model);
      seeds.push(seed);
      const result = await train({
        ...trainOptions,
        model,
        data,
        seed,
        // Plain string joining keeps this module free of `node:path`, for browser bundles.
        runDir: runDir === undefined ? undefined : `${runDir.replace(/[\\/]+$/, '')}/member-${m}`,
      });
      results.push(result);
      onMemberEnd?.(m, result);
    }
  } catch (err) {
    for (const model of models) model.dispose();
    throw err;
  }
  return {
    models,
    results,
    seeds,
    predictive: ensemblePredictive(models, { name: `deep ensemble (M=${members})` }),
  };
}
