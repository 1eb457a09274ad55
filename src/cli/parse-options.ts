import { InvalidArgumentError } from 'commander';
import type { LrScheduleSpec } from '../train/lr-schedules.js';

/** Commander parser for a positive integer option. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Commander parser for a non-negative integer option. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

/** Commander parser for a finite number. */
export function finiteNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}

/** Commander parser for a fraction in [0, 1). */
export function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n < 1)) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}

/**
 * Parses a learning-rate schedule written on the command line:
 * - `constant`;
 * - `multistep:M1,M2,…:GAMMA` — milestones in epochs, or as fractions of the run when all are below 1
 *   (the Sparse VD recipe is `multistep:0.5,0.6,0.7,0.8:0.2`);
 * - `linear[:HOLD[:FINAL]]` — constant for HOLD epochs, then linear to FINAL (default 0);
 * - `cosine[:FINAL]`.
 */
export function parseLrSchedule(text: string): LrScheduleSpec {
  const [kind, ...args] = text.split(':');
  const bad = () => new InvalidArgumentError(`cannot read learning-rate schedule '${text}'`);
  switch (kind) {
    case 'constant':
      return { type: 'constant' };
    case 'multistep': {
      if (args.length !== 2) throw bad();
      const milestones = args[0].split(',').map(Number);
      const gamma = Number(args[1]);
      if (milestones.some((m) => !Number.isFinite(m) || m < 0) || !Number.isFinite(gamma)) throw bad();
      return milestones.every((m) => m < 1)
        ? { type: 'multi-step', milestoneFractions: milestones, gamma }
        : { type: 'multi-step', milestones, gamma };
    }
    case 'linear': {
      const holdEpochs = args[0] !== undefined ? Number(args[0]) : 0;
      const finalLearningRate = args[1] !== undefined ? Number(args[1]) : 0;
      if (!Number.isFinite(holdEpochs) || !Number.isFinite(finalLearningRate)) throw bad();
      return { type: 'linear', holdEpochs, finalLearningRate };
    }
    case 'cosine': {
      const finalLearningRate = args[0] !== undefined ? Number(args[0]) : 0;
      if (!Number.isFinite(finalLearningRate)) throw bad();
      return { type: 'cosine', finalLearningRate };
    }
    default:
      throw bad();
  }
}

/** A comma-separated list of names (e.g. layers), blanks dropped. */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
}
