import type * as tf from '@tensorflow/tfjs';
import { deriveRunSeed, RUN_STREAM } from '../runtime/parallel/seeds.js';
import { Random } from '../runtime/random.js';
import type { TrainOptions } from './trainer.js';
import { deterministicValidationMetrics } from './validation-metrics.js';

/**
 * The validation metrics of an epoch, or undefined when this epoch does not validate: the custom `validate` (with a
 * generator derived from the seed and epoch, so validating never shifts training noise) or the deterministic
 * accuracy/NLL on `validation`, every `validateEvery` epochs and after the last. Shared by `train` and
 * `trainParallel` so both validate identically.
 */
export async function epochValidation(
  options: Pick<TrainOptions, 'validate' | 'validation' | 'validateEvery' | 'validationBatchSize'>,
  model: tf.LayersModel,
  epoch: number,
  epochs: number,
  seed: number,
): Promise<Record<string, number> | undefined> {
  const every = options.validateEvery ?? 1;
  if (!(options.validate || options.validation) || ((epoch + 1) % every !== 0 && epoch + 1 !== epochs))
    return undefined;
  if (options.validate) {
    return options.validate(model, {
      epoch,
      data: options.validation,
      random: new Random(deriveRunSeed(seed, RUN_STREAM.validate, epoch)),
    });
  }
  return deterministicValidationMetrics(model, options.validation!, options.validationBatchSize ?? 1000);
}
