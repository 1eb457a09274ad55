import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';
import { BayescompError } from '../../util/errors.js';

/** A JSON value allowed in a family's options (they are stored in the layer's config, hence in `model.json`). */
export type FamilyOptionValue = number | string | boolean | null;

/** Which family a Bayesian layer uses for a weight tensor, and its options; serialised into the layer config. */
export interface FamilySpec {
  /** The registered family name, e.g. `gaussian` or `log-uniform`. */
  readonly name: string;
  /** Family-specific options (see each family's options type). */
  readonly options?: Readonly<Record<string, FamilyOptionValue>>;
}

/** A TF.js weight initialiser (as made by `tf.initializers.*`). */
export type WeightInitializer = ReturnType<typeof tf.initializers.zeros>;

/**
 * Creates a layer weight: the Bayesian layer passes its own (protected) `addWeight`, so every variable a family owns
 * is a layer weight that trains, saves and loads with the model. Names are local to the layer (`kernel_mu`).
 */
export type WeightFactory = (
  name: string,
  shape: readonly number[],
  initializer: WeightInitializer,
  trainable: boolean,
) => tf.LayerVariable;

/** What a family needs to create its variables for one weight tensor. */
export interface FamilyBuildContext {
  /** Prefix for variable names, `kernel` or `bias`. */
  readonly name: string;
  /** Shape of the weight tensor, e.g. `[in, out]` (dense) or `[kh, kw, inC, outC]` (conv, channels last). */
  readonly shape: readonly number[];
  /** The layer's weight factory. */
  readonly addWeight: WeightFactory;
  /** Axis of `shape` that indexes input neurons/channels (dense 0, conv 2; absent for biases) — for group families. */
  readonly inputAxis?: number;
  /** Axis of `shape` that indexes output neurons/filters (dense 1, conv 3; 0 for biases) — for group families. */
  readonly outputAxis: number;
}

/** Mean and variance of a factorised Gaussian over the weights, given any per-example group scales. */
export interface GaussianMoments {
  readonly mean: tf.Tensor;
  readonly variance: tf.Tensor;
}

/**
 * Per-example multiplicative scales that hierarchical families (group normal-Jeffreys, group horseshoe) sample for
 * local reparameterisation: `input` of shape `[batch, inputGroups]` multiplies the layer input's channels before the
 * linear map, `output` of shape `[batch, outputGroups]` multiplies its result (Louizos et al. 2017, §3.1).
 */
export interface GroupScales {
  readonly input?: tf.Tensor2D;
  readonly output?: tf.Tensor2D;
}

/**
 * A variational posterior q(w) and its prior p(w) for one weight tensor of a Bayesian layer.
 *
 * The layer calls {@link build} once; afterwards every method returns fresh tensors (the caller disposes them, or
 * calls inside `tf.tidy`). Methods that differentiate (`localMoments`, `sample`, `kl`, log densities) must be built
 * from the variables' `read()` so gradients flow to them.
 *
 * Reparameterisation contract: conditionally on {@link sampleGroupScales} (when the family defines it), the weights
 * are independent Gaussians with {@link localMoments}; local reparameterisation and Flipout rely on this.
 */
export interface PosteriorFamily {
  /** The registered name, as in {@link FamilySpec.name}. */
  readonly familyName: string;
  /** Creates the variables through `context.addWeight`. */
  build(context: FamilyBuildContext): void;
  /** Options to serialise (so `createFamily({name, options})` rebuilds an equivalent family). */
  getOptions(): Record<string, FamilyOptionValue>;
  /** Marginal posterior mean E_q[w], shaped like the weight. */
  mean(): tf.Tensor;
  /** Marginal posterior variance Var_q[w], shaped like the weight. */
  variance(): tf.Tensor;
  /** Conditional Gaussian moments used by local reparameterisation and Flipout (equal to the marginals for flat families). */
  localMoments(): GaussianMoments;
  /** Per-example group scales for local reparameterisation; absent for flat families. */
  sampleGroupScales?(batchSize: number, random: Random): GroupScales;
  /** One draw w ~ q(w), shaped like the weight. */
  sample(random: Random): tf.Tensor;
  /** KL(q ‖ p) summed over the tensor (closed form or the family's published approximation). */
  kl(): tf.Scalar;
  /**
   * The KL of one of `parts` blocks of the weight's rows ({@link rowBlock}), so that the parts sum to {@link kl} (up
   * to float rounding): data-parallel workers each differentiate one part instead of one worker the whole. Absent
   * when the KL does not split by weight (group priors); callers then take {@link kl} once.
   */
  klPart?(part: number, parts: number): tf.Scalar;
  /** log q(w) summed over the tensor, for Monte-Carlo KL and Rényi bounds; absent when not available. */
  logPosterior?(w: tf.Tensor): tf.Scalar;
  /** log p(w) summed over the tensor (a proper, normalised prior); absent when the prior is improper. */
  logPrior?(w: tf.Tensor): tf.Scalar;
  /** log α = log Var[w] − log E[w]² per weight (clipped as the family's KL does), used for pruning. */
  logAlpha?(): tf.Tensor;
  /**
   * Sets the posterior mean to `values` and the variance to `exp(logSigma2)` (a number for all weights, or a tensor
   * shaped like the weight), e.g. to start from trained weights with a small variance.
   */
  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void;
  /** Empirical-Bayes update of the prior's hyper-parameters from the current posterior; absent for fixed priors. */
  updatePrior?(): void;
}

type FamilyFactory = (options: Readonly<Record<string, FamilyOptionValue>>) => PosteriorFamily;

const registry = new Map<string, FamilyFactory>();

/** Makes a family available to Bayesian layers (and to model loading) under `name`. */
export function registerPosteriorFamily(name: string, factory: FamilyFactory): void {
  registry.set(name, factory);
}

/** A new, unbuilt family from its spec; throws `bad-config` for an unknown name. */
export function createFamily(spec: FamilySpec): PosteriorFamily {
  const factory = registry.get(spec.name);
  if (!factory) {
    const known = [...registry.keys()].join(', ');
    throw new BayescompError('bad-config', `unknown posterior family '${spec.name}' (known: ${known})`);
  }
  return factory(spec.options ?? {});
}

/** Names of the registered families. */
export function posteriorFamilyNames(): string[] {
  return [...registry.keys()];
}

/** Reads a numeric option, with a default. */
export function numberOption(
  options: Readonly<Record<string, FamilyOptionValue>>,
  key: string,
  fallback: number,
): number {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new BayescompError(
      'bad-config',
      `family option '${key}' must be a finite number, got ${String(value)}`,
    );
  }
  return value;
}

/** Reads a string option restricted to `allowed`, with a default. */
export function choiceOption<T extends string>(
  options: Readonly<Record<string, FamilyOptionValue>>,
  key: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = options[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new BayescompError(
      'bad-config',
      `family option '${key}' must be one of ${allowed.join(', ')}, got ${String(value)}`,
    );
  }
  return value as T;
}

/**
 * The initialiser of posterior means: Glorot-normal (the Dense/Conv2D default scale), or N(0, initStd²) when a
 * recipe fixes the spread (e.g. the Sparse VD seminar's N(0, 0.02²)). Takes the seed so every family draws the same
 * number of seeds in the same order.
 */
export function meanInitializer(initStd: number | undefined, seed: number): WeightInitializer {
  return initStd === undefined
    ? tf.initializers.glorotNormal({ seed })
    : tf.initializers.randomNormal({ mean: 0, stddev: initStd, seed });
}

/**
 * Block `part` of `parts` of a tensor's rows: the tensor viewed as a matrix [rows, last dimension] (a vector is one
 * row, so a single part holds all of it), its rows split into `parts` contiguous blocks whose sizes differ by at most
 * one. Gradients flow back to `t`.
 */
export function rowBlock(t: tf.Tensor, part: number, parts: number): tf.Tensor2D {
  const cols = t.rank === 0 ? 1 : t.shape[t.rank - 1];
  const rows = t.size / cols;
  const start = Math.floor((rows * part) / parts);
  const end = Math.floor((rows * (part + 1)) / parts);
  return tf.slice(tf.reshape(t, [rows, cols]), [start, 0], [end - start, cols]) as tf.Tensor2D;
}
