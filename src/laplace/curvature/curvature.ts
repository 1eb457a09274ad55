import type { LayerQuantities } from '../model/preactivationGradients.js';
import { accumulateDiagonal, type DiagonalCurvature, emptyDiagonalCurvature } from './diagonalCurvature.js';
import { accumulateFull, emptyFullCurvature, flushFull, type FullCurvature } from './fullCurvature.js';
import {
  accumulateKronecker,
  emptyKroneckerCurvature,
  type KroneckerCurvature,
} from './kroneckerCurvature.js';
import type { LayerSubset } from './layerJacobian.js';

/** How the curvature (and the posterior precision) is stored: its diagonal, per-layer Kronecker factors, or dense. */
export type HessianStructure = 'diag' | 'kron' | 'full';

/** A curvature of any structure. */
export type Curvature = DiagonalCurvature | KroneckerCurvature | FullCurvature;

/** A zero curvature of the given structure over the subset `parts` (S parameters). */
export function emptyCurvature(structure: HessianStructure, parts: readonly LayerSubset[]): Curvature {
  const size = parts.reduce((s, p) => s + p.local.length, 0);
  if (structure === 'diag') return emptyDiagonalCurvature(size);
  if (structure === 'kron') return emptyKroneckerCurvature(parts);
  return emptyFullCurvature(size);
}

/**
 * Adds one batch's curvature (from its weighted pulled-back cotangents) into `curvature`. Call
 * {@link finishCurvature} after the last batch (a dense curvature sums a few batches on the backend first).
 */
export function accumulateCurvature(
  curvature: Curvature,
  q: LayerQuantities,
  parts: readonly LayerSubset[],
): void {
  if (curvature.structure === 'diag') accumulateDiagonal(curvature, q, parts);
  else if (curvature.structure === 'kron') accumulateKronecker(curvature, q, parts);
  else accumulateFull(curvature, q, parts);
}

/** Completes a curvature after its last batch: moves sums still held on the backend into its float64 arrays. */
export function finishCurvature(curvature: Curvature): void {
  if (curvature.structure === 'full') flushFull(curvature);
}

/** A deep copy (so a fitted posterior can be extended without changing the original). */
export function cloneCurvature(c: Curvature): Curvature {
  if (c.structure === 'diag') return { structure: 'diag', values: c.values.slice() };
  if (c.structure === 'full') return { structure: 'full', size: c.size, matrix: c.matrix.slice() };
  return {
    structure: 'kron',
    factors: c.factors.map((f) => ({ ...f, sumA: f.sumA.slice(), sumG: f.sumG.slice() })),
  };
}

/** Adds `b` into `a` (same structure and subset): the curvature of the union of their data. */
export function addCurvature(a: Curvature, b: Curvature): void {
  if (a.structure === 'diag' && b.structure === 'diag') addArray(a.values, b.values);
  else if (a.structure === 'full' && b.structure === 'full') addArray(a.matrix, b.matrix);
  else if (a.structure === 'kron' && b.structure === 'kron') {
    a.factors.forEach((f, i) => {
      addArray(f.sumA, b.factors[i].sumA);
      addArray(f.sumG, b.factors[i].sumG);
      f.count += b.factors[i].count;
      f.locations = b.factors[i].locations || f.locations;
    });
  } else throw new Error(`cannot add ${b.structure} curvature to ${a.structure}`);
}

function addArray(a: Float64Array, b: Float64Array): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}
