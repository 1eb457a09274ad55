import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getGlobalRandom, type Random } from '../runtime/random.js';
import { writeFilesAtomic } from '../util/atomic-write.js';
import { BayescompError, requireConfig } from '../util/errors.js';
import {
  addCurvature,
  cloneCurvature,
  emptyCurvature,
  type HessianStructure,
} from './curvature/curvature.js';
import { accumulateFromBatches, emptyStats } from './curvature/curvatureFromBatches.js';
import { type LayerSubset, splitByLayer } from './curvature/layerJacobian.js';
import { type LaplaceData, inferLikelihood, laplaceBatches } from './laplaceData.js';
import {
  type CurvatureType,
  curvatureScale,
  dataLogLikelihood,
  type LaplaceLikelihood,
  unitCotangents,
} from './likelihood.js';
import { laplaceLogMarginalLikelihood, maximise1d } from './marginalLikelihood.js';
import { type LaplaceLayout, laplaceLayout, readParameters } from './model/laplaceLayers.js';
import { disposeQuantities, preactivationGradients } from './model/preactivationGradients.js';
import { monteCarloSoftmax, probitSoftmaxFromVariance } from './predictive/outputSamplers.js';
import { sampledNetworkLogits } from './predictive/sampledNetworks.js';
import { laplacePruningScores, type LaplacePruningScores } from './pruning.js';
import { decodeLaplaceState, encodeLaplaceState, type LaplaceState } from './serialization.js';
import { diagonalPosterior, expandLayerPrior } from './structures/diagonalPosterior.js';
import { fullPosterior } from './structures/fullPosterior.js';
import {
  type KroneckerEigen,
  kroneckerEigen,
  kroneckerPosterior,
  type KroneckerPrior,
} from './structures/kroneckerPosterior.js';
import type { PosteriorStructure } from './structures/posteriorStructure.js';
import { isSubnetwork, resolveSubset, type WeightSubset } from './subset.js';
import { checkFullCovarianceSize } from './fullCovarianceLimit.js';
import { exampleChunks } from './exampleChunks.js';

/** Options of {@link fitLaplace}. */
export interface FitLaplaceOptions {
  /** Default: classification for integer labels, regression otherwise. */
  readonly likelihood?: LaplaceLikelihood;
  /** How the precision is stored: 'diag', 'kron' (default) or 'full' (required for subnetworks of chosen weights). */
  readonly hessian?: HessianStructure;
  /** Generalised Gauss–Newton (default) or empirical Fisher. */
  readonly curvature?: CurvatureType;
  /** Which weights are Bayesian (default 'all'); the rest stay at MAP. */
  readonly subset?: WeightSubset;
  /** Prior precision λ, one value or one per covered layer (model order). Default 1. */
  readonly priorPrecision?: number | readonly number[];
  /** How the prior enters a Kronecker precision (default 'exact'). */
  readonly kronPrior?: KroneckerPrior;
  /** Regression observation noise standard deviation σ (default 1). */
  readonly sigma?: number;
  /** Examples per curvature batch (default 64; the batch is tiled once per output class). */
  readonly batchSize?: number;
  /** Rescale a subnetwork's prior precision to λ·S/D (Daxberger et al. 2021, seed 002 §5). Default true. */
  readonly subnetworkPriorScaling?: boolean;
  /**
   * Largest memory a `hessian: 'full'` fit may hold (24·S² bytes for S covered parameters, see
   * `fullCovarianceBytes`); larger fits are refused with a `resource-limit` error before allocating. Default 1 GiB.
   */
  readonly maxFullCovarianceBytes?: number;
}

/** Options of {@link LaplacePosterior.predict}. */
export interface LaplacePredictOptions {
  /** 'glm' (default): the linearised network f(x;θ*) + J(θ−θ*); 'nn': Monte-Carlo over sampled networks. */
  readonly method?: 'glm' | 'nn';
  /** For 'glm' classification: 'probit' (default) or 'mc' over the Gaussian logits. */
  readonly link?: 'probit' | 'mc';
  /** Monte-Carlo samples (default 100). */
  readonly samples?: number;
  readonly random?: Random;
  /** Examples per forward/backward batch (default 64). */
  readonly batchSize?: number;
}

/** Options of {@link LaplacePosterior.optimizePriorPrecision}. */
export interface PriorOptimisationOptions {
  /** 'marglik' (default): maximise the Laplace evidence; 'gridsearch': minimise a validation set's NLL. */
  readonly method?: 'marglik' | 'gridsearch';
  /** One prior precision per covered layer instead of one overall (marglik only). */
  readonly perLayer?: boolean;
  /** Also fit the regression observation noise by the evidence (marglik only). */
  readonly optimizeSigma?: boolean;
  /** Search range of log10 λ (default [−4, 4]). */
  readonly logRange?: readonly [number, number];
  /** Validation data for 'gridsearch'. */
  readonly validation?: LaplaceData;
  /** Candidate λ values for 'gridsearch' (default 21 values log-spaced over logRange). */
  readonly grid?: readonly number[];
  /** Predictive used for 'gridsearch' (default glm/probit). */
  readonly predict?: LaplacePredictOptions;
}

/**
 * A fitted Laplace approximation q(θ_S) = N(θ*_S, P⁻¹) over a subset S of a TF.js model's Dense/Conv2D weights, the
 * other weights at their MAP values. Create it with {@link fitLaplace} or {@link LaplacePosterior.load}.
 */
export class LaplacePosterior {
  readonly layout: LaplaceLayout;
  readonly parts: readonly LayerSubset[];
  private kronEigens?: KroneckerEigen[];
  private cached?: PosteriorStructure;

  constructor(
    readonly model: tf.LayersModel,
    private readonly state: LaplaceState,
  ) {
    this.layout = laplaceLayout(model);
    this.parts = splitByLayer(this.layout.layers, state.indices);
  }

  /**
   * The fitted state itself (curvature, prior, statistics), as `save` encodes it: for the Optimal-Brain-Surgeon update,
   * which needs the curvature factors, and for handing the posterior to worker threads. Treat it as read-only.
   */
  get fittedState(): Readonly<LaplaceState> {
    return this.state;
  }

  /**
   * The eigendecompositions of a Kronecker posterior's factors (computed once and cached; undefined for other
   * structures). They are the costly part of building the posterior, so worker threads receive them rather than
   * recomputing them.
   */
  kroneckerEigendecompositions(): KroneckerEigen[] | undefined {
    const c = this.state.curvature;
    if (c.structure !== 'kron') return undefined;
    return (this.kronEigens ??= kroneckerEigen(c));
  }

  /** Adopts eigendecompositions computed elsewhere from the same factors (see {@link kroneckerEigendecompositions}). */
  adoptKroneckerEigendecompositions(eigens: KroneckerEigen[]): void {
    this.kronEigens = eigens;
    this.invalidate();
  }

  get likelihood(): LaplaceLikelihood {
    return this.state.likelihood;
  }
  get hessian(): HessianStructure {
    return this.state.hessian;
  }
  /** Covered global parameter indices (increasing). */
  get indices(): Int32Array {
    return this.state.indices;
  }
  /** Prior precision λ per covered layer (before subnetwork rescaling). */
  get priorPrecision(): readonly number[] {
    return this.state.priorPrecision;
  }
  /** Regression observation noise σ. */
  get sigma(): number {
    return Math.sqrt(this.state.sigma2);
  }
  /** Examples the curvature was computed on. */
  get dataSize(): number {
    return this.state.stats.n;
  }
  /** Posterior mean θ*_S (the MAP values of the covered weights). */
  get mean(): Float64Array {
    return Float64Array.from(this.state.indices, (i) => this.state.theta[i]);
  }

  /** Sets λ (one value or one per covered layer); the structure is rebuilt lazily. */
  setPriorPrecision(prior: number | readonly number[]): void {
    this.state.priorPrecision = expandPrior(prior, this.parts.length);
    this.invalidate();
  }

  /** Sets the regression observation noise σ. */
  setSigma(sigma: number): void {
    requireConfig(sigma > 0, `observation noise must be positive, got ${sigma}`);
    this.state.sigma2 = sigma * sigma;
    this.invalidate();
  }

  /** The posterior's storage (built on first use for the current prior and noise). */
  get structure(): PosteriorStructure {
    return (this.cached ??= this.build(this.state.priorPrecision, this.state.sigma2));
  }

  private effectivePrior(prior: readonly number[]): number[] {
    return prior.map((p) => p * this.state.priorScale);
  }

  private build(prior: readonly number[], sigma2: number): PosteriorStructure {
    const tau = this.effectivePrior(prior);
    const scale = curvatureScale(this.state.likelihood, this.state.curvatureType, sigma2);
    const c = this.state.curvature;
    if (c.structure === 'diag') return diagonalPosterior(c, this.parts, tau, scale);
    if (c.structure === 'full') return fullPosterior(c, this.parts, tau, scale);
    return kroneckerPosterior(
      this.kroneckerEigendecompositions()!,
      this.parts,
      tau,
      scale,
      this.state.kronPrior,
    );
  }

  private invalidate(): void {
    this.cached?.dispose();
    this.cached = undefined;
  }

  /** Marginal variances diag(P⁻¹) of the covered weights. */
  marginalVariances(): Float64Array {
    return this.structure.marginalVariances();
  }

  /**
   * Laplace log marginal likelihood log p(D|θ*) − ½(log det P − log det P₀ + θ*ᵀP₀θ*) at the current (or the given)
   * prior precision and noise.
   */
  logMarginalLikelihood(prior?: number | readonly number[], sigma?: number): number {
    const p = prior === undefined ? this.state.priorPrecision : expandPrior(prior, this.parts.length);
    const sigma2 = sigma === undefined ? this.state.sigma2 : sigma * sigma;
    const current = prior === undefined && sigma === undefined;
    const structure = current ? this.structure : this.build(p, sigma2);
    try {
      const tau = expandLayerPrior(this.parts, this.effectivePrior(p));
      const loglik = dataLogLikelihood(this.state.stats, this.state.likelihood, sigma2);
      return laplaceLogMarginalLikelihood(loglik, structure, tau, this.mean);
    } finally {
      if (!current) structure.dispose();
    }
  }

  /** Chooses λ (and optionally σ) by the evidence or by a validation grid search, sets and returns it. */
  async optimizePriorPrecision(options: PriorOptimisationOptions = {}): Promise<readonly number[]> {
    const [lo, hi] = options.logRange ?? [-4, 4];
    if ((options.method ?? 'marglik') === 'gridsearch') {
      requireConfig(
        options.validation !== undefined,
        'grid search of the prior precision needs validation data',
      );
      const grid = options.grid ?? Array.from({ length: 21 }, (_, i) => 10 ** (lo + ((hi - lo) * i) / 20));
      // One pass over the validation data for the whole grid where the structure allows it (same figures).
      const nlls = this.canShareGrid(options.predict)
        ? this.negativeLogLikelihoodAtPriors(options.validation, grid, options.predict?.batchSize)
        : grid.map((prior) => {
            this.setPriorPrecision(prior);
            return this.negativeLogLikelihood(options.validation!, options.predict);
          });
      let best = { nll: Infinity, prior: grid[0] };
      grid.forEach((prior, i) => {
        if (nlls[i] < best.nll) best = { nll: nlls[i], prior };
      });
      this.setPriorPrecision(best.prior);
      return this.state.priorPrecision;
    }
    const k = this.parts.length;
    let prior = [...this.state.priorPrecision];
    let sigma2 = this.state.sigma2;
    const ln10 = Math.log(10);
    const rounds = options.optimizeSigma && this.state.likelihood === 'regression' ? 4 : 1;
    for (let round = 0; round < rounds; round++) {
      if (!options.perLayer) {
        const r = maximise1d((x) => this.evidenceAt(Array(k).fill(Math.exp(x * ln10)), sigma2), lo, hi);
        prior = Array(k).fill(10 ** r.x);
      } else {
        // Block-diagonal structures separate over layers: one sweep is exact; the dense one couples them.
        const sweeps = this.state.hessian === 'full' && k > 1 ? 3 : 1;
        for (let s = 0; s < sweeps; s++) {
          for (let i = 0; i < k; i++) {
            const r = maximise1d(
              (x) =>
                this.evidenceAt(
                  prior.map((p, j) => (j === i ? 10 ** x : p)),
                  sigma2,
                ),
              lo,
              hi,
            );
            prior[i] = 10 ** r.x;
          }
        }
      }
      if (rounds > 1) {
        const r = maximise1d((x) => this.evidenceAt(prior, 10 ** (2 * x)), -4, 3);
        sigma2 = 10 ** (2 * r.x);
      }
    }
    this.state.priorPrecision = prior;
    this.state.sigma2 = sigma2;
    this.invalidate();
    return prior;
  }

  private evidenceAt(prior: number[], sigma2: number): number {
    try {
      return this.logMarginalLikelihood(prior, Math.sqrt(sigma2));
    } catch (err) {
      if (err instanceof BayescompError) return -Infinity;
      throw err;
    }
  }

  /**
   * Predictive distribution at inputs x: class probabilities `[M, C]` for classification, the predictive mean for
   * regression (see {@link predictiveMoments} for the variance). GLM: f ~ N(f(x;θ*), J Σ Jᵀ) with the probit
   * approximation (seed 002 eq. 18) or Monte-Carlo; 'nn': average over networks with sampled weights.
   */
  predict(x: tf.Tensor, options: LaplacePredictOptions = {}): tf.Tensor2D {
    if (this.state.likelihood === 'regression') {
      const { mean, variance } = this.predictiveMoments(x, options);
      variance.dispose();
      return mean;
    }
    const method = options.method ?? 'glm';
    const random = options.random ?? getGlobalRandom();
    const samples = options.samples ?? 100;
    if (method === 'nn') {
      const deviations = Array.from({ length: samples }, () => this.structure.sampleDeviation(random));
      return this.mapChunks(x, options.batchSize ?? 64, (xc) => {
        const logits = sampledNetworkLogits(
          this.model,
          this.layout,
          this.parts,
          this.state.theta,
          deviations,
          xc,
        );
        const p = tf.tidy(() => tf.mean(tf.softmax(logits), 0) as tf.Tensor2D);
        logits.dispose();
        return p;
      });
    }
    return this.mapChunks(x, options.batchSize ?? 64, (xc) => {
      if (options.link === 'mc') {
        const { mean, covariance } = this.linearisedLogits(xc);
        const p = monteCarloSoftmax(mean, covariance, samples, random);
        tf.dispose([mean, covariance]);
        return p;
      }
      const { mean, variance } = this.linearisedVariance(xc);
      const p = probitSoftmaxFromVariance(mean, variance);
      tf.dispose([mean, variance]);
      return p;
    });
  }

  /**
   * Mean and variance of the network outputs under the posterior: for regression including the observation noise
   * σ² (seed 002 eq. 17), for classification of the logits. `[M, C]` each.
   */
  predictiveMoments(
    x: tf.Tensor,
    options: LaplacePredictOptions = {},
  ): { mean: tf.Tensor2D; variance: tf.Tensor2D } {
    const noise = this.state.likelihood === 'regression' ? this.state.sigma2 : 0;
    const means: tf.Tensor2D[] = [];
    const variances: tf.Tensor2D[] = [];
    const batch = options.batchSize ?? 64;
    const deviations =
      options.method === 'nn'
        ? Array.from({ length: options.samples ?? 100 }, () =>
            this.structure.sampleDeviation(options.random ?? getGlobalRandom()),
          )
        : undefined;
    for (const xc of exampleChunks(x, batch)) {
      if (deviations) {
        const f = sampledNetworkLogits(this.model, this.layout, this.parts, this.state.theta, deviations, xc);
        const { mean, variance } = tf.moments(f, 0);
        means.push(mean as tf.Tensor2D);
        variances.push(tf.tidy(() => tf.add(variance, noise)) as tf.Tensor2D);
        tf.dispose([f, variance]);
      } else {
        const { mean, variance } = this.linearisedVariance(xc);
        means.push(mean);
        variances.push(tf.tidy(() => tf.add(variance, noise)) as tf.Tensor2D);
        variance.dispose();
      }
      xc.dispose();
    }
    const out = {
      mean: tf.concat(means, 0) as tf.Tensor2D,
      variance: tf.concat(variances, 0) as tf.Tensor2D,
    };
    tf.dispose([...means, ...variances]);
    return out;
  }

  /** f(x; θ*) and J Σ Jᵀ per example for one batch. */
  linearisedLogits(x: tf.Tensor): { mean: tf.Tensor2D; covariance: tf.Tensor3D } {
    return this.withJacobianFactors(x, (q) => ({
      mean: q.logits.clone(),
      covariance: this.structure.functionalCovariance(q),
    }));
  }

  /** f(x; θ*) and the diagonal of J Σ Jᵀ, `[M, C]` each, for one batch (cheaper than {@link linearisedLogits}). */
  linearisedVariance(x: tf.Tensor): { mean: tf.Tensor2D; variance: tf.Tensor2D } {
    return this.withJacobianFactors(x, (q) => ({
      mean: q.logits.clone(),
      variance: this.structure.functionalVariance(q),
    }));
  }

  /** Runs `fn` on the layer inputs and unit-cotangent Jacobian factors of one batch, then frees them. */
  private withJacobianFactors<T>(x: tf.Tensor, fn: (q: ReturnType<typeof preactivationGradients>) => T): T {
    const q = preactivationGradients(
      this.model,
      this.layout,
      this.parts.map((p) => p.layer),
      x,
      unitCotangents,
    );
    try {
      return fn(q);
    } finally {
      disposeQuantities(q);
    }
  }

  private mapChunks(x: tf.Tensor, batch: number, fn: (xc: tf.Tensor) => tf.Tensor2D): tf.Tensor2D {
    const parts: tf.Tensor2D[] = [];
    for (const xc of exampleChunks(x, batch)) {
      parts.push(fn(xc));
      xc.dispose();
    }
    if (parts.length === 1) return parts[0];
    const out = tf.concat(parts, 0) as tf.Tensor2D;
    tf.dispose(parts);
    return out;
  }

  /** Mean negative log-likelihood of data under the predictive (classification: −log p(y); regression: Gaussian). */
  negativeLogLikelihood(data: LaplaceData, options: LaplacePredictOptions = {}): number {
    let total = 0;
    let n = 0;
    for (const batch of laplaceBatches(data, options.batchSize ?? 256)) {
      const value = tf.tidy(() => {
        if (this.state.likelihood === 'classification') {
          const p = this.predict(batch.x, options);
          const picked = tf.sum(tf.mul(p, tf.oneHot(batch.y.toInt().reshape([-1]), p.shape[1])), 1);
          return tf.sum(tf.neg(tf.log(tf.maximum(picked, 1e-12))));
        }
        const { mean, variance } = this.predictiveMoments(batch.x, options);
        const y = batch.y.reshape(mean.shape);
        return tf.sum(
          tf.mul(
            0.5,
            tf.add(tf.log(tf.mul(2 * Math.PI, variance)), tf.div(tf.square(tf.sub(y, mean)), variance)),
          ),
        );
      });
      total += value.dataSync()[0];
      n += batch.size;
      tf.dispose([value, batch.x, batch.y]);
    }
    return total / n;
  }

  /** Whether {@link negativeLogLikelihoodAtPriors} gives what `predict` with these options would. */
  private canShareGrid(predict: LaplacePredictOptions | undefined): boolean {
    return (
      this.state.likelihood === 'classification' &&
      (predict?.method ?? 'glm') === 'glm' &&
      (predict?.link ?? 'probit') === 'probit' &&
      this.structure.functionalVarianceAtPriors !== undefined
    );
  }

  /**
   * Mean NLL of classification data under the GLM probit predictive at each of several prior precisions (a number per
   * entry, or one per covered layer), in one pass: the Jacobian factors and their rotations are computed once per
   * batch and only the variances' final weighted sums per prior (diagonal and Kronecker structures). Equal to
   * `setPriorPrecision(λ)` + {@link negativeLogLikelihood} for each λ, at the cost of about one of them.
   */
  negativeLogLikelihoodAtPriors(
    data: LaplaceData,
    priors: readonly (number | readonly number[])[],
    batchSize = 64,
  ): number[] {
    const structure = this.structure;
    requireConfig(
      this.canShareGrid(undefined) && structure.functionalVarianceAtPriors !== undefined,
      'the NLL at several priors in one pass needs classification with a diagonal or Kronecker posterior',
    );
    const tau = priors.map((p) => this.effectivePrior(expandPrior(p, this.parts.length)));
    const totals = new Float64Array(priors.length);
    let n = 0;
    for (const batch of laplaceBatches(data, batchSize)) {
      const sums = this.withJacobianFactors(batch.x, (q) =>
        tf.tidy(() => {
          const variances = structure.functionalVarianceAtPriors!(q, tau); // [K, M, C]
          const labels = tf.oneHot(batch.y.toInt().reshape([-1]), q.logits.shape[1]);
          return tf.stack(
            tf.unstack(variances).map((v) => {
              const p = probitSoftmaxFromVariance(q.logits, v as tf.Tensor2D);
              return tf.sum(tf.neg(tf.log(tf.maximum(tf.sum(tf.mul(p, labels), 1), 1e-12))));
            }),
          );
        }),
      );
      sums.dataSync().forEach((v, k) => (totals[k] += v));
      n += batch.size;
      tf.dispose([sums, batch.x, batch.y]);
    }
    return Array.from(totals, (t) => t / n);
  }

  /** `count` posterior draws of the covered weights θ_S (subset order). */
  sample(count = 1, random: Random = getGlobalRandom()): Float32Array[] {
    const mean = this.mean;
    return Array.from({ length: count }, () => {
      const d = this.structure.sampleDeviation(random);
      for (let i = 0; i < d.length; i++) d[i] += mean[i];
      return d;
    });
  }

  /** Pruning scores of the covered weights from the Laplace marginals (seed 000); ε is the "near zero" half-width. */
  pruningScores(epsilon = 1e-2): LaplacePruningScores {
    const tau = expandLayerPrior(this.parts, this.effectivePrior(this.state.priorPrecision));
    return laplacePruningScores(this.indices, this.mean, this.marginalVariances(), tau, epsilon);
  }

  /**
   * Sequential update: adds the curvature and log-likelihood of more data, so the posterior after D₁ acts as the
   * prior for D₂ (the MAP is unchanged; the curvature and evidence terms add).
   */
  update(data: LaplaceData, batchSize = 64): void {
    const extra = { curvature: emptyCurvature(this.state.hessian, this.parts), stats: emptyStats() };
    accumulateFromBatches(
      this.model,
      this.layout,
      this.parts,
      laplaceBatches(data, batchSize),
      { likelihood: this.state.likelihood, type: this.state.curvatureType },
      extra,
    );
    const curvature = cloneCurvature(this.state.curvature);
    addCurvature(curvature, extra.curvature);
    this.state.curvature = curvature;
    const s = this.state.stats;
    s.logLik += extra.stats.logLik;
    s.sse += extra.stats.sse;
    s.n += extra.stats.n;
    this.kronEigens = undefined;
    this.invalidate();
  }

  /** Writes `laplace.bin` then `laplace.json` into `dir`, each atomically. */
  async save(dir: string): Promise<void> {
    const { json, bin } = encodeLaplaceState(this.state);
    await writeFilesAtomic(dir, [
      ['laplace.bin', bin],
      ['laplace.json', json],
    ]);
  }

  /**
   * Loads a posterior saved by {@link save} for `model`, which must have the same Dense/Conv2D parameter layout (layer
   * names may differ between model instances) and the same MAP weights.
   */
  static async load(dir: string, model: tf.LayersModel): Promise<LaplacePosterior> {
    const file = join(dir, 'laplace.json');
    let json: string;
    let bin: Uint8Array;
    try {
      json = await readFile(file, 'utf8');
      bin = new Uint8Array(await readFile(join(dir, 'laplace.bin')));
    } catch (err) {
      throw new BayescompError('not-found', 'Laplace posterior files not found', { file, cause: err });
    }
    const state = decodeLaplaceState(json, bin, file);
    const layout = laplaceLayout(model);
    const same =
      layout.layers.length === state.layers.length &&
      layout.layers.every(
        (l, i) => l.offset === state.layers[i].offset && l.paramCount === state.layers[i].paramCount,
      );
    if (!same)
      throw new BayescompError(
        'bad-config',
        'the model does not have the layers the posterior was fitted on',
        { file },
      );
    const theta = readParameters(layout);
    let diff = 0;
    for (let i = 0; i < theta.length; i++) diff = Math.max(diff, Math.abs(theta[i] - state.theta[i]));
    if (diff > 1e-6) {
      throw new BayescompError(
        'bad-config',
        `the model's weights differ from the fitted MAP (max |Δ| = ${diff})`,
        { file },
      );
    }
    return new LaplacePosterior(model, state);
  }

  /** Frees the tensors cached for predictions. */
  dispose(): void {
    this.invalidate();
  }
}

function expandPrior(prior: number | readonly number[], k: number): number[] {
  const out = typeof prior === 'number' ? Array(k).fill(prior) : [...prior];
  requireConfig(
    out.length === k,
    `prior precision needs 1 or ${k} values (one per covered layer), got ${out.length}`,
  );
  requireConfig(
    out.every((p) => p > 0 && Number.isFinite(p)),
    'prior precision must be positive',
  );
  return out;
}

/**
 * Fits a Laplace approximation to a trained model: chooses the covered weights, accumulates the curvature (GGN or
 * empirical Fisher) over `data` in the requested structure, and returns the posterior. Ritter et al. 2018 (Kronecker),
 * Daxberger et al. 2021 (subnetworks, seed 002), Immer et al. 2021 (GLM predictive).
 */
export function fitLaplace(
  model: tf.LayersModel,
  data: LaplaceData,
  options: FitLaplaceOptions = {},
): LaplacePosterior {
  const layout = laplaceLayout(model);
  const theta = readParameters(layout);
  const likelihood = options.likelihood ?? inferLikelihood(data);
  const hessian = options.hessian ?? 'kron';
  const type = options.curvature ?? 'ggn';
  const subset = options.subset ?? 'all';
  const batchSize = options.batchSize ?? 64;
  const sigma = options.sigma ?? 1;
  requireConfig(sigma > 0, `observation noise must be positive, got ${sigma}`);
  // The largest-variance selection fits a diagonal Laplace over all weights (or the strategy's layers), one prior.
  const scalarPrior =
    typeof options.priorPrecision === 'number' ? options.priorPrecision : (options.priorPrecision?.[0] ?? 1);
  const indices = resolveSubset(subset, layout, theta, (layers) => {
    const all = fitLaplace(model, data, {
      ...options,
      subset: layers ? { layers } : 'all',
      hessian: 'diag',
      priorPrecision: scalarPrior,
    });
    const variances = all.marginalVariances();
    const { curvature } = all.fittedState;
    all.dispose();
    if (curvature.structure !== 'diag') throw new Error('a diagonal Laplace holds a diagonal curvature');
    return { variances, curvature: curvature.values };
  });
  if (hessian === 'full') checkFullCovarianceSize(indices.length, options.maxFullCovarianceBytes);
  const parts = splitByLayer(layout.layers, indices);
  if (hessian !== 'full' && parts.some((p) => !p.whole)) {
    throw new BayescompError(
      'bad-config',
      `a subnetwork of chosen weights needs hessian 'full', not '${hessian}'`,
    );
  }
  const subnetwork = isSubnetwork(subset) && (options.subnetworkPriorScaling ?? true);
  const state: LaplaceState = {
    likelihood,
    curvatureType: type,
    hessian,
    kronPrior: options.kronPrior ?? 'exact',
    priorPrecision: expandPrior(options.priorPrecision ?? 1, parts.length),
    priorScale: subnetwork ? indices.length / layout.totalParams : 1,
    sigma2: sigma * sigma,
    indices,
    theta,
    curvature: emptyCurvature(hessian, parts),
    stats: emptyStats(),
    layers: layout.layers.map((l) => ({ name: l.name, offset: l.offset, paramCount: l.paramCount })),
  };
  accumulateFromBatches(model, layout, parts, laplaceBatches(data, batchSize), { likelihood, type }, state);
  return new LaplacePosterior(model, state);
}
