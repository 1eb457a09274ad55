/**
 * Registers kernels that bayescomp needs and a backend lacks or implements too slowly. Called once by
 * `initBackend` after the backend is active.
 */
export function registerMissingKernels(_backend: string): void {
  // Filled by the runtime kernels module (Conv2DBackpropFilter for wasm and cpu).
}
