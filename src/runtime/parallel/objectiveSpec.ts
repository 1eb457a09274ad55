import { mapObjective, type MapLikelihood } from '../../train/map-objective.js';
import type { Objective } from '../../train/types.js';
import { requireConfig } from '../../util/errors.js';
import { elboObjective } from '../../variational/objectives/elboObjective.js';
import {
  additiveKlWeight,
  constantKlWeight,
  linearKlWarmup,
  plateauKlWeight,
  type AdditiveKlWeightOptions,
  type KlWeightSchedule,
  type LinearWarmupOptions,
  type PlateauKlWeightOptions,
} from '../../variational/objectives/klWeightSchedules.js';
import type { VariationalLikelihood } from '../../variational/objectives/likelihood.js';
import { renyiObjective } from '../../variational/objectives/renyiObjective.js';

/** A KL-weight schedule as plain data (the schedules of `klWeightSchedules.ts`). */
export type KlWeightScheduleSpec =
  | { readonly type: 'constant'; readonly beta: number }
  | ({ readonly type: 'linear' } & LinearWarmupOptions)
  | ({ readonly type: 'additive' } & AdditiveKlWeightOptions)
  | ({ readonly type: 'plateau' } & PlateauKlWeightOptions);

/** The MAP objective of `mapObjective` as plain data. */
export interface MapObjectiveSpec {
  readonly kind: 'map';
  readonly likelihood?: MapLikelihood;
  readonly noiseStd?: number;
  /** Coupled L2 weight decay λ on the kernels (see `MapObjectiveOptions.weightDecay`). */
  readonly weightDecay?: number;
}

/** The ELBO objective of `elboObjective` as plain data. */
export interface ElboObjectiveSpec {
  readonly kind: 'elbo';
  /** KL weight β: a number or a schedule spec. Default 1. */
  readonly beta?: number | KlWeightScheduleSpec;
  /** Forward passes per step. Default 1. */
  readonly samples?: number;
  readonly likelihood?: VariationalLikelihood;
  readonly noiseStd?: number;
  readonly empiricalBayes?: boolean;
}

/** The Rényi objective of `renyiObjective` as plain data. */
export interface RenyiObjectiveSpec {
  readonly kind: 'renyi';
  readonly alpha: number;
  /** Weight samples per step. Default 5. */
  readonly samples?: number;
  readonly likelihood?: VariationalLikelihood;
  readonly noiseStd?: number;
}

/**
 * A training objective as plain, structured-cloneable data, so worker threads can build the same objective as the
 * main thread (an {@link Objective} holds closures and cannot cross a thread boundary).
 */
export type ObjectiveSpec = MapObjectiveSpec | ElboObjectiveSpec | RenyiObjectiveSpec;

/** Builds the KL-weight schedule a spec describes (a number is a constant β). */
export function klWeightScheduleFromSpec(spec: number | KlWeightScheduleSpec | undefined): KlWeightSchedule {
  if (spec === undefined) return constantKlWeight(1);
  if (typeof spec === 'number') return constantKlWeight(spec);
  switch (spec.type) {
    case 'constant':
      return constantKlWeight(spec.beta);
    case 'linear':
      return linearKlWarmup(spec);
    case 'additive':
      return additiveKlWeight(spec);
    case 'plateau':
      return plateauKlWeight(spec);
    default:
      throw new Error(`unknown KL-weight schedule '${String((spec as { type: unknown }).type)}'`);
  }
}

/** The single-process {@link Objective} a spec describes (what `train` minimises for it). */
export function objectiveFromSpec(spec: ObjectiveSpec): Objective {
  switch (spec.kind) {
    case 'map':
      return mapObjective(spec);
    case 'elbo':
      return elboObjective({ ...spec, beta: klWeightScheduleFromSpec(spec.beta) });
    case 'renyi':
      return renyiObjective(spec);
    default:
      requireConfig(
        false,
        `unknown objective kind '${String((spec as { kind: unknown }).kind)}' (use map, elbo or renyi)`,
      );
  }
}
