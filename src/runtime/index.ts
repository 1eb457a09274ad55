export * from './backend.js';
export * from './random.js';
export * from './memory.js';
export { patchedKernels, registerMissingKernels, replacedKernel } from './kernels/register.js';
