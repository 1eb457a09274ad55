import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../../runtime/random.js';
import { requireConfig } from '../../util/errors.js';
import { gaussianKl, gaussianLogDensity } from '../gaussianKl.js';
import { standardNormal } from '../noise.js';
import {
  choiceOption,
  type FamilyBuildContext,
  type FamilyOptionValue,
  type FamilySpec,
  type GaussianMoments,
  meanInitializer,
  numberOption,
  type PosteriorFamily,
  registerPosteriorFamily,
} from './posteriorFamily.js';

/** How the posterior standard deviation is parametrised: σ = softplus(ρ) (Blundell et al. 2015) or σ = exp(s). */
export type SigmaParametrisation = 'softplus' | 'exp';

/**
 * Empirical-Bayes rule for the Gaussian prior, applied by {@link GaussianPosterior.updatePrior}:
 * - `none`: the prior stays fixed;
 * - `moments`: μp = mean of the posterior means, σp² = their variance (seed 003, after Graves 2011);
 * - `evidence`: σp² = mean((μ − μp)² + σ²) with μp fixed, the σp² maximising the ELBO (minimising the KL);
 * - `evidence-with-mean`: μp = mean(μ) and σp² = mean((μ − μp)² + σ²), the joint optimum (Graves 2011, eq. 15–16).
 */
export type EmpiricalBayesRule = 'none' | 'moments' | 'evidence' | 'evidence-with-mean';

/** Options of the mean-field Gaussian family. */
export interface GaussianFamilyOptions {
  /** Parametrisation of σ. Default `softplus`. */
  readonly sigma?: SigmaParametrisation;
  /** Prior mean μp. Default 0. */
  readonly priorMean?: number;
  /** Prior standard deviation σp. Default 1. */
  readonly priorStd?: number;
  /** Empirical-Bayes rule for the prior. Default `none`. */
  readonly empiricalBayes?: EmpiricalBayesRule;
  /** Initial log σ² of every weight. Default −10 (σ ≈ 0.0067). */
  readonly initLogSigma2?: number;
  /** Standard deviation of the N(0, s²) initialisation of the means; Glorot-normal when absent. */
  readonly initStd?: number;
}

/** A {@link FamilySpec} for the mean-field Gaussian family with a Gaussian prior. */
export function gaussianFamily(options: GaussianFamilyOptions = {}): FamilySpec {
  return { name: GaussianPosterior.familyName, options: { ...options } };
}

/** Smallest prior variance the empirical-Bayes update may set (all means equal would otherwise give 0). */
const MIN_PRIOR_VARIANCE = 1e-8;

/**
 * Mean-field Gaussian posterior q(w) = Π N(μ, σ²) with a Gaussian prior N(μp, σp²) shared by the tensor
 * (Graves 2011; Blundell et al. 2015, "Bayes by Backprop"). The KL is the closed form; the prior's μp and σp² are
 * non-trainable layer weights, so an empirical-Bayes prior saves and loads with the model.
 */
export class GaussianPosterior implements PosteriorFamily {
  static readonly familyName = 'gaussian';
  readonly familyName = GaussianPosterior.familyName;
  private readonly sigmaMode: SigmaParametrisation;
  private readonly rule: EmpiricalBayesRule;
  private readonly initLogSigma2: number;
  private readonly initStd: number | undefined;
  private readonly priorMean0: number;
  private readonly priorStd0: number;
  private mu?: tf.LayerVariable;
  private sigmaParam?: tf.LayerVariable;
  private priorMeanVar?: tf.LayerVariable;
  private priorVarianceVar?: tf.LayerVariable;

  constructor(options: Readonly<Record<string, FamilyOptionValue>> = {}) {
    this.sigmaMode = choiceOption(options, 'sigma', ['softplus', 'exp'] as const, 'softplus');
    this.rule = choiceOption(
      options,
      'empiricalBayes',
      ['none', 'moments', 'evidence', 'evidence-with-mean'] as const,
      'none',
    );
    this.initLogSigma2 = numberOption(options, 'initLogSigma2', -10);
    const initStd = options.initStd;
    this.initStd = typeof initStd === 'number' ? initStd : undefined;
    this.priorMean0 = numberOption(options, 'priorMean', 0);
    this.priorStd0 = numberOption(options, 'priorStd', 1);
    requireConfig(this.priorStd0 > 0, `gaussian family: priorStd must be positive, got ${this.priorStd0}`);
  }

  getOptions(): Record<string, FamilyOptionValue> {
    const options: Record<string, FamilyOptionValue> = {
      sigma: this.sigmaMode,
      priorMean: this.priorMean0,
      priorStd: this.priorStd0,
      empiricalBayes: this.rule,
      initLogSigma2: this.initLogSigma2,
    };
    if (this.initStd !== undefined) options.initStd = this.initStd;
    return options;
  }

  build(context: FamilyBuildContext): void {
    const seed = getGlobalRandom().tfSeed();
    const meanInit = meanInitializer(this.initStd, seed);
    this.mu = context.addWeight(`${context.name}_mu`, context.shape, meanInit, true);
    const paramName = this.sigmaMode === 'softplus' ? 'rho' : 'log_sigma';
    this.sigmaParam = context.addWeight(
      `${context.name}_${paramName}`,
      context.shape,
      tf.initializers.constant({ value: this.sigmaParamFor(this.initLogSigma2) }),
      true,
    );
    this.priorMeanVar = context.addWeight(
      `${context.name}_prior_mean`,
      [],
      tf.initializers.constant({ value: this.priorMean0 }),
      false,
    );
    this.priorVarianceVar = context.addWeight(
      `${context.name}_prior_variance`,
      [],
      tf.initializers.constant({ value: this.priorStd0 * this.priorStd0 }),
      false,
    );
  }

  /** The value of the σ parameter that gives log σ² = `logSigma2`. */
  private sigmaParamFor(logSigma2: number): number {
    const sigma = Math.exp(logSigma2 / 2);
    // softplus⁻¹(σ) = log(expm1(σ)); for tiny σ, expm1(σ) ≈ σ keeps full precision.
    return this.sigmaMode === 'softplus' ? Math.log(Math.expm1(sigma)) : Math.log(sigma);
  }

  private vars(): { mu: tf.Tensor; param: tf.Tensor } {
    if (!this.mu || !this.sigmaParam) throw new Error('GaussianPosterior used before build()');
    return { mu: this.mu.read(), param: this.sigmaParam.read() };
  }

  /** Posterior standard deviation σ. */
  std(): tf.Tensor {
    const { param } = this.vars();
    return this.sigmaMode === 'softplus' ? tf.softplus(param) : tf.exp(param);
  }

  /** Current prior mean and variance (scalars). */
  prior(): { mean: tf.Scalar; variance: tf.Scalar } {
    if (!this.priorMeanVar || !this.priorVarianceVar)
      throw new Error('GaussianPosterior used before build()');
    return {
      mean: this.priorMeanVar.read() as tf.Scalar,
      variance: this.priorVarianceVar.read() as tf.Scalar,
    };
  }

  mean(): tf.Tensor {
    return this.vars().mu.clone();
  }

  variance(): tf.Tensor {
    return tf.tidy(() => tf.square(this.std()));
  }

  localMoments(): GaussianMoments {
    return { mean: this.mean(), variance: this.variance() };
  }

  sample(random: Random): tf.Tensor {
    return tf.tidy(() => {
      const { mu } = this.vars();
      return tf.add(mu, tf.mul(this.std(), standardNormal(mu.shape, random)));
    });
  }

  kl(): tf.Scalar {
    return tf.tidy(() => {
      const prior = this.prior();
      return gaussianKl(this.vars().mu, this.variance(), prior.mean, prior.variance);
    });
  }

  logPosterior(w: tf.Tensor): tf.Scalar {
    return tf.tidy(() => gaussianLogDensity(w, this.vars().mu, this.variance()));
  }

  logPrior(w: tf.Tensor): tf.Scalar {
    return tf.tidy(() => {
      const prior = this.prior();
      return gaussianLogDensity(w, prior.mean, prior.variance);
    });
  }

  /** log(σ²/μ²): the inverse squared signal-to-noise ratio, whose threshold gives Graves' pruning rule |μ/σ| < λ. */
  logAlpha(): tf.Tensor {
    return tf.tidy(() => tf.sub(tf.log(this.variance()), tf.log(tf.add(tf.square(this.vars().mu), 1e-8))));
  }

  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void {
    if (!this.mu || !this.sigmaParam) throw new Error('GaussianPosterior used before build()');
    const param = this.sigmaParam;
    this.mu.write(values);
    tf.tidy(() => {
      const target = typeof logSigma2 === 'number' ? tf.fill(values.shape, logSigma2) : logSigma2;
      const sigma = tf.exp(tf.mul(0.5, target));
      // softplus⁻¹(σ) = log(expm1(σ)) = σ + log(1 − e^(−σ)); the second form avoids overflow for large σ.
      const raw =
        this.sigmaMode === 'softplus'
          ? tf.add(sigma, tf.log(tf.sub(1, tf.exp(tf.neg(sigma)))))
          : tf.log(sigma);
      param.write(raw);
    });
  }

  updatePrior(): void {
    if (this.rule === 'none' || !this.priorMeanVar || !this.priorVarianceVar) return;
    const rule = this.rule;
    const meanVar = this.priorMeanVar;
    const varianceVar = this.priorVarianceVar;
    tf.tidy(() => {
      const mu = this.vars().mu;
      const muMean = tf.mean(mu);
      let priorMean: tf.Tensor = rule === 'evidence' ? meanVar.read() : muMean;
      const spread = tf.mean(tf.square(tf.sub(mu, priorMean)));
      const variance = rule === 'moments' ? spread : tf.add(spread, tf.mean(this.variance()));
      priorMean = priorMean.clone();
      meanVar.write(priorMean);
      varianceVar.write(tf.maximum(variance, MIN_PRIOR_VARIANCE));
    });
  }
}

registerPosteriorFamily(GaussianPosterior.familyName, (options) => new GaussianPosterior(options));
