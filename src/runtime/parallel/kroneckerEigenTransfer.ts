import type { LaplacePosterior } from '../../laplace/laplacePosterior.js';
import { laplaceStateOf } from './laplaceWorker.js';
import { kroneckerEigen, type KroneckerEigen } from '../../laplace/structures/kroneckerPosterior.js';

/**
 * The eigendecompositions of a Kronecker posterior's factors, computed (and cached in the posterior) if it has none
 * yet; undefined for other structures. They are the costly part of building a Kronecker posterior (seconds for
 * LeNet-5), so they are computed once and handed to the workers instead of being redone in each. `LaplacePosterior`
 * keeps them private; a public accessor in `src/laplace` should replace this read.
 */
export function kroneckerEigensOf(posterior: LaplacePosterior): KroneckerEigen[] | undefined {
  const state = laplaceStateOf(posterior);
  if (state.curvature.structure !== 'kron') return undefined;
  const cache = posterior as unknown as { kronEigens?: KroneckerEigen[] };
  return (cache.kronEigens ??= kroneckerEigen(state.curvature));
}

/**
 * Gives a freshly built posterior the eigendecompositions of its factors computed elsewhere (the same numbers
 * `kroneckerEigen` would give it), before its structure is first built.
 */
export function adoptKroneckerEigens(posterior: LaplacePosterior, eigens: KroneckerEigen[]): void {
  (posterior as unknown as { kronEigens?: KroneckerEigen[] }).kronEigens = eigens;
}
