/**
 * Every chart of a bayescomp report: each function takes plain data and returns `{ svg }` (and PNG bytes with
 * `png: true`), rendered headlessly by Vega (SVG) and resvg (PNG).
 */
export * from './render.js';
export * from './histogram.js';
export { type HistogramSeries } from './chart-data.js';
export * from './calibration-charts.js';
export * from './histogram-charts.js';
export * from './training-charts.js';
export * from './compression-charts.js';
export * from './weight-image.js';
