/**
 * Every evaluation metric, as pure functions over plain typed arrays: probabilities are row-major n×C
 * `Float32Array`s, labels `Int32Array`s, Monte-Carlo samples S×n×C `Float32Array`s.
 */
export * from './classification-metrics.js';
export * from './calibration.js';
export * from './uncertainty.js';
export * from './ood-detection.js';
export * from './regression-metrics.js';
