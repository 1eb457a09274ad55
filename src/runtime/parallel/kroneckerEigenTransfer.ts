import type { LaplacePosterior } from '../../laplace/laplacePosterior.js';
import type { KroneckerEigen } from '../../laplace/structures/kroneckerPosterior.js';

/**
 * The eigendecompositions of a Kronecker posterior's factors (computed and cached by the posterior if it has none
 * yet); undefined for other structures. They are the costly part of building a Kronecker posterior (seconds for
 * LeNet-5), so they are computed once and handed to the workers instead of being redone in each.
 */
export function kroneckerEigensOf(posterior: LaplacePosterior): KroneckerEigen[] | undefined {
  return posterior.kroneckerEigendecompositions();
}

/**
 * Gives a freshly built posterior the eigendecompositions of its factors computed elsewhere (the same numbers
 * `kroneckerEigen` would give it), before its structure is first built.
 */
export function adoptKroneckerEigens(posterior: LaplacePosterior, eigens: KroneckerEigen[]): void {
  posterior.adoptKroneckerEigendecompositions(eigens);
}
