export * from './dataset.js';
export * from './batches.js';
