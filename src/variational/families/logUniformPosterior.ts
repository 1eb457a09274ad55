import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../../runtime/random.js';
import { gaussianLogDensity } from '../gaussianKl.js';
import { LOG_ALPHA_CLIP, sparseLogAlpha } from '../logUniformKl.js';
import { standardNormal } from '../noise.js';
import { sparseVdKl } from '../sparseVdKl.js';
import {
  type FamilyBuildContext,
  type FamilyOptionValue,
  type FamilySpec,
  type GaussianMoments,
  meanInitializer,
  numberOption,
  type PosteriorFamily,
  registerPosteriorFamily,
  rowBlock,
} from './posteriorFamily.js';

/** Options of the Sparse VD (log-uniform prior) family. */
export interface LogUniformFamilyOptions {
  /** Initial log σ² of every weight. Default −10 (Molchanov et al. 2017 code). */
  readonly initLogSigma2?: number;
  /** Standard deviation of the N(0, s²) initialisation of θ; Glorot-normal when absent (the seminar recipe uses 0.02). */
  readonly initStd?: number;
  /** log α is clipped to [−c, c] in the KL. Default 10. */
  readonly logAlphaClip?: number;
}

/** A {@link FamilySpec} for Sparse Variational Dropout. */
export function logUniformFamily(options: LogUniformFamilyOptions = {}): FamilySpec {
  return { name: LogUniformPosterior.familyName, options: { ...options } };
}

/**
 * Sparse Variational Dropout (Molchanov, Ashukha & Vetrov 2017): q(w) = N(θ, σ²) in the additive-noise
 * parametrisation (variables θ and log σ², §4.2), the log-uniform prior p(|w|) ∝ 1/|w|, and the KL approximation of
 * eq. 14 in terms of log α = log σ² − log θ². Weights with log α ≥ 3 are pruned at test time.
 */
export class LogUniformPosterior implements PosteriorFamily {
  static readonly familyName = 'log-uniform';
  readonly familyName = LogUniformPosterior.familyName;
  private readonly initLogSigma2: number;
  private readonly initStd: number | undefined;
  private readonly clip: number;
  private theta?: tf.LayerVariable;
  private logSigma2?: tf.LayerVariable;

  constructor(options: Readonly<Record<string, FamilyOptionValue>> = {}) {
    this.initLogSigma2 = numberOption(options, 'initLogSigma2', -10);
    const initStd = options.initStd;
    this.initStd = typeof initStd === 'number' ? initStd : undefined;
    this.clip = numberOption(options, 'logAlphaClip', LOG_ALPHA_CLIP);
  }

  getOptions(): Record<string, FamilyOptionValue> {
    const options: Record<string, FamilyOptionValue> = {
      initLogSigma2: this.initLogSigma2,
      logAlphaClip: this.clip,
    };
    if (this.initStd !== undefined) options.initStd = this.initStd;
    return options;
  }

  build(context: FamilyBuildContext): void {
    const seed = getGlobalRandom().tfSeed();
    const init = meanInitializer(this.initStd, seed);
    this.theta = context.addWeight(`${context.name}_theta`, context.shape, init, true);
    this.logSigma2 = context.addWeight(
      `${context.name}_log_sigma2`,
      context.shape,
      tf.initializers.constant({ value: this.initLogSigma2 }),
      true,
    );
  }

  private vars(): { theta: tf.Tensor; logSigma2: tf.Tensor } {
    if (!this.theta || !this.logSigma2) throw new Error('LogUniformPosterior used before build()');
    return { theta: this.theta.read(), logSigma2: this.logSigma2.read() };
  }

  mean(): tf.Tensor {
    return this.vars().theta.clone();
  }

  variance(): tf.Tensor {
    return tf.exp(this.vars().logSigma2);
  }

  localMoments(): GaussianMoments {
    return { mean: this.mean(), variance: this.variance() };
  }

  sample(random: Random): tf.Tensor {
    return tf.tidy(() => {
      const { theta, logSigma2 } = this.vars();
      return tf.add(theta, tf.mul(tf.exp(tf.mul(0.5, logSigma2)), standardNormal(theta.shape, random)));
    });
  }

  logAlpha(): tf.Tensor {
    const { theta, logSigma2 } = this.vars();
    return sparseLogAlpha(theta, logSigma2, this.clip);
  }

  /** `logUniformKl(logAlpha())`, as the fused op {@link sparseVdKl} (closed-form gradient). */
  kl(): tf.Scalar {
    const { theta, logSigma2 } = this.vars();
    return sparseVdKl(theta, logSigma2, this.clip);
  }

  klPart(part: number, parts: number): tf.Scalar {
    return tf.tidy(() => {
      const { theta, logSigma2 } = this.vars();
      return sparseVdKl(rowBlock(theta, part, parts), rowBlock(logSigma2, part, parts), this.clip);
    });
  }

  logPosterior(w: tf.Tensor): tf.Scalar {
    return tf.tidy(() => gaussianLogDensity(w, this.vars().theta, this.variance()));
  }

  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void {
    if (!this.theta || !this.logSigma2) throw new Error('LogUniformPosterior used before build()');
    const target = this.logSigma2;
    this.theta.write(values);
    tf.tidy(() => {
      target.write(typeof logSigma2 === 'number' ? tf.fill(values.shape, logSigma2) : logSigma2.clone());
    });
  }
}

registerPosteriorFamily(LogUniformPosterior.familyName, (options) => new LogUniformPosterior(options));
