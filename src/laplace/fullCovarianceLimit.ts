import { BayescompError } from '../util/errors.js';

/** Default ceiling on the memory of a full-covariance Laplace fit: 1 GiB. */
export const DEFAULT_MAX_FULL_COVARIANCE_BYTES = 2 ** 30;

/**
 * Bytes a full-covariance Laplace over `size` parameters holds once fitted: three dense S × S float64 matrices — the
 * curvature, the precision P = s·H + diag(τ) and its Cholesky factor — i.e. 24·S² bytes (the covariance P⁻¹, formed
 * only when marginal variances or the GLM predictive ask for it, adds another 8·S²).
 */
export function fullCovarianceBytes(size: number): number {
  return 3 * 8 * size * size;
}

/**
 * Refuses, before anything is allocated, a full-covariance Laplace whose matrices would exceed `limitBytes`, with a
 * `resource-limit` error stating the bytes it would need and the largest parameter count that fits.
 */
export function checkFullCovarianceSize(size: number, limitBytes = DEFAULT_MAX_FULL_COVARIANCE_BYTES): void {
  const needed = fullCovarianceBytes(size);
  if (needed <= limitBytes) return;
  const largest = Math.floor(Math.sqrt(limitBytes / 24));
  throw new BayescompError(
    'resource-limit',
    `a full-covariance Laplace over ${size} parameters needs ${needed} bytes (${formatBytes(needed)}: three ` +
      `${size}×${size} float64 matrices) but the limit is ${limitBytes} bytes (${formatBytes(limitBytes)}, ` +
      `maxFullCovarianceBytes); use hessian 'kron' or 'diag', the last layer, or a subnetwork of at most ${largest} weights`,
  );
}

function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toPrecision(3)} ${units[unit]}`;
}
