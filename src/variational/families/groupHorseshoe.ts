import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../../runtime/random.js';
import { requireConfig } from '../../util/errors.js';
import { gaussianKl } from '../gaussianKl.js';
import { LOG_ALPHA_CLIP } from '../logUniformKl.js';
import { standardNormal } from '../noise.js';
import {
  broadcastGroups,
  groupAxisOption,
  type GroupAxisChoice,
  type GroupLayout,
  type GroupPosteriorFamily,
  placeGroupScales,
  resolveGroupLayout,
} from './groupStructure.js';
import { logNormalGammaKl, logNormalInverseGammaKl } from './logNormalKl.js';
import {
  type FamilyBuildContext,
  type FamilyOptionValue,
  type FamilySpec,
  type GaussianMoments,
  type GroupScales,
  meanInitializer,
  numberOption,
  registerPosteriorFamily,
} from './posteriorFamily.js';

/** Options of the group horseshoe family. */
export interface GroupHorseshoeOptions {
  /** Scale τ₀ of the global half-Cauchy prior s ~ C⁺(0, τ₀). Default 1e-5 (Louizos et al. 2017, experiments). */
  readonly tau0?: number;
  /** Axis the local scales are shared along. Default `auto` (input neurons for dense, output filters for conv). */
  readonly groupAxis?: GroupAxisChoice;
  /** Initial log σ² of the weights w̃ (drawn N(value, 0.01²)). Default −9. */
  readonly initLogSigma2?: number;
  /** Standard deviation of the N(0, s²) initialisation of the means of w̃; Glorot-normal when absent. */
  readonly initStd?: number;
  /** Initial log-space variance log σ² of the four log-normal scale posteriors. Default −9. */
  readonly initScaleLogSigma2?: number;
  /** The group log α is clipped to [−c, c] for pruning. Default 10. */
  readonly logAlphaClip?: number;
}

/** A {@link FamilySpec} for the group horseshoe family (`group-hs`). */
export function groupHorseshoeFamily(options: GroupHorseshoeOptions = {}): FamilySpec {
  return { name: GroupHorseshoePosterior.familyName, options: { ...options } };
}

/** Shape 0.5 of the (inverse) gamma factors of the half-Cauchy (Louizos et al. 2017, eq. 13–14). */
const HALF = 0.5;
const INIT_SPREAD = 0.01;

/** expm1(x) for x ≥ 0 without the float32 cancellation of exp(x) − 1 near 0. */
function expm1(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const series = tf.mul(x, tf.add(1, tf.mul(x, tf.add(0.5, tf.div(x, 6)))));
    return tf.where(tf.less(x, 1e-2), series, tf.sub(tf.exp(x), 1));
  });
}

/** The variables of the family, read for differentiation. */
interface HorseshoeVars {
  readonly mu: tf.Tensor;
  readonly logSigma2: tf.Tensor;
  readonly saMu: tf.Tensor;
  readonly saLogSigma2: tf.Tensor;
  readonly sbMu: tf.Tensor;
  readonly sbLogSigma2: tf.Tensor;
  readonly alphaMu: tf.Tensor;
  readonly alphaLogSigma2: tf.Tensor;
  readonly betaMu: tf.Tensor;
  readonly betaLogSigma2: tf.Tensor;
}

/** Log-space moments of z² = s_a·s_b·α̃·β̃: a global part (shared by the groups) and a per-group part. */
interface ScaleLogMoments {
  readonly globalMean: tf.Scalar;
  readonly globalVariance: tf.Scalar;
  readonly localMean: tf.Tensor1D;
  readonly localVariance: tf.Tensor1D;
}

/**
 * Group horseshoe posterior of Bayesian Compression (Louizos, Ullrich & Welling 2017, §3.2, eq. 12–16; seed 003).
 *
 * Prior, non-centred: w = w̃·z with w̃ ~ N(0, 1) and the group scale z = s·z̃ a product of half-Cauchy variables,
 * s ~ C⁺(0, τ₀) global to the layer and z̃ᵢ ~ C⁺(0, 1) per group, each written as the square root of a product of a
 * gamma and an inverse gamma (shape ½): s² = s_a·s_b, s_a ~ G(½, scale τ₀²), s_b ~ IG(½, 1); z̃ᵢ² = α̃ᵢ·β̃ᵢ,
 * α̃ᵢ ~ G(½, 1), β̃ᵢ ~ IG(½, 1) (eq. 14). Posterior (eq. 15–16): log-normal q for s_a, s_b, α̃ᵢ, β̃ᵢ and a Gaussian
 * N(μ, σ²) for w̃. The KL is the sum of the closed forms of {@link logNormalGammaKl}/{@link logNormalInverseGammaKl}
 * and Σ KL(N(μ, σ²) ‖ N(0, 1)).
 *
 * Since the product of log-normals is log-normal, log zᵢ² = log s_a + log s_b + log α̃ᵢ + log β̃ᵢ is Gaussian:
 * {@link sampleGroupScales} draws the global part once per example and the group parts per example and group, which is
 * the exact joint q of the scales (the groups stay correlated through s), and the layer's linear map then sees w̃ with
 * {@link localMoments} (local reparameterisation). Marginals, with zᵢ log-normal:
 * E[w] = μ·E[z], Var[w] = E[z²](μ² + σ²) − μ²E[z]².
 *
 * Pruning: the group log α is log Var[zᵢ] − log E[zᵢ]² = log(exp(Var log zᵢ) − 1), the same "dropout rate" of the
 * group as for the normal-Jeffreys family. A group the data does not need relaxes to its prior (Var log z̃ᵢ ≥ 1 at
 * the prior-matching optimum, log α ≳ 0.5), so a threshold near 0 separates used and unused groups;
 * {@link groupScaleMean} gives E[zᵢ] for magnitude-based rules. Initialisation: each log-normal starts at the minimum
 * of its own KL in μ with E[log z²] = 0 overall (z ≈ 1), i.e. log s_a = log(τ₀²/2) balanced by log s_b = −log s_a.
 */
export class GroupHorseshoePosterior implements GroupPosteriorFamily {
  static readonly familyName = 'group-hs';
  readonly familyName = GroupHorseshoePosterior.familyName;
  private readonly tau0: number;
  private readonly groupAxis: GroupAxisChoice;
  private readonly initLogSigma2: number;
  private readonly initStd: number | undefined;
  private readonly initScaleLogSigma2: number;
  private readonly clip: number;
  private layoutValue?: GroupLayout;
  private variables?: Record<keyof HorseshoeVars, tf.LayerVariable>;

  constructor(options: Readonly<Record<string, FamilyOptionValue>> = {}) {
    this.tau0 = numberOption(options, 'tau0', 1e-5);
    requireConfig(this.tau0 > 0, `group-hs family: tau0 must be positive, got ${this.tau0}`);
    this.groupAxis = groupAxisOption(options);
    this.initLogSigma2 = numberOption(options, 'initLogSigma2', -9);
    const initStd = options.initStd;
    this.initStd = typeof initStd === 'number' ? initStd : undefined;
    this.initScaleLogSigma2 = numberOption(options, 'initScaleLogSigma2', -9);
    this.clip = numberOption(options, 'logAlphaClip', LOG_ALPHA_CLIP);
  }

  getOptions(): Record<string, FamilyOptionValue> {
    const options: Record<string, FamilyOptionValue> = {
      tau0: this.tau0,
      groupAxis: this.groupAxis,
      initLogSigma2: this.initLogSigma2,
      initScaleLogSigma2: this.initScaleLogSigma2,
      logAlphaClip: this.clip,
    };
    if (this.initStd !== undefined) options.initStd = this.initStd;
    return options;
  }

  /** Initial log-space means of the scale posteriors (see the class comment). */
  private initialScaleMeans(): { sa: number; sb: number; alpha: number; beta: number } {
    const sa = Math.log(HALF * this.tau0 * this.tau0);
    return { sa, sb: -sa, alpha: Math.log(HALF), beta: -Math.log(HALF) };
  }

  build(context: FamilyBuildContext): void {
    const layout = resolveGroupLayout(context, this.groupAxis, this.familyName);
    this.layoutValue = layout;
    const random = getGlobalRandom();
    const meanInit = meanInitializer(this.initStd, random.tfSeed());
    const constant = (value: number) => tf.initializers.constant({ value });
    const means = this.initialScaleMeans();
    const add = (suffix: string, shape: readonly number[], init: ReturnType<typeof constant>) =>
      context.addWeight(`${context.name}_${suffix}`, shape, init, true);
    const g = [layout.count];
    this.variables = {
      mu: add('mu', context.shape, meanInit),
      logSigma2: add(
        'log_sigma2',
        context.shape,
        tf.initializers.randomNormal({
          mean: this.initLogSigma2,
          stddev: INIT_SPREAD,
          seed: random.tfSeed(),
        }),
      ),
      saMu: add('sa_mu', [], constant(means.sa)),
      saLogSigma2: add('sa_log_sigma2', [], constant(this.initScaleLogSigma2)),
      sbMu: add('sb_mu', [], constant(means.sb)),
      sbLogSigma2: add('sb_log_sigma2', [], constant(this.initScaleLogSigma2)),
      alphaMu: add('alpha_mu', g, constant(means.alpha)),
      alphaLogSigma2: add('alpha_log_sigma2', g, constant(this.initScaleLogSigma2)),
      betaMu: add('beta_mu', g, constant(means.beta)),
      betaLogSigma2: add('beta_log_sigma2', g, constant(this.initScaleLogSigma2)),
    };
  }

  /** Where the groups are (axis, count, and whether the scales act on the layer's input or output). */
  layout(): GroupLayout {
    if (!this.layoutValue) throw new Error('GroupHorseshoePosterior used before build()');
    return this.layoutValue;
  }

  private vars(): HorseshoeVars {
    const v = this.variables;
    if (!v) throw new Error('GroupHorseshoePosterior used before build()');
    return {
      mu: v.mu.read(),
      logSigma2: v.logSigma2.read(),
      saMu: v.saMu.read(),
      saLogSigma2: v.saLogSigma2.read(),
      sbMu: v.sbMu.read(),
      sbLogSigma2: v.sbLogSigma2.read(),
      alphaMu: v.alphaMu.read(),
      alphaLogSigma2: v.alphaLogSigma2.read(),
      betaMu: v.betaMu.read(),
      betaLogSigma2: v.betaLogSigma2.read(),
    };
  }

  /** Gaussian moments of log s_a + log s_b (global) and of log α̃ᵢ + log β̃ᵢ (per group). */
  scaleLogMoments(): ScaleLogMoments {
    return tf.tidy(() => {
      const v = this.vars();
      return {
        globalMean: tf.add(v.saMu, v.sbMu) as tf.Scalar,
        globalVariance: tf.add(tf.exp(v.saLogSigma2), tf.exp(v.sbLogSigma2)) as tf.Scalar,
        localMean: tf.add(v.alphaMu, v.betaMu) as tf.Tensor1D,
        localVariance: tf.add(tf.exp(v.alphaLogSigma2), tf.exp(v.betaLogSigma2)) as tf.Tensor1D,
      };
    });
  }

  /** Mean m and variance v of log zᵢ² per group, `[groups]` each. */
  private logScaleSquared(): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
    const m = this.scaleLogMoments();
    return {
      mean: tf.add(m.globalMean, m.localMean) as tf.Tensor1D,
      variance: tf.add(m.globalVariance, m.localVariance) as tf.Tensor1D,
    };
  }

  /** E[zᵢ] = exp(m/2 + v/8) per group, `[groups]` (log zᵢ ~ N(m/2, v/4)). */
  groupScaleMean(): tf.Tensor1D {
    return tf.tidy(() => {
      const { mean, variance } = this.logScaleSquared();
      return tf.exp(tf.add(tf.mul(0.5, mean), tf.mul(0.125, variance))) as tf.Tensor1D;
    });
  }

  /** Group log α = log(Var[zᵢ]/E[zᵢ]²) = log(exp(v/4) − 1), clipped, `[groups]`. */
  groupLogAlpha(): tf.Tensor1D {
    return tf.tidy(() => {
      const { variance } = this.logScaleSquared();
      return tf.clipByValue(tf.log(expm1(tf.mul(0.25, variance))), -this.clip, this.clip) as tf.Tensor1D;
    });
  }

  /** 1 for groups kept (log α < threshold), 0 for pruned groups, `[groups]`. */
  groupKeepMask(threshold: number): tf.Tensor1D {
    return tf.tidy(() => tf.cast(tf.less(this.groupLogAlpha(), threshold), 'float32') as tf.Tensor1D);
  }

  mean(): tf.Tensor {
    return tf.tidy(() => tf.mul(broadcastGroups(this.groupScaleMean(), this.layout()), this.vars().mu));
  }

  variance(): tf.Tensor {
    return tf.tidy(() => {
      const { mu, logSigma2 } = this.vars();
      const { variance } = this.logScaleSquared();
      const layout = this.layout();
      const zMean2 = broadcastGroups(tf.square(this.groupScaleMean()), layout);
      const excess = broadcastGroups(expm1(tf.mul(0.25, variance)), layout);
      const sigma2 = tf.exp(logSigma2);
      // E[z²](μ² + σ²) − μ²E[z]² = E[z]²((e^{v/4} − 1)(μ² + σ²) + σ²), without cancellation.
      return tf.mul(zMean2, tf.add(tf.mul(excess, tf.add(tf.square(mu), sigma2)), sigma2));
    });
  }

  /** Moments of w̃ = w / z: the weights the layer's linear map sees after the group scales are applied. */
  localMoments(): GaussianMoments {
    const { mu, logSigma2 } = this.vars();
    return { mean: mu.clone(), variance: tf.exp(logSigma2) };
  }

  /** zᵢ = exp(½ log zᵢ²) per example and group, the global part of log z² shared across groups, `[batch, groups]`. */
  sampleGroupScales(batchSize: number, random: Random): GroupScales {
    const layout = this.layout();
    const z = tf.tidy(() => {
      const m = this.scaleLogMoments();
      const global = tf.add(
        m.globalMean,
        tf.mul(tf.sqrt(m.globalVariance), standardNormal([batchSize, 1], random)),
      );
      const local = tf.add(
        m.localMean,
        tf.mul(tf.sqrt(m.localVariance), standardNormal([batchSize, layout.count], random)),
      );
      return tf.exp(tf.mul(0.5, tf.add(global, local))) as tf.Tensor2D;
    });
    return placeGroupScales(z, layout);
  }

  sample(random: Random): tf.Tensor {
    return tf.tidy(() => {
      const { mu, logSigma2 } = this.vars();
      const m = this.scaleLogMoments();
      const layout = this.layout();
      const global = tf.add(m.globalMean, tf.mul(tf.sqrt(m.globalVariance), standardNormal([], random)));
      const local = tf.add(
        m.localMean,
        tf.mul(tf.sqrt(m.localVariance), standardNormal([layout.count], random)),
      );
      const z = tf.exp(tf.mul(0.5, tf.add(global, local)));
      const wTilde = tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logSigma2)), standardNormal(mu.shape, random)));
      return tf.mul(broadcastGroups(z, layout), wTilde);
    });
  }

  /** The four KL terms of the scales, each summed (for diagnostics and tests). */
  scaleKlTerms(): { sa: tf.Scalar; sb: tf.Scalar; alpha: tf.Scalar; beta: tf.Scalar } {
    return tf.tidy(() => {
      const v = this.vars();
      return {
        sa: logNormalGammaKl(v.saMu, v.saLogSigma2, HALF, this.tau0 * this.tau0),
        sb: logNormalInverseGammaKl(v.sbMu, v.sbLogSigma2, HALF, 1),
        alpha: logNormalGammaKl(v.alphaMu, v.alphaLogSigma2, HALF, 1),
        beta: logNormalInverseGammaKl(v.betaMu, v.betaLogSigma2, HALF, 1),
      };
    });
  }

  kl(): tf.Scalar {
    return tf.tidy(() => {
      const { mu, logSigma2 } = this.vars();
      const t = this.scaleKlTerms();
      const weights = gaussianKl(mu, tf.exp(logSigma2), 0, 1);
      return tf.addN([t.sa, t.sb, t.alpha, t.beta, weights]) as tf.Scalar;
    });
  }

  /** The group log α broadcast over the kernel: pruning by it removes whole groups. */
  logAlpha(): tf.Tensor {
    return tf.tidy(() =>
      tf.broadcastTo(broadcastGroups(this.groupLogAlpha(), this.layout()), this.layout().shape.slice()),
    );
  }

  /** Per-weight log Var[w] − log(E[w]² + 1e-8) from the log-normal marginals. */
  marginalLogAlpha(): tf.Tensor {
    return tf.tidy(() => tf.sub(tf.log(this.variance()), tf.log(tf.add(tf.square(this.mean()), 1e-8))));
  }

  /**
   * Starts from given weights: the scale posteriors return to their initial values (z ≈ 1), μ = values / E[z] and
   * σ² = exp(logSigma2) / E[z²], so E[w] = values and Var[w] ≈ exp(logSigma2).
   */
  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void {
    const v = this.variables;
    if (!v) throw new Error('GroupHorseshoePosterior used before build()');
    const count = this.layout().count;
    const means = this.initialScaleMeans();
    tf.tidy(() => {
      v.saMu.write(tf.scalar(means.sa));
      v.sbMu.write(tf.scalar(means.sb));
      v.alphaMu.write(tf.fill([count], means.alpha));
      v.betaMu.write(tf.fill([count], means.beta));
      for (const key of ['saLogSigma2', 'sbLogSigma2'] as const)
        v[key].write(tf.scalar(this.initScaleLogSigma2));
      for (const key of ['alphaLogSigma2', 'betaLogSigma2'] as const)
        v[key].write(tf.fill([count], this.initScaleLogSigma2));
      const layout = this.layout();
      const { variance } = this.logScaleSquared();
      const zMean = broadcastGroups(this.groupScaleMean(), layout);
      // log E[z²] = m + v/2 with m = 0 at the initial values.
      const logZ2 = broadcastGroups(tf.mul(0.5, variance), layout);
      v.mu.write(tf.div(values, zMean));
      const target = typeof logSigma2 === 'number' ? tf.fill(values.shape, logSigma2) : logSigma2;
      v.logSigma2.write(tf.sub(target, logZ2));
    });
  }
}

registerPosteriorFamily(
  GroupHorseshoePosterior.familyName,
  (options) => new GroupHorseshoePosterior(options),
);
