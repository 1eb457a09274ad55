/**
 * bayescomp — Bayesian neural networks for TensorFlow.js, and compression from their posteriors.
 *
 * Exported groups:
 * - runtime: backend choice ({@link initBackend}) and seeded randomness ({@link Random}).
 * - data: datasets (IDX, CSV, Fashion-MNIST/MNIST lookup), batching and splits.
 * - models: the model zoo and TF.js Layers model files on disk.
 * - train: the training loop, optimisers, schedules, checkpoints.
 * - variational: Bayesian layers, posterior families, ELBO and Rényi objectives, conversion.
 * - laplace: curvature, Laplace posteriors, predictives, marginal likelihood.
 * - compress: pruning, quantisation, export, compression reports.
 * - eval: metrics, predictives, uncertainty, OOD detection.
 * - report: plots and HTML reports.
 * - util: errors and atomic file writes.
 */
export * from './runtime/index.js';
export * from './runtime/parallel/index.js';
export * from './util/index.js';
export * from './data/index.js';
export * from './models/index.js';
export * from './train/index.js';
export * from './variational/index.js';
export * from './laplace/index.js';
export * from './compress/index.js';
export * from './eval/index.js';
export * from './report/index.js';
