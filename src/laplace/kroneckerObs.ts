import { BayescompError } from '../util/errors.js';
import type { KroneckerCurvature } from './curvature/kroneckerCurvature.js';
import type { LaplacePosterior } from './laplacePosterior.js';
import { curvatureScale } from './likelihood.js';
import { expandLayerPrior } from './structures/diagonalPosterior.js';
import type { KroneckerPrior } from './structures/kroneckerPosterior.js';

/**
 * One layer's Kronecker-factored posterior precision over its augmented weight matrix W̃ = [kernel; bias]
 * (`rows × outputs`, row-major, as in {@link LaplaceLayer}):
 * - `exact`: P = s·A ⊗ G + τ I;
 * - `damped` (Ritter et al. 2018 eq. 9): P = (√N·A + √τ·I) ⊗ (s·G/√N + √τ·I),
 *
 * with A = E[a aᵀ] the input factor (bias-augmented; im2col patches for a convolution), G the summed output-gradient
 * factor, N the examples behind them and s the likelihood's curvature scale.
 */
export interface KroneckerPrecisionLayer {
  readonly rows: number;
  readonly outputs: number;
  /** A = E[a aᵀ], rows × rows, row-major. */
  readonly a: Float64Array;
  /** G summed over examples, outputs × outputs, row-major. */
  readonly g: Float64Array;
  /** Examples N. */
  readonly count: number;
  /** Prior precision τ of this layer (after any subnetwork rescaling). */
  readonly tau: number;
  /** Curvature scale s (1 for classification, 1/σ² for a Gaussian GGN). */
  readonly scale: number;
  readonly prior: KroneckerPrior;
}

/** Options of the Kronecker OBS update. */
export interface KroneckerObsOptions {
  /**
   * After the per-output-unit updates, rescale the layer's whole update by the step t that minimises the quadratic
   * loss in the full Kronecker metric (exact line search; default true). It can only lower that loss, which the
   * per-unit update alone does not guarantee when G has off-diagonal terms.
   */
  readonly lineSearch?: boolean;
}

/** What the update did to one layer. */
export interface KroneckerObsLayerResult {
  /** Updated W̃ (rows × outputs, row-major), zero where pruned. */
  readonly weights: Float64Array;
  /** ½(w − w*)ᵀP(w − w*) of plain masking and of the update, in the full Kronecker metric. */
  readonly maskedLoss: number;
  readonly updatedLoss: number;
  /** The line-search step applied to the per-unit update (1 without line search). */
  readonly step: number;
  /**
   * Conditional variances of the kept weights under each output unit's block, [(P_jj)_{KK}⁻¹]_kk (0 where pruned),
   * when asked for (the OBS saliency of a further pruning step is w_k² / this).
   */
  readonly conditionalVariance?: Float64Array;
}

/**
 * The diagonal block of P for output unit j, written c_j·(A + ρ_j I): exact c_j = s·G_jj, ρ_j = τ/(s·G_jj); damped
 * c_j = √N·(s·G_jj/√N + √τ), ρ_j = √(τ/N). ρ_j = ∞ for a unit without curvature (its block is τI: no coupling).
 */
function unitBlock(layer: KroneckerPrecisionLayer, j: number): { c: number; rho: number } {
  const gjj = layer.scale * layer.g[j * layer.outputs + j];
  if (layer.prior === 'exact') {
    return gjj > 0 ? { c: gjj, rho: layer.tau / gjj } : { c: layer.tau, rho: Infinity };
  }
  const sqrtN = Math.sqrt(Math.max(1, layer.count));
  const sqrtTau = Math.sqrt(layer.tau);
  return { c: sqrtN * (gjj / sqrtN + sqrtTau), rho: sqrtTau / sqrtN };
}

/** C = A·B for row-major A (n × k), B (k × m). */
function matMul(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const ci = i * m;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const bp = p * m;
      for (let j = 0; j < m; j++) c[ci + j] += aip * b[bp + j];
    }
  }
  return c;
}

/** P·vec(V) for a layer, V rows × outputs row-major: s·A V G + τV (exact) or (√N A + √τ I) V (s G/√N + √τ I). */
export function kroneckerPrecisionTimes(layer: KroneckerPrecisionLayer, v: Float64Array): Float64Array {
  const { rows: r, outputs: o } = layer;
  const avg = matMul(matMul(layer.a, v, r, r, o), layer.g, r, o, o);
  const out = new Float64Array(r * o);
  if (layer.prior === 'exact') {
    for (let i = 0; i < out.length; i++) out[i] = layer.scale * avg[i] + layer.tau * v[i];
    return out;
  }
  const sqrtN = Math.sqrt(Math.max(1, layer.count));
  const sqrtTau = Math.sqrt(layer.tau);
  const av = matMul(layer.a, v, r, r, o);
  const vg = matMul(v, layer.g, r, o, o);
  // (√N A + √τ I) V (s G/√N + √τ I) = s·AVG + √(Nτ)·AV + (s√τ/√N)·VG + τV.
  for (let i = 0; i < out.length; i++) {
    out[i] =
      layer.scale * avg[i] +
      sqrtN * sqrtTau * av[i] +
      ((layer.scale * sqrtTau) / sqrtN) * vg[i] +
      layer.tau * v[i];
  }
  return out;
}

/** In-place lower Cholesky factor of an SPD n × n matrix (row-major); false if a pivot is not positive. */
function choleskyInPlace(m: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = m[rj + j];
    for (let k = 0; k < j; k++) d -= m[rj + k] * m[rj + k];
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    m[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = m[ri + j];
      for (let k = 0; k < j; k++) s -= m[ri + k] * m[rj + k];
      m[ri + j] = s * inv;
    }
  }
  return true;
}

/**
 * Factors M = S + jitter·I, raising the jitter from 0 (then 1e-10·mean diag, ×10 each try) until it is positive
 * definite: S is PSD only up to rounding when A is rank-deficient and the ridge tiny.
 */
function robustCholesky(s: Float64Array, n: number): Float64Array {
  let meanDiag = 0;
  for (let i = 0; i < n; i++) meanDiag += s[i * n + i];
  meanDiag = Math.max(meanDiag / Math.max(1, n), 1e-300);
  for (
    let attempt = 0, jitter = 0;
    attempt < 12;
    attempt++, jitter = jitter ? jitter * 10 : 1e-10 * meanDiag
  ) {
    const m = Float64Array.from(s);
    for (let i = 0; i < n; i++) m[i * n + i] += jitter;
    if (choleskyInPlace(m, n)) return m;
  }
  throw new BayescompError(
    'diverged',
    'OBS update: the kept weights’ precision block is not positive definite',
  );
}

/** Solves L Lᵀ x = b in place of b. */
function choleskySolve(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    const ri = i * n;
    for (let k = 0; k < i; k++) s -= l[ri + k] * b[k];
    b[i] = s / l[ri + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

/** diag((L Lᵀ)⁻¹): entry c is Σ_r (L⁻¹)_{rc}², the squared norm of y = L⁻¹ e_c (forward substitution from row c). */
function choleskyInverseDiagonal(l: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n);
  const y = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    let norm = 0;
    for (let i = c; i < n; i++) {
      let s = i === c ? 1 : 0;
      const ri = i * n;
      for (let k = c; k < i; k++) s -= l[ri + k] * y[k];
      y[i] = s / l[ri + i];
      norm += y[i] * y[i];
    }
    out[c] = norm;
  }
  return out;
}

/**
 * Optimal-Brain-Surgeon update of one layer for a Kronecker-factored posterior (Hassibi & Stork 1993; the layer-wise
 * form of Frantar & Alistarh 2022, "Optimal Brain Compression", eq. 2–3). For each output unit j with kept rows K and
 * pruned rows Q, the diagonal block of P is c_j·(A + ρ_j I) (see {@link unitBlock}: the prior enters as the ridge ρ_j),
 * and
 *
 *   argmin_{w: w_Q = 0} (w − w*)ᵀ (A + ρ_j I)(w − w*)  ⇒  w_K = w*_K + (A + ρ_j I)_{KK}⁻¹ A_{KQ} w*_Q
 *
 * — the mean of N(w*, P_jj⁻¹) conditioned on w_Q = 0. It treats the row factor A exactly and ignores the coupling of
 * units through G's off-diagonal terms, so it equals exact Gaussian conditioning when G is diagonal (one output unit
 * in particular). A Cholesky factor of each unit's kept block, in float64. With `lineSearch`, the whole update is then
 * scaled by the step minimising the full-metric loss ½(w − w*)ᵀP(w − w*), never raising it above plain masking.
 */
export function kroneckerLayerObs(
  layer: KroneckerPrecisionLayer,
  weights: ArrayLike<number>,
  keep: ArrayLike<number>,
  options: KroneckerObsOptions & { conditionalVariance?: boolean } = {},
): KroneckerObsLayerResult {
  const { rows: r, outputs: o } = layer;
  if (weights.length !== r * o || keep.length !== r * o)
    throw new BayescompError(
      'bad-shape',
      `OBS update: layer of ${r}×${o} weights got ${weights.length}/${keep.length}`,
    );
  const wStar = Float64Array.from(weights);
  const masked = Float64Array.from(wStar, (v, i) => (keep[i] ? v : 0));
  const updated = Float64Array.from(masked);
  const variance = options.conditionalVariance ? new Float64Array(r * o) : undefined;
  const a = layer.a;
  const kept = new Int32Array(r);
  const pruned = new Int32Array(r);
  for (let j = 0; j < o; j++) {
    let nk = 0;
    let nq = 0;
    for (let i = 0; i < r; i++) {
      if (keep[i * o + j]) kept[nk++] = i;
      else if (wStar[i * o + j] !== 0) pruned[nq++] = i;
    }
    const { c, rho } = unitBlock(layer, j);
    if (nk === 0 || (nq === 0 && !variance)) continue;
    if (!Number.isFinite(rho)) {
      if (variance) for (let t = 0; t < nk; t++) variance[kept[t] * o + j] = 1 / c;
      continue;
    }
    // b = A_{KQ} w*_Q; M = A_{KK} + ρ I.
    const b = new Float64Array(nk);
    const m = new Float64Array(nk * nk);
    for (let t = 0; t < nk; t++) {
      const row = kept[t] * r;
      let s = 0;
      for (let u = 0; u < nq; u++) s += a[row + pruned[u]] * wStar[pruned[u] * o + j];
      b[t] = s;
      const mt = t * nk;
      for (let u = 0; u <= t; u++) m[mt + u] = a[row + kept[u]];
      m[mt + t] += rho;
    }
    const l = robustCholesky(m, nk);
    if (nq > 0) {
      choleskySolve(l, nk, b);
      for (let t = 0; t < nk; t++) updated[kept[t] * o + j] += b[t];
    }
    if (variance) {
      const d = choleskyInverseDiagonal(l, nk);
      for (let t = 0; t < nk; t++) variance[kept[t] * o + j] = d[t] / c;
    }
  }
  // Quadratic losses in the full metric: with d₀ = masked − w* and δ = updated − masked, L(t) = ½(d₀ + tδ)ᵀP(d₀ + tδ).
  const d0 = Float64Array.from(masked, (v, i) => v - wStar[i]);
  const delta = Float64Array.from(updated, (v, i) => v - masked[i]);
  const pd0 = kroneckerPrecisionTimes(layer, d0);
  const pDelta = kroneckerPrecisionTimes(layer, delta);
  let d0Pd0 = 0;
  let d0Pdelta = 0;
  let deltaPdelta = 0;
  for (let i = 0; i < d0.length; i++) {
    d0Pd0 += d0[i] * pd0[i];
    d0Pdelta += d0[i] * pDelta[i];
    deltaPdelta += delta[i] * pDelta[i];
  }
  const lineSearch = options.lineSearch ?? true;
  const step = lineSearch && deltaPdelta > 0 ? Math.max(0, -d0Pdelta / deltaPdelta) : 1;
  if (step !== 1) for (let i = 0; i < updated.length; i++) updated[i] = masked[i] + step * delta[i];
  return {
    weights: updated,
    maskedLoss: 0.5 * d0Pd0,
    updatedLoss: 0.5 * (d0Pd0 + 2 * step * d0Pdelta + step * step * deltaPdelta),
    step,
    conditionalVariance: variance,
  };
}

/** The Kronecker precision of each covered layer of a fitted posterior, in part order. */
export function kroneckerPrecisionLayers(posterior: LaplacePosterior): KroneckerPrecisionLayer[] {
  const state = posterior.fittedState;
  if (state.curvature.structure !== 'kron')
    throw new BayescompError(
      'bad-config',
      `a Kronecker precision needs hessian 'kron', not '${state.hessian}'`,
    );
  const curvature: KroneckerCurvature = state.curvature;
  const scale = curvatureScale(state.likelihood, state.curvatureType, state.sigma2);
  return curvature.factors.map((f, p) => {
    const r = Math.round(Math.sqrt(f.sumA.length));
    const o = Math.round(Math.sqrt(f.sumG.length));
    const norm = 1 / Math.max(1, f.count * f.locations);
    return {
      rows: r,
      outputs: o,
      a: f.sumA.map((v) => v * norm),
      g: f.sumG,
      count: f.count,
      tau: state.priorPrecision[p] * state.priorScale,
      scale,
      prior: state.kronPrior,
    };
  });
}

/**
 * OBS update of all covered weights of a fitted Laplace posterior given a keep mask over them (subset order, as
 * {@link LaplacePosterior.pruningScores} indexes them). Returns the updated covered weights (zero where pruned):
 * - Kronecker: {@link kroneckerLayerObs} per layer (layers are independent blocks of P);
 * - diagonal: the masked mean — conditioning a diagonal Gaussian on w_Q = 0 leaves the other weights unchanged;
 * - full: exact conditioning w_K = w*_K + P_KK⁻¹ P_KQ w*_Q, with P = s·H + diag(τ) (Cholesky of P_KK).
 */
export function laplaceObsUpdate(
  posterior: LaplacePosterior,
  keep: ArrayLike<number>,
  options: KroneckerObsOptions = {},
): Float64Array {
  return laplaceObsConditional(posterior, keep, options, false).weights;
}

/** Updated weights and, when asked, the conditional variances of the kept weights (0 where pruned). */
function laplaceObsConditional(
  posterior: LaplacePosterior,
  keep: ArrayLike<number>,
  options: KroneckerObsOptions,
  withVariance: boolean,
): { weights: Float64Array; variance?: Float64Array } {
  const state = posterior.fittedState;
  const mean = posterior.mean;
  if (keep.length !== mean.length)
    throw new BayescompError(
      'bad-shape',
      `OBS update: ${keep.length} mask entries for ${mean.length} weights`,
    );
  const c = state.curvature;
  if (c.structure === 'diag') {
    const marginal = withVariance ? posterior.marginalVariances() : undefined;
    return {
      weights: mean.map((v, i) => (keep[i] ? v : 0)),
      variance: marginal?.map((v, i) => (keep[i] ? v : 0)),
    };
  }
  if (c.structure === 'kron') {
    const weights = new Float64Array(mean.length);
    const variance = withVariance ? new Float64Array(mean.length) : undefined;
    let offset = 0;
    kroneckerPrecisionLayers(posterior).forEach((layer) => {
      const n = layer.rows * layer.outputs;
      const res = kroneckerLayerObs(
        layer,
        mean.subarray(offset, offset + n),
        Array.prototype.slice.call(keep, offset, offset + n) as number[],
        { ...options, conditionalVariance: withVariance },
      );
      weights.set(res.weights, offset);
      if (variance) variance.set(res.conditionalVariance!, offset);
      offset += n;
    });
    return { weights, variance };
  }
  const s = c.size;
  const scale = curvatureScale(state.likelihood, state.curvatureType, state.sigma2);
  const tau = expandLayerPrior(
    posterior.parts,
    state.priorPrecision.map((p) => p * state.priorScale),
  );
  const kept: number[] = [];
  const pruned: number[] = [];
  for (let i = 0; i < s; i++) (keep[i] ? kept : pruned).push(i);
  const weights = mean.map((v, i) => (keep[i] ? v : 0));
  const variance = withVariance ? new Float64Array(s) : undefined;
  if (kept.length === 0) return { weights, variance };
  const nk = kept.length;
  const m = new Float64Array(nk * nk);
  const b = new Float64Array(nk);
  for (let t = 0; t < nk; t++) {
    const row = kept[t] * s;
    for (let u = 0; u < nk; u++) m[t * nk + u] = scale * c.matrix[row + kept[u]];
    m[t * nk + t] += tau[kept[t]];
    let v = 0;
    for (const q of pruned) v += scale * c.matrix[row + q] * mean[q];
    b[t] = v;
  }
  const l = robustCholesky(m, nk);
  choleskySolve(l, nk, b);
  for (let t = 0; t < nk; t++) weights[kept[t]] += b[t];
  if (variance) {
    const d = choleskyInverseDiagonal(l, nk);
    for (let t = 0; t < nk; t++) variance[kept[t]] = d[t];
  }
  return { weights, variance };
}

/** Options of {@link laplaceObsPrune}. */
export interface ObsPruneOptions extends KroneckerObsOptions {
  /** Final fraction of the prunable weights to prune. */
  readonly sparsity: number;
  /** Rounds T ≥ 1 (default 4); round t prunes to 1 − (1 − sparsity)^{t/T} (see {@link obsSparsitySchedule}). */
  readonly steps?: number;
  /** Which covered weights may be pruned (1), e.g. kernels but not biases; default all. */
  readonly prunable?: ArrayLike<number>;
  /** Rank across all covered weights (`global`, default) or within each layer part (`per-layer`). */
  readonly scope?: 'global' | 'per-layer';
}

/**
 * Sparsities of T pruning rounds reaching `sparsity`: s_t = 1 − (1 − s)^{t/T}, so each round keeps the same fraction
 * (1 − s)^{1/T} of the weights the previous one kept.
 */
export function obsSparsitySchedule(sparsity: number, steps: number): number[] {
  return Array.from({ length: steps }, (_, t) =>
    t === steps - 1 ? sparsity : 1 - Math.pow(1 - sparsity, (t + 1) / steps),
  );
}

/**
 * Iterative Optimal-Brain-Surgeon pruning (Hassibi & Stork 1993, re-ranking as in Frantar & Alistarh 2022): round 1
 * prunes by `firstKeep` (a mask from any criterion, at the schedule's first sparsity); every later round conditions the
 * posterior on the pruned weights being zero ({@link laplaceObsUpdate}) and prunes further by the OBS saliency of the
 * conditional posterior, w_k² / Var(w_k | w_Q = 0) — twice the rise of the quadratic loss from removing w_k alone,
 * i.e. the squared signal-to-noise ratio after the update. Already pruned weights stay pruned. Returns the final keep
 * mask and the updated weights (subset order). With `steps = 1` it is the one-shot mask plus the update.
 */
export function laplaceObsPrune(
  posterior: LaplacePosterior,
  firstKeep: ArrayLike<number>,
  options: ObsPruneOptions,
): { keep: Uint8Array; weights: Float64Array } {
  const steps = options.steps ?? 4;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw new BayescompError('bad-config', `OBS pruning needs a whole number of steps ≥ 1, got ${steps}`);
  if (!(options.sparsity >= 0 && options.sparsity < 1))
    throw new BayescompError('bad-config', `OBS pruning sparsity must be in [0, 1), got ${options.sparsity}`);
  const n = posterior.indices.length;
  const prunable = options.prunable ?? new Uint8Array(n).fill(1);
  const keep = Uint8Array.from(firstKeep, (v) => (v ? 1 : 0));
  // Each group is ranked on its own: one group for `global`, one per layer part for `per-layer`.
  const groups: Int32Array[] = [];
  const all = Int32Array.from({ length: n }, (_, i) => i).filter((i) => prunable[i]);
  if ((options.scope ?? 'global') === 'global') groups.push(all);
  else {
    let offset = 0;
    for (const part of posterior.parts) {
      const end = offset + part.local.length;
      groups.push(all.filter((i) => i >= offset && i < end));
      offset = end;
    }
  }
  const schedule = obsSparsitySchedule(options.sparsity, steps);
  for (let t = 1; t < steps; t++) {
    const { weights, variance } = laplaceObsConditional(posterior, keep, options, true);
    for (const group of groups) {
      const target = Math.round(schedule[t] * group.length);
      const alive = group.filter((i) => keep[i]);
      const already = group.length - alive.length;
      const more = Math.min(alive.length, target - already);
      if (more <= 0) continue;
      const saliency = (i: number) => (weights[i] * weights[i]) / variance![i];
      const order = Array.from(alive).sort((x, y) => saliency(x) - saliency(y) || x - y);
      for (let k = 0; k < more; k++) keep[order[k]] = 0;
    }
  }
  return { keep, weights: laplaceObsConditional(posterior, keep, options, false).weights };
}
