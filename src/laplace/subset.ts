import { Random } from '../runtime/random.js';
import { BayescompError } from '../util/errors.js';
import type { LaplaceLayout } from './model/laplaceLayers.js';

/** How a subnetwork is chosen (Daxberger et al. 2021, seed 002 §5 step 2). */
export type SubnetworkStrategy =
  /**
   * The S weights of largest marginal variance under a diagonal Laplace: minimises the Wasserstein bound (seed 002
   * eq. 12). Weights without curvature (the data never moves them: inputs that are always zero, ReLU units that never
   * fire) all share the largest variance, the prior's, yet do not change any output; they are taken only after every
   * weight with curvature.
   */
  | 'largestVariance'
  /** The S weights of largest |θ*|. */
  | 'largestMagnitude'
  /** S weights uniformly at random (a baseline). */
  | 'random';

/**
 * Which weights the Laplace approximation covers; all others stay at their MAP values (a point mass, seed 002 eq. 2).
 * Indices are positions in the Laplace parameter vector (see `laplaceLayout`: each Dense/Conv2D layer's augmented
 * weight matrix [kernel; bias], row-major, in model order).
 */
export type WeightSubset =
  | 'all'
  | 'lastLayer'
  | { readonly layers: readonly string[] }
  | { readonly indices: ArrayLike<number> }
  | {
      readonly strategy: SubnetworkStrategy;
      readonly count: number;
      readonly seed?: number;
      /** Choose only among these Dense/Conv2D layers' weights (default: all layers). */
      readonly layers?: readonly string[];
    };

/** Whether the subset is a subnetwork (chosen weights rather than whole layers): its prior precision is rescaled. */
export function isSubnetwork(subset: WeightSubset): boolean {
  return typeof subset === 'object' && ('strategy' in subset || 'indices' in subset);
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Indices of the `count` largest scores, returned in increasing index order. */
export function topIndices(scores: ArrayLike<number>, count: number): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, count).sort();
}

/** A diagonal Laplace over all weights: marginal variances and the curvature (GGN or Fisher diagonal) behind them. */
export interface DiagonalLaplaceSummary {
  readonly variances: Float64Array;
  readonly curvature: Float64Array;
}

/**
 * Scores for the `largestVariance` strategy: the marginal variance, with weights whose curvature is zero (relative to
 * the largest, 1e-12) ranked below every weight that has curvature, in their own variance order.
 */
export function largestVarianceScores({ variances, curvature }: DiagonalLaplaceSummary): Float64Array {
  let maxCurvature = 0;
  let maxVariance = 0;
  for (let i = 0; i < curvature.length; i++) {
    maxCurvature = Math.max(maxCurvature, curvature[i]);
    maxVariance = Math.max(maxVariance, variances[i]);
  }
  const floor = maxCurvature * 1e-12;
  return variances.map((v, i) => (curvature[i] > floor ? v : v - 2 * maxVariance - 1));
}

/**
 * Resolves a {@link WeightSubset} to sorted, unique global parameter indices. `diagonalLaplace` is called only for
 * the `largestVariance` strategy: it fits a diagonal Laplace over the named layers (all layers when `layers` is
 * undefined) and returns their weights' summary in global index order — a weight's diagonal-Laplace variance does not
 * depend on which other weights are covered, so a restricted choice needs only its layers' curvature. `theta` is the
 * full parameter vector.
 */
export function resolveSubset(
  subset: WeightSubset,
  layout: LaplaceLayout,
  theta: Float32Array,
  diagonalLaplace: (layers?: readonly string[]) => DiagonalLaplaceSummary,
): Int32Array {
  const d = layout.totalParams;
  if (subset === 'all') return Int32Array.from(range(0, d));
  if (subset === 'lastLayer') {
    const last = layout.layers.find((l) => l.isOutput) ?? layout.layers[layout.layers.length - 1];
    return Int32Array.from(range(last.offset, last.paramCount));
  }
  if ('layers' in subset && !('strategy' in subset)) return layerIndices(layout, subset.layers);
  if ('indices' in subset) {
    const out = Int32Array.from(new Set(Array.from(subset.indices))).sort();
    if (out.length === 0 || out[0] < 0 || out[out.length - 1] >= d) {
      throw new BayescompError('bad-config', `subnetwork indices must be non-empty and within [0, ${d})`);
    }
    return out;
  }
  const count = subset.count;
  // The candidates: every weight, or those of the named layers.
  const pool = subset.layers ? layerIndices(layout, subset.layers) : undefined;
  const size = pool?.length ?? d;
  if (!(count >= 1 && count <= size) || !Number.isInteger(count)) {
    throw new BayescompError(
      'bad-config',
      `subnetwork size must be an integer in [1, ${size}], got ${count}`,
    );
  }
  // Scores over the candidates, in candidate order (pool order, or all weights).
  const choose = (scores: ArrayLike<number>): Int32Array => {
    const top = topIndices(scores, count);
    return pool ? Int32Array.from(top, (k) => pool[k]).sort() : top;
  };
  if (subset.strategy === 'largestVariance')
    return choose(largestVarianceScores(diagonalLaplace(subset.layers)));
  if (subset.strategy === 'largestMagnitude')
    return choose(pool ? Float64Array.from(pool, (i) => Math.abs(theta[i])) : theta.map(Math.abs));
  if (subset.strategy === 'random') {
    const order = new Random(subset.seed ?? 0).permutation(size).slice(0, count);
    return (pool ? Int32Array.from(order, (k) => pool[k]) : Int32Array.from(order)).sort();
  }
  throw new BayescompError('bad-config', `unknown subnetwork strategy '${String(subset.strategy)}'`);
}

/** Sorted global indices of every weight of the named layers; an unknown name is a configuration error. */
function layerIndices(layout: LaplaceLayout, names: readonly string[]): Int32Array {
  const out: number[] = [];
  for (const name of names) {
    const l = layout.layers.find((x) => x.name === name);
    if (!l) {
      const known = layout.layers.map((x) => x.name).join(', ');
      throw new BayescompError('bad-config', `no Dense/Conv2D layer named '${name}' (layers: ${known})`);
    }
    out.push(...range(l.offset, l.paramCount));
  }
  return Int32Array.from(new Set(out)).sort();
}
