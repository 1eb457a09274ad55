import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import { layerPrecision, type LayerPrecision, roundTensorToPrecision } from './bit-precision.js';
import type { MaskSet } from './masks.js';
import {
  codeBits,
  type CodebookQuantization,
  dequantize,
  kmeansQuantize,
  snapToCodebook,
  uniformQuantize,
} from './quantize.js';
import type { WeightPosterior } from './weight-posterior.js';

/** How kept weights are quantised. */
export type QuantizationMethod =
  /** Bits per layer from the posterior variance (Louizos et al. 2017), rounded to that floating-point precision. */
  | { readonly kind: 'precision' }
  /** Snap to a given ternary/codebook per tensor (VNQ's learned codebook, Achterhold et al. 2018). */
  | { readonly kind: 'codebook'; readonly codebooks: ReadonlyMap<string, Float32Array> }
  /** Baselines on the kept weights: evenly spaced levels, or 1-D k-means. */
  | { readonly kind: 'uniform' | 'kmeans'; readonly bits: number };

/** Kernels after pruning and quantisation, with what the encoders and the report need. */
export interface QuantizedKernels {
  /** Final kernel values by tensor name (pruned entries exactly 0). */
  readonly kernels: Map<string, Float32Array>;
  /** Per-tensor precision (method `precision`). */
  readonly precisions?: Map<string, LayerPrecision>;
  /** Per-tensor codebook and codes of the kept weights in position order (codebook methods). */
  readonly codebooks?: Map<string, CodebookQuantization>;
}

/**
 * Prunes (by `masks`) and quantises each tensor's posterior-mean kernel. Pruned entries are exact zeros and are not
 * encoded; quantisation applies to the kept weights only, and not at all to the layers named in `keepFloat` (pruned
 * only, float32 — the usual exception for a first convolution whose few weights matter most).
 */
export function quantizeKernels(
  posteriors: readonly WeightPosterior[],
  masks: MaskSet,
  method?: QuantizationMethod,
  keepFloat: ReadonlySet<string> = new Set(),
): QuantizedKernels {
  const kernels = new Map<string, Float32Array>();
  const precisions = new Map<string, LayerPrecision>();
  const codebooks = new Map<string, CodebookQuantization>();
  for (const p of posteriors) {
    const mask = masks.get(p.name) ?? new Uint8Array(p.mean.length).fill(1);
    if (!method || keepFloat.has(p.layer)) {
      kernels.set(
        p.name,
        p.mean.map((v, i) => (mask[i] ? v : 0)),
      );
      continue;
    }
    if (method.kind === 'precision') {
      if (!p.variance)
        throw new BayescompError(
          'bad-config',
          `precision quantisation of ${p.name} needs posterior variances`,
        );
      const precision = layerPrecision(p.mean, p.variance, mask);
      precisions.set(p.name, precision);
      kernels.set(p.name, roundTensorToPrecision(p.mean, precision, mask));
      continue;
    }
    const kept = p.mean.filter((_, i) => mask[i] === 1);
    let q: CodebookQuantization;
    if (method.kind === 'codebook') {
      const book = method.codebooks.get(p.name);
      if (!book) throw new BayescompError('bad-config', `no codebook for ${p.name}`);
      q = snapToCodebook(kept, book);
    } else
      q = method.kind === 'uniform' ? uniformQuantize(kept, method.bits) : kmeansQuantize(kept, method.bits);
    codebooks.set(p.name, q);
    const values = dequantize(q);
    const out = new Float32Array(p.mean.length);
    let k = 0;
    for (let i = 0; i < out.length; i++) if (mask[i]) out[i] = values[k++];
    kernels.set(p.name, out);
  }
  return {
    kernels,
    ...(precisions.size ? { precisions } : {}),
    ...(codebooks.size ? { codebooks } : {}),
  };
}

/**
 * Bits per kept weight of each quantised tensor: the precision's bits, or a codebook's code width (2 for VNQ's
 * ternary codebook, k for k-bit uniform/k-means); empty when nothing was quantised.
 */
export function quantizedBits(quantized: QuantizedKernels): Map<string, { bitsPerWeight: number }> {
  const out = new Map<string, { bitsPerWeight: number }>();
  for (const [name, p] of quantized.precisions ?? []) out.set(name, { bitsPerWeight: p.bitsPerWeight });
  for (const [name, q] of quantized.codebooks ?? [])
    out.set(name, { bitsPerWeight: codeBits(q.codebook.length) });
  return out;
}

/** Writes kernels (by `<layer>/kernel` name) into a deterministic model's Dense/Conv2D layers, in place. */
export function setKernels(model: tf.LayersModel, kernels: ReadonlyMap<string, Float32Array>): void {
  for (const [name, values] of kernels) {
    const layerName = name.replace(/\/kernel$/, '');
    const layer = model.getLayer(layerName);
    const [kernel, ...rest] = layer.getWeights();
    if (kernel.size !== values.length) {
      throw new BayescompError(
        'bad-shape',
        `${name}: ${values.length} values for a kernel of ${kernel.size}`,
      );
    }
    const replacement = tf.tensor(values, kernel.shape);
    layer.setWeights([replacement, ...rest]);
    replacement.dispose();
  }
}
