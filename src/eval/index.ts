/**
 * Evaluation: metrics over plain typed arrays, the {@link Predictive} interface every method implements, its
 * adapters (deterministic, Monte-Carlo, MC dropout, deep ensemble), test-set evaluation with OOD detection, and
 * the ensemble baseline's training.
 */
export * from './metrics.js';
export * from './predictive.js';
export * from './stochastic-forward.js';
export * from './evaluate.js';
export * from './baselines.js';
