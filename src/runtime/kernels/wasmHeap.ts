import type * as tf from '@tensorflow/tfjs';
import { type HeapRuns, javascriptRuns, simdRuns } from './heapRuns.js';

/**
 * What the wasm backend offers a JavaScript kernel: outputs allocated on its heap (`makeOutput`) and the heap itself,
 * so that a kernel can read its inputs and write its output in place, with no copy in or out (`readSync` copies, and
 * `write` copies again).
 */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: WebAssembly.Memory }; wasmMemory?: WebAssembly.Memory };
}

/**
 * The wasm backend's heap as seen by one JavaScript kernel. Every float32 tensor is a range of {@link f32}, found by
 * {@link offset}, so that copies between tensors are `f32.copyWithin` calls (no view objects allocated per copy).
 *
 * The heap grows when the backend allocates and a grown heap detaches old views: take {@link f32} again after
 * anything that may allocate (another kernel, {@link output}).
 */
export class WasmHeap {
  private constructor(private readonly backend: WasmBackendLike) {}

  /** The heap accessor of `backend`, or undefined when it is not the wasm backend. */
  static of(backend: tf.KernelBackend): WasmHeap | undefined {
    const candidate = backend as unknown as Partial<WasmBackendLike>;
    const usable =
      typeof candidate.makeOutput === 'function' &&
      typeof candidate.typedArrayFromHeap === 'function' &&
      candidate.dataIdMap !== undefined &&
      candidate.wasm?.HEAPU8 !== undefined;
    return usable ? new WasmHeap(candidate as WasmBackendLike) : undefined;
  }

  /** A new float32 tensor on the heap (contents undefined); the caller owns it. */
  output(shape: number[]): tf.TensorInfo {
    return this.backend.makeOutput(shape, 'float32');
  }

  /** The whole heap as float32 values (valid until the next allocation). */
  get f32(): Float32Array {
    // The memory's own buffer is current even after a grow on another thread of the threaded build, which
    // refreshes HEAPU8 only when the main thread next looks.
    const buffer = this.memory()?.buffer ?? this.backend.wasm.HEAPU8.buffer;
    return new Float32Array(buffer, 0, buffer.byteLength >>> 2);
  }

  /**
   * The backend's `WebAssembly.Memory`: exported by the single-threaded builds (`asm.memory`); created by the
   * JavaScript side and imported by the threaded build (`wasmMemory`, shared).
   */
  memory(): WebAssembly.Memory | undefined {
    const { asm, wasmMemory } = this.backend.wasm;
    const memory = asm?.memory ?? wasmMemory;
    return memory instanceof WebAssembly.Memory ? memory : undefined;
  }

  /**
   * Strided run copies and sums on this heap: the SIMD module sharing the backend's memory where it can be
   * instantiated, else JavaScript loops over {@link f32} (then valid until the next allocation, like {@link f32}).
   */
  runs(): HeapRuns {
    const memory = this.memory();
    const simd = memory !== undefined ? simdRuns(memory) : undefined;
    return simd ?? javascriptRuns(this.f32);
  }

  /** Index in {@link f32} of the first element of a float32 tensor. */
  offset(info: tf.TensorInfo): number {
    if (info.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${info.dtype}`);
    const data = this.backend.dataIdMap.get(info.dataId);
    if (data === undefined) throw new Error('tensor is not on the wasm heap');
    return data.memoryOffset >>> 2;
  }
}
