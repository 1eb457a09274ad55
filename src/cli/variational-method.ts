import type * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from 'commander';
import { requireConfig } from '../util/errors.js';
import type { Dataset } from '../data/dataset.js';
import { deterministicValidationMetrics } from '../train/validation-metrics.js';
import type { Objective } from '../train/types.js';
import {
  additiveKlWeight,
  constantKlWeight,
  elboObjective,
  type FamilySpec,
  type KlWeightSchedule,
  linearKlWarmup,
  plateauKlWeight,
  renyiObjective,
  toBayesian,
  type PredictionMode,
  bayesianLayers,
} from '../variational/index.js';
import type { KlWeightScheduleSpec } from '../runtime/parallel/objectiveSpec.js';
import '../variational/families/groupNormalJeffreys.js';
import '../variational/families/groupHorseshoe.js';
import '../variational/families/vnqPosterior.js';

/** The variational inference methods of `bayescomp train`. */
export type VariationalMethod = 'gaussian' | 'sparse-vd' | 'group-nj' | 'group-hs' | 'vnq';

/**
 * Inference methods of `bayescomp train`: MAP, the variational ones, and the two baselines (a deep ensemble of MAP
 * networks, MC dropout).
 */
export type TrainMethod = 'map' | VariationalMethod | 'ensemble' | 'mc-dropout';

/** Whether `method` is one of the variational methods (trained on an ELBO or Rényi objective). */
export function isVariationalMethod(method: string): method is VariationalMethod {
  return Object.hasOwn(METHOD_FAMILIES, method);
}

/** The posterior family behind each variational method. */
export const METHOD_FAMILIES: Readonly<Record<VariationalMethod, FamilySpec>> = {
  gaussian: { name: 'gaussian' },
  'sparse-vd': { name: 'log-uniform' },
  'group-nj': { name: 'group-nj' },
  'group-hs': { name: 'group-hs' },
  vnq: { name: 'vnq' },
};

/**
 * Default log α pruning threshold per method: Sparse VD's 3 (Molchanov et al. 2017) for per-weight posteriors and
 * VNQ; for group posteriors a group is kept when its log α is below about −3 (Louizos et al. 2017's tutorial uses
 * −2.8 to −5 per layer); the horseshoe's scale posterior separates used from unused groups around −2.
 */
export const DEFAULT_PRUNE_THRESHOLDS: Readonly<Record<VariationalMethod, number>> = {
  gaussian: 3,
  'sparse-vd': 3,
  vnq: 3,
  'group-nj': -3,
  'group-hs': -2.2,
};

/** Methods whose posterior prunes by log α (validation reports the pruned network too). */
const SPARSE_METHODS: ReadonlySet<TrainMethod> = new Set(['sparse-vd', 'group-nj', 'group-hs', 'vnq']);

/** A KL-weight schedule read from the command line, with the plain-data spec worker threads rebuild it from. */
export interface CliKlWeight extends KlWeightSchedule {
  readonly spec: KlWeightScheduleSpec;
}

/**
 * Parses `--kl-weight`: `constant[:B]`, `warmup:START:END` (linear 0 → 1 between those epochs), `additive[:INIT[:STEP]]`
 * (the deepbayes recipe: 0.02 + 0.02 per epoch, capped at 1), or `plateau[:INIT[:FACTOR[:PATIENCE]]]`.
 */
export function parseKlWeight(text: string): CliKlWeight {
  const spec = parseKlWeightSpec(text);
  let schedule: KlWeightSchedule;
  switch (spec.type) {
    case 'constant':
      schedule = constantKlWeight(spec.beta);
      break;
    case 'linear':
      schedule = linearKlWarmup(spec);
      break;
    case 'additive':
      schedule = additiveKlWeight(spec);
      break;
    case 'plateau':
      schedule = plateauKlWeight(spec);
      break;
  }
  return Object.assign(schedule, { spec });
}

function parseKlWeightSpec(text: string): KlWeightScheduleSpec {
  const [kind, ...rest] = text.split(':');
  const args = rest.map(Number);
  if (args.some((a) => !Number.isFinite(a)))
    throw new InvalidArgumentError(`cannot read KL weight '${text}'`);
  switch (kind) {
    case 'constant':
      return { type: 'constant', beta: args[0] ?? 1 };
    case 'warmup':
      if (args.length !== 2)
        throw new InvalidArgumentError('warmup needs START:END epochs, e.g. warmup:5:20');
      return { type: 'linear', startEpoch: args[0], endEpoch: args[1] };
    case 'additive':
      return { type: 'additive', initial: args[0], increment: args[1] };
    case 'plateau':
      return { type: 'plateau', initial: args[0], factor: args[1], patience: args[2] };
    default:
      throw new InvalidArgumentError(`cannot read KL weight '${text}'`);
  }
}

/** Options of a variational run. */
export interface VariationalSetup {
  readonly method: VariationalMethod;
  readonly objective: 'elbo' | 'renyi';
  readonly alpha: number;
  readonly samples: number;
  readonly klWeight: KlWeightSchedule;
  readonly initLogSigma2: number;
  /**
   * Initial log σ² of the group scales (group-nj: of q(z); group-hs: of the log-normal scale posteriors). Absent: the
   * family's default, −9 (Louizos et al. 2017 code). Only for the group methods.
   */
  readonly groupInitLogSigma2?: number;
  /** log α threshold for pruning; default per method ({@link DEFAULT_PRUNE_THRESHOLDS}). */
  readonly pruneThreshold?: number;
}

/** Methods whose posterior has group scales (the ones `groupInitLogSigma2` applies to). */
const GROUP_METHODS: ReadonlySet<VariationalMethod> = new Set(['group-nj', 'group-hs']);

/** The family of `setup.method`, with the group-scale initialisation when one is given. */
export function methodFamily(setup: Pick<VariationalSetup, 'method' | 'groupInitLogSigma2'>): FamilySpec {
  const family = METHOD_FAMILIES[setup.method];
  if (setup.groupInitLogSigma2 === undefined) return family;
  requireConfig(
    GROUP_METHODS.has(setup.method),
    `--group-init-log-sigma2 applies to group-nj and group-hs, not to ${setup.method}`,
  );
  return { ...family, options: { ...family.options, initScaleLogSigma2: setup.groupInitLogSigma2 } };
}

/**
 * Turns a network into its Bayesian version for `setup.method` (posterior means at the current weights) and builds
 * the matching objective and validation (posterior-mean accuracy/NLL, and for sparse methods also the pruned network's
 * accuracy; the objective logs the sparsity itself).
 */
export function variationalTraining(
  logits: tf.LayersModel,
  setup: VariationalSetup,
): {
  model: tf.LayersModel;
  objective: Objective;
  validate: (model: tf.LayersModel, context: { data?: Dataset }) => Promise<Record<string, number>>;
} {
  const model = toBayesian(logits, {
    family: methodFamily(setup),
    initLogSigma2: setup.initLogSigma2,
    // The layers' threshold drives validation's pruned metrics, the logged sparsity and `prune`'s default.
    pruneThreshold: setup.pruneThreshold ?? DEFAULT_PRUNE_THRESHOLDS[setup.method],
  });
  const objective =
    setup.objective === 'renyi'
      ? renyiObjective({ alpha: setup.alpha, samples: setup.samples })
      : elboObjective({ beta: setup.klWeight, samples: setup.samples });
  const sparse = SPARSE_METHODS.has(setup.method);
  const validate = async (m: tf.LayersModel, context: { data?: Dataset }) => {
    if (!context.data) return {};
    const data = context.data;
    const mean = await inMode(m, 'mean', () => deterministicValidationMetrics(m, data));
    const out: Record<string, number> = { ...mean };
    if (sparse) {
      const pruned = await inMode(m, 'pruned-mean', () => deterministicValidationMetrics(m, data));
      out.pruned_accuracy = pruned.accuracy;
      out.pruned_nll = pruned.nll;
    }
    return out;
  };
  return { model, objective, validate };
}

/** Runs an async `fn` with every Bayesian layer in `mode`, restoring the modes only once it has finished. */
export async function inMode<T>(
  model: tf.LayersModel,
  mode: PredictionMode,
  fn: () => Promise<T>,
): Promise<T> {
  const layers = bayesianLayers(model);
  const previous = layers.map((l) => l.predictionMode);
  layers.forEach((l) => (l.predictionMode = mode));
  try {
    return await fn();
  } finally {
    layers.forEach((l, i) => (l.predictionMode = previous[i]));
  }
}
