import { BayescompError } from '../util/errors.js';
import type { Curvature, HessianStructure } from './curvature/curvature.js';
import type { CurvatureType, LaplaceLikelihood, LikelihoodStats } from './likelihood.js';
import type { KroneckerPrior } from './structures/kroneckerPosterior.js';

/** Everything that defines a fitted Laplace posterior apart from the model itself. */
export interface LaplaceState {
  readonly likelihood: LaplaceLikelihood;
  readonly curvatureType: CurvatureType;
  readonly hessian: HessianStructure;
  readonly kronPrior: KroneckerPrior;
  /** Prior precision λ per covered layer (before the subnetwork rescaling). */
  priorPrecision: number[];
  /** Subnetwork rescaling S/D of the prior precision (1 otherwise). */
  readonly priorScale: number;
  /** Regression observation variance σ². */
  sigma2: number;
  /** Covered global parameter indices, increasing. */
  readonly indices: Int32Array;
  /** The model's Laplace parameter vector θ* at fit time (all Dense/Conv2D layers). */
  readonly theta: Float32Array;
  curvature: Curvature;
  readonly stats: LikelihoodStats;
  /** The layer layout at fit time, to check the model a posterior is loaded for. */
  readonly layers: ReadonlyArray<{
    readonly name: string;
    readonly offset: number;
    readonly paramCount: number;
  }>;
}

interface BufferEntry {
  readonly name: string;
  readonly dtype: 'float64' | 'float32' | 'int32';
  readonly byteOffset: number;
  readonly length: number;
}

const FORMAT = 'bayescomp-laplace';

/** The JSON header and the binary buffer of a state (arrays packed 8-byte aligned). */
export function encodeLaplaceState(state: LaplaceState): { json: string; bin: Uint8Array } {
  const arrays: [string, Float64Array | Float32Array | Int32Array][] = [
    ['indices', state.indices],
    ['theta', state.theta],
  ];
  const c = state.curvature;
  if (c.structure === 'diag') arrays.push(['diag', c.values]);
  else if (c.structure === 'full') arrays.push(['full', c.matrix]);
  else c.factors.forEach((f, i) => arrays.push([`sumA${i}`, f.sumA], [`sumG${i}`, f.sumG]));
  const entries: BufferEntry[] = [];
  let offset = 0;
  for (const [name, a] of arrays) {
    const dtype = a instanceof Float64Array ? 'float64' : a instanceof Float32Array ? 'float32' : 'int32';
    entries.push({ name, dtype, byteOffset: offset, length: a.length });
    offset += Math.ceil(a.byteLength / 8) * 8;
  }
  const bin = new Uint8Array(offset);
  arrays.forEach(([, a], i) =>
    bin.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), entries[i].byteOffset),
  );
  const header = {
    format: FORMAT,
    version: 1,
    likelihood: state.likelihood,
    curvatureType: state.curvatureType,
    hessian: state.hessian,
    kronPrior: state.kronPrior,
    priorPrecision: state.priorPrecision,
    priorScale: state.priorScale,
    sigma2: state.sigma2,
    stats: state.stats,
    layers: state.layers,
    kron:
      c.structure === 'kron'
        ? c.factors.map((f) => ({ layerName: f.layerName, count: f.count, locations: f.locations }))
        : undefined,
    fullSize: c.structure === 'full' ? c.size : undefined,
    buffers: entries,
  };
  return { json: JSON.stringify(header, null, 2) + '\n', bin };
}

/** Rebuilds a state from {@link encodeLaplaceState}'s output; `file` names the header in error messages. */
export function decodeLaplaceState(json: string, bin: Uint8Array, file: string): LaplaceState {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(json) as Record<string, unknown>;
  } catch (err) {
    throw new BayescompError('bad-format', 'not valid JSON', { file, cause: err });
  }
  if (h.format !== FORMAT || h.version !== 1)
    throw new BayescompError('bad-format', `not a ${FORMAT} v1 file`, { file });
  const buffers = new Map((h.buffers as BufferEntry[]).map((e) => [e.name, e]));
  const copy = new Uint8Array(bin); // aligned private copy
  const read = (name: string) => {
    const e = buffers.get(name);
    if (!e) throw new BayescompError('bad-format', `missing buffer '${name}'`, { file });
    const width = e.dtype === 'float64' ? 8 : 4;
    if (e.byteOffset + e.length * width > copy.byteLength)
      throw new BayescompError('bad-format', `buffer '${name}' is truncated`, { file });
    const Ctor = e.dtype === 'float64' ? Float64Array : e.dtype === 'float32' ? Float32Array : Int32Array;
    return new Ctor(copy.buffer, e.byteOffset, e.length).slice();
  };
  const hessian = h.hessian as HessianStructure;
  let curvature: Curvature;
  if (hessian === 'diag') curvature = { structure: 'diag', values: read('diag') as Float64Array };
  else if (hessian === 'full')
    curvature = { structure: 'full', size: h.fullSize as number, matrix: read('full') as Float64Array };
  else {
    const kron = h.kron as { layerName: string; count: number; locations: number }[];
    curvature = {
      structure: 'kron',
      factors: kron.map((k, i) => ({
        ...k,
        sumA: read(`sumA${i}`) as Float64Array,
        sumG: read(`sumG${i}`) as Float64Array,
      })),
    };
  }
  return {
    likelihood: h.likelihood as LaplaceLikelihood,
    curvatureType: h.curvatureType as CurvatureType,
    hessian,
    kronPrior: h.kronPrior as KroneckerPrior,
    priorPrecision: h.priorPrecision as number[],
    priorScale: h.priorScale as number,
    sigma2: h.sigma2 as number,
    indices: read('indices') as Int32Array,
    theta: read('theta') as Float32Array,
    curvature,
    stats: h.stats as LikelihoodStats,
    layers: h.layers as LaplaceState['layers'],
  };
}
