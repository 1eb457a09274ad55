export * from './errors.js';
export * from './atomic-write.js';
