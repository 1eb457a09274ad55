export * from './weight-posterior.js';
export * from './pruning-rules.js';
export * from './masks.js';
export * from './bit-precision.js';
export * from './quantize.js';
export * from './bit-stream.js';
export * from './compact-codec.js';
export * from './structured.js';
