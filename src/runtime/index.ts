export * from './backend.js';
export * from './random.js';
export * from './memory.js';
export { type WasmThreads, parseWasmThreads, runningWasmThreads } from './wasmThreads.js';
export { patchedKernels, registerMissingKernels, replacedKernel } from './kernels/register.js';
