/**
 * Special functions TF.js lacks, in float64 JavaScript, for posterior summaries computed outside the graph.
 */

/**
 * The complementary error function erfc(x), with relative error below 1.2e-7 everywhere (Chebyshev fit of
 * Numerical Recipes, 3rd ed., §6.2.2, `erfccheb`-style rational approximation).
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 2 / (2 + z);
  const ty = 4 * t - 2;
  let d = 0;
  let dd = 0;
  for (let j = ERFC_COEFFICIENTS.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + ERFC_COEFFICIENTS[j];
    dd = tmp;
  }
  const value = t * Math.exp(-z * z + 0.5 * (ERFC_COEFFICIENTS[0] + ty * d) - dd);
  return x >= 0 ? value : 2 - value;
}

const ERFC_COEFFICIENTS = [
  -1.3026537197817094, 0.6419697923564902, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4,
  3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6,
  1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10, -2.27365122e-10,
  9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15,
  -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17,
];

/** The standard normal cumulative distribution function Φ(x) = erfc(−x/√2)/2. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** log N(x | mean, variance). */
export function normalLogPdf(x: number, mean: number, variance: number): number {
  const d = x - mean;
  return -0.5 * (Math.log(2 * Math.PI * variance) + (d * d) / variance);
}
