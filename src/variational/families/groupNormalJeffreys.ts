import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../../runtime/random.js';
import { gaussianKl } from '../gaussianKl.js';
import { LOG_ALPHA_CLIP, logUniformKl } from '../logUniformKl.js';
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

/** Options of the group normal-Jeffreys family. */
export interface GroupNormalJeffreysOptions {
  /** Axis the scales z are shared along. Default `auto` (input neurons for dense, output filters for conv). */
  readonly groupAxis?: GroupAxisChoice;
  /** Initial log σ² of the weights w̃ (drawn N(value, 0.01²)). Default −9 (Louizos et al. 2017 code). */
  readonly initLogSigma2?: number;
  /** Standard deviation of the N(0, s²) initialisation of the weight means; Glorot-normal when absent. */
  readonly initStd?: number;
  /** Mean of the N(m, 0.01²) initialisation of the group means μ_z. Default 1. */
  readonly initScaleMean?: number;
  /** Initial log σ_z² of the groups (drawn N(value, 0.01²)). Default −9. */
  readonly initScaleLogSigma2?: number;
  /** The group log α is clipped to [−c, c] in the KL and for pruning. Default 10. */
  readonly logAlphaClip?: number;
}

/** A {@link FamilySpec} for the group normal-Jeffreys family (`group-nj`). */
export function groupNormalJeffreysFamily(options: GroupNormalJeffreysOptions = {}): FamilySpec {
  return { name: GroupNormalJeffreysPosterior.familyName, options: { ...options } };
}

/** Spread of the random initialisation of μ_z and of the log variances (Louizos et al. 2017 code: N(·, 1e-2)). */
const INIT_SPREAD = 0.01;

/**
 * Group normal-Jeffreys posterior of Bayesian Compression (Louizos, Ullrich & Welling 2017, §3.1, eq. 5–7, 10–11).
 *
 * Prior: p(z) ∝ 1/|z| per group, p(w | z) = N(0, z²) — the log-uniform prior on w written as a scale mixture, with
 * one scale z shared by every weight of a group (an input neuron of a dense kernel, an output filter of a convolution
 * by default; see {@link GroupAxisChoice}). Posterior: q(z) = N(μ_z, σ_z²), q(w | z) = N(z·μ, z²σ²), i.e. w = z·w̃ with
 * w̃ ~ N(μ, σ²). The KL of eq. 7 is
 *
 *   KL = Σ_groups KL_LU(log α) + Σ_weights ½(−log σ² + σ² + μ² − 1),   log α = log σ_z² − log(μ_z² + 1e-8),
 *
 * the first term being the Sparse VD approximation (Molchanov et al. 2017, eq. 14) of KL(q(z) ‖ p(z)) and the second
 * KL(q(w | z) ‖ p(w | z)) = KL(N(μ, σ²) ‖ N(0, 1)), which does not depend on z.
 *
 * Local reparameterisation: {@link sampleGroupScales} draws z per example, and conditionally on z the layer's linear
 * map sees Gaussian weights w̃ with {@link localMoments} (μ, σ²) — the scales multiply the input channels (input
 * groups) or the outputs (output groups). Marginals (eq. 10–11): E[w] = μ_z·μ, Var[w] = μ_z²σ² + σ_z²μ² + σ_z²σ².
 *
 * Pruning: {@link logAlpha} is the group log α broadcast over the kernel, so a layer's `pruned-mean` prediction is
 * eq. 10 (whole groups removed). The paper keeps a group when log α < a threshold around −3 (e.g. −2.8, −3, −5 for
 * LeNet-300-100), much lower than Sparse VD's per-weight threshold 3; set the layer's `pruneThreshold` accordingly.
 */
export class GroupNormalJeffreysPosterior implements GroupPosteriorFamily {
  static readonly familyName = 'group-nj';
  readonly familyName = GroupNormalJeffreysPosterior.familyName;
  private readonly groupAxis: GroupAxisChoice;
  private readonly initLogSigma2: number;
  private readonly initStd: number | undefined;
  private readonly initScaleMean: number;
  private readonly initScaleLogSigma2: number;
  private readonly clip: number;
  private layoutValue?: GroupLayout;
  private mu?: tf.LayerVariable;
  private logSigma2?: tf.LayerVariable;
  private scaleMu?: tf.LayerVariable;
  private scaleLogSigma2?: tf.LayerVariable;

  constructor(options: Readonly<Record<string, FamilyOptionValue>> = {}) {
    this.groupAxis = groupAxisOption(options);
    this.initLogSigma2 = numberOption(options, 'initLogSigma2', -9);
    const initStd = options.initStd;
    this.initStd = typeof initStd === 'number' ? initStd : undefined;
    this.initScaleMean = numberOption(options, 'initScaleMean', 1);
    this.initScaleLogSigma2 = numberOption(options, 'initScaleLogSigma2', -9);
    this.clip = numberOption(options, 'logAlphaClip', LOG_ALPHA_CLIP);
  }

  getOptions(): Record<string, FamilyOptionValue> {
    const options: Record<string, FamilyOptionValue> = {
      groupAxis: this.groupAxis,
      initLogSigma2: this.initLogSigma2,
      initScaleMean: this.initScaleMean,
      initScaleLogSigma2: this.initScaleLogSigma2,
      logAlphaClip: this.clip,
    };
    if (this.initStd !== undefined) options.initStd = this.initStd;
    return options;
  }

  build(context: FamilyBuildContext): void {
    const layout = resolveGroupLayout(context, this.groupAxis, this.familyName);
    this.layoutValue = layout;
    const random = getGlobalRandom();
    const meanInit = meanInitializer(this.initStd, random.tfSeed());
    const around = (mean: number) =>
      tf.initializers.randomNormal({ mean, stddev: INIT_SPREAD, seed: random.tfSeed() });
    this.mu = context.addWeight(`${context.name}_mu`, context.shape, meanInit, true);
    this.logSigma2 = context.addWeight(
      `${context.name}_log_sigma2`,
      context.shape,
      around(this.initLogSigma2),
      true,
    );
    this.scaleMu = context.addWeight(
      `${context.name}_z_mu`,
      [layout.count],
      around(this.initScaleMean),
      true,
    );
    this.scaleLogSigma2 = context.addWeight(
      `${context.name}_z_log_sigma2`,
      [layout.count],
      around(this.initScaleLogSigma2),
      true,
    );
  }

  /** Where the groups are (axis, count, and whether the scales act on the layer's input or output). */
  layout(): GroupLayout {
    if (!this.layoutValue) throw new Error('GroupNormalJeffreysPosterior used before build()');
    return this.layoutValue;
  }

  private vars(): { mu: tf.Tensor; logSigma2: tf.Tensor; scaleMu: tf.Tensor; scaleLogSigma2: tf.Tensor } {
    if (!this.mu || !this.logSigma2 || !this.scaleMu || !this.scaleLogSigma2)
      throw new Error('GroupNormalJeffreysPosterior used before build()');
    return {
      mu: this.mu.read(),
      logSigma2: this.logSigma2.read(),
      scaleMu: this.scaleMu.read(),
      scaleLogSigma2: this.scaleLogSigma2.read(),
    };
  }

  /** Posterior means μ_z of the group scales, `[groups]`. */
  groupScaleMean(): tf.Tensor1D {
    return this.vars().scaleMu.clone() as tf.Tensor1D;
  }

  /** Posterior variances σ_z² of the group scales, `[groups]`. */
  groupScaleVariance(): tf.Tensor1D {
    return tf.exp(this.vars().scaleLogSigma2) as tf.Tensor1D;
  }

  /** Group log α = log σ_z² − log(μ_z² + 1e-8), clipped, `[groups]` (the group's dropout rate, eq. 6). */
  groupLogAlpha(): tf.Tensor1D {
    return tf.tidy(() => {
      const { scaleMu, scaleLogSigma2 } = this.vars();
      const raw = tf.sub(scaleLogSigma2, tf.log(tf.add(tf.square(scaleMu), 1e-8)));
      return tf.clipByValue(raw, -this.clip, this.clip) as tf.Tensor1D;
    });
  }

  /** 1 for groups kept (log α < threshold), 0 for pruned groups, `[groups]`. */
  groupKeepMask(threshold: number): tf.Tensor1D {
    return tf.tidy(() => tf.cast(tf.less(this.groupLogAlpha(), threshold), 'float32') as tf.Tensor1D);
  }

  mean(): tf.Tensor {
    return tf.tidy(() => {
      const { mu, scaleMu } = this.vars();
      return tf.mul(broadcastGroups(scaleMu, this.layout()), mu);
    });
  }

  variance(): tf.Tensor {
    return tf.tidy(() => {
      const { mu, logSigma2, scaleMu, scaleLogSigma2 } = this.vars();
      const layout = this.layout();
      const zMean2 = broadcastGroups(tf.square(scaleMu), layout);
      const zVar = broadcastGroups(tf.exp(scaleLogSigma2), layout);
      const sigma2 = tf.exp(logSigma2);
      // Louizos et al. 2017, eq. 11: σ_z²(σ² + μ²) + μ_z²σ².
      return tf.add(tf.mul(zVar, tf.add(sigma2, tf.square(mu))), tf.mul(zMean2, sigma2));
    });
  }

  /** Moments of w̃ = w / z: the weights the layer's linear map sees after the group scales are applied. */
  localMoments(): GaussianMoments {
    const { mu, logSigma2 } = this.vars();
    return { mean: mu.clone(), variance: tf.exp(logSigma2) };
  }

  /** z ~ N(μ_z, σ_z²) independently per example and group, `[batch, groups]`, on the layout's side. */
  sampleGroupScales(batchSize: number, random: Random): GroupScales {
    const layout = this.layout();
    const z = tf.tidy(() => {
      const { scaleMu, scaleLogSigma2 } = this.vars();
      const noise = standardNormal([batchSize, layout.count], random);
      return tf.add(scaleMu, tf.mul(tf.exp(tf.mul(0.5, scaleLogSigma2)), noise)) as tf.Tensor2D;
    });
    return placeGroupScales(z, layout);
  }

  sample(random: Random): tf.Tensor {
    return tf.tidy(() => {
      const { mu, logSigma2, scaleMu, scaleLogSigma2 } = this.vars();
      const layout = this.layout();
      const z = tf.add(
        scaleMu,
        tf.mul(tf.exp(tf.mul(0.5, scaleLogSigma2)), standardNormal([layout.count], random)),
      );
      const wTilde = tf.add(mu, tf.mul(tf.exp(tf.mul(0.5, logSigma2)), standardNormal(mu.shape, random)));
      return tf.mul(broadcastGroups(z, layout), wTilde);
    });
  }

  kl(): tf.Scalar {
    return tf.tidy(() => {
      const { mu, logSigma2 } = this.vars();
      const groups = logUniformKl(this.groupLogAlpha());
      const weights = gaussianKl(mu, tf.exp(logSigma2), 0, 1);
      return tf.add(groups, weights) as tf.Scalar;
    });
  }

  /** The group log α broadcast over the kernel: pruning by it removes whole groups (eq. 10). */
  logAlpha(): tf.Tensor {
    return tf.tidy(() => {
      const shape = this.layout().shape.slice();
      return tf.broadcastTo(broadcastGroups(this.groupLogAlpha(), this.layout()), shape);
    });
  }

  /** Per-weight log Var[w] − log(E[w]² + 1e-8) from the marginals of eq. 11 (e.g. for per-weight diagnostics). */
  marginalLogAlpha(): tf.Tensor {
    return tf.tidy(() => tf.sub(tf.log(this.variance()), tf.log(tf.add(tf.square(this.mean()), 1e-8))));
  }

  /**
   * Starts from given weights: μ_z = 1 and log σ_z² = `initScaleLogSigma2` for every group, μ = `values`,
   * log σ² = `logSigma2`, so E[w] = `values` and Var[w] ≈ exp(logSigma2) (plus σ_z²·values², tiny at init).
   */
  initialise(values: tf.Tensor, logSigma2: number | tf.Tensor): void {
    if (!this.mu || !this.logSigma2 || !this.scaleMu || !this.scaleLogSigma2)
      throw new Error('GroupNormalJeffreysPosterior used before build()');
    const count = this.layout().count;
    const [mu, logSigma2Var, scaleMu, scaleLogSigma2] = [
      this.mu,
      this.logSigma2,
      this.scaleMu,
      this.scaleLogSigma2,
    ];
    tf.tidy(() => {
      mu.write(values.clone());
      logSigma2Var.write(
        typeof logSigma2 === 'number' ? tf.fill(values.shape, logSigma2) : logSigma2.clone(),
      );
      scaleMu.write(tf.ones([count]));
      scaleLogSigma2.write(tf.fill([count], this.initScaleLogSigma2));
    });
  }
}

registerPosteriorFamily(
  GroupNormalJeffreysPosterior.familyName,
  (options) => new GroupNormalJeffreysPosterior(options),
);
