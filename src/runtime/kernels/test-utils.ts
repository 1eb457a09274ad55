/**
 * Float64 reference convolutions written straight from the defining sums, for testing the composed kernels. NHWC
 * layout, flat row-major arrays. Padding is given explicitly (top, left); the caller takes it from
 * `tf.backend_util.computeConv2DInfo`, so 'same'/'valid' follow TF.js's own rule.
 */

/** Geometry of one 2-D convolution. */
export interface ConvGeometry {
  readonly batch: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly inChannels: number;
  readonly filterHeight: number;
  readonly filterWidth: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly strideHeight: number;
  readonly strideWidth: number;
  readonly dilationHeight: number;
  readonly dilationWidth: number;
  readonly padTop: number;
  readonly padLeft: number;
}

/** Calls `visit(n, p, q, i, j, xIndexWithoutChannel)` for every (output position, filter tap) that reads the input. */
function forEachTap(
  g: ConvGeometry,
  visit: (n: number, p: number, q: number, i: number, j: number, xBase: number) => void,
): void {
  for (let n = 0; n < g.batch; n++) {
    for (let p = 0; p < g.outHeight; p++) {
      for (let q = 0; q < g.outWidth; q++) {
        for (let i = 0; i < g.filterHeight; i++) {
          const r = p * g.strideHeight + i * g.dilationHeight - g.padTop;
          if (r < 0 || r >= g.inHeight) continue;
          for (let j = 0; j < g.filterWidth; j++) {
            const t = q * g.strideWidth + j * g.dilationWidth - g.padLeft;
            if (t < 0 || t >= g.inWidth) continue;
            visit(n, p, q, i, j, ((n * g.inHeight + r) * g.inWidth + t) * g.inChannels);
          }
        }
      }
    }
  }
}

/** y[n,p,q,o] = Σ_{i,j,c} x[n, p·s+i·d−pad, q·s+j·d−pad, c] · W[i,j,c,o] for a filter [fh, fw, C, O]. */
export function referenceConv2d(
  g: ConvGeometry,
  outChannels: number,
  x: ArrayLike<number>,
  filter: ArrayLike<number>,
): Float64Array {
  const c = g.inChannels;
  const out = new Float64Array(g.batch * g.outHeight * g.outWidth * outChannels);
  forEachTap(g, (n, p, q, i, j, xBase) => {
    const yBase = ((n * g.outHeight + p) * g.outWidth + q) * outChannels;
    const wBase = (i * g.filterWidth + j) * c * outChannels;
    for (let k = 0; k < c; k++) {
      const xv = x[xBase + k];
      for (let o = 0; o < outChannels; o++) out[yBase + o] += xv * filter[wBase + k * outChannels + o];
    }
  });
  return out;
}

/** ∂L/∂W[i,j,c,o] = Σ_{n,p,q} x[n, p·s+i·d−pad, q·s+j·d−pad, c] · dy[n,p,q,o] for a filter [fh, fw, C, O]. */
export function referenceConv2dFilterGradient(
  g: ConvGeometry,
  outChannels: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const c = g.inChannels;
  const out = new Float64Array(g.filterHeight * g.filterWidth * c * outChannels);
  forEachTap(g, (n, p, q, i, j, xBase) => {
    const dyBase = ((n * g.outHeight + p) * g.outWidth + q) * outChannels;
    const wBase = (i * g.filterWidth + j) * c * outChannels;
    for (let k = 0; k < c; k++) {
      const xv = x[xBase + k];
      for (let o = 0; o < outChannels; o++) out[wBase + k * outChannels + o] += xv * dy[dyBase + o];
    }
  });
  return out;
}

/** ∂L/∂x[n, p·s+i·d−pad, q·s+j·d−pad, c] += Σ_o dy[n,p,q,o] · W[i,j,c,o] for a filter [fh, fw, C, O]. */
export function referenceConv2dInputGradient(
  g: ConvGeometry,
  outChannels: number,
  filter: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const c = g.inChannels;
  const out = new Float64Array(g.batch * g.inHeight * g.inWidth * c);
  forEachTap(g, (n, p, q, i, j, xBase) => {
    const dyBase = ((n * g.outHeight + p) * g.outWidth + q) * outChannels;
    const wBase = (i * g.filterWidth + j) * c * outChannels;
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let o = 0; o < outChannels; o++) s += dy[dyBase + o] * filter[wBase + k * outChannels + o];
      out[xBase + k] += s;
    }
  });
  return out;
}

/** ∂L/∂W[i,j,c,m] = Σ_{n,p,q} x[n, p·s+i·d−pad, q·s+j·d−pad, c] · dy[n,p,q,c·M+m] for a depthwise filter [fh, fw, C, M]. */
export function referenceDepthwiseFilterGradient(
  g: ConvGeometry,
  multiplier: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const c = g.inChannels;
  const out = new Float64Array(g.filterHeight * g.filterWidth * c * multiplier);
  forEachTap(g, (n, p, q, i, j, xBase) => {
    const dyBase = ((n * g.outHeight + p) * g.outWidth + q) * c * multiplier;
    const wBase = (i * g.filterWidth + j) * c * multiplier;
    for (let k = 0; k < c * multiplier; k++)
      out[wBase + k] += x[xBase + Math.floor(k / multiplier)] * dy[dyBase + k];
  });
  return out;
}

/** ∂L/∂x[n, p·s+i·d−pad, q·s+j·d−pad, c] += dy[n,p,q,c·M+m] · W[i,j,c,m] for a depthwise filter [fh, fw, C, M]. */
export function referenceDepthwiseInputGradient(
  g: ConvGeometry,
  multiplier: number,
  filter: ArrayLike<number>,
  dy: ArrayLike<number>,
): Float64Array {
  const c = g.inChannels;
  const out = new Float64Array(g.batch * g.inHeight * g.inWidth * c);
  forEachTap(g, (n, p, q, i, j, xBase) => {
    const dyBase = ((n * g.outHeight + p) * g.outWidth + q) * c * multiplier;
    const wBase = (i * g.filterWidth + j) * c * multiplier;
    for (let k = 0; k < c * multiplier; k++) {
      out[xBase + Math.floor(k / multiplier)] += dy[dyBase + k] * filter[wBase + k];
    }
  });
  return out;
}

/** The largest |a − b| relative to the largest |b| (a scale-free error for comparing float32 results to float64). */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
