import * as tf from '@tensorflow/tfjs';

/** Attribute values handed to a kernel (looser than `tf.NamedAttrMap`, which rejects `undefined` and tuples of tuples). */
export type KernelAttrs = Record<string, unknown>;

/**
 * Runs a backend's own kernels directly, without the engine, from inside another kernel, and frees every intermediate
 * result when done. Kernels composed this way cost no engine bookkeeping per step, are never recorded on a gradient
 * tape, and leak nothing: {@link KernelScope.finish} keeps only the result.
 *
 * Intermediates are released with `backend.disposeData`, which decrements the reference count that kernels such as
 * `Reshape` increment when they share their input's buffer, so each result is released exactly once.
 */
export class KernelScope {
  private readonly intermediates: tf.TensorInfo[] = [];

  constructor(
    /** The backend instance handed to the running kernel. */
    readonly backend: tf.KernelBackend,
    /** Its registered name, to look kernels up in the registry. */
    readonly backendName: string,
  ) {}

  /** Runs the kernel `kernelName` of this backend on `inputs`; the result is freed by {@link finish}. */
  run(kernelName: string, inputs: Record<string, tf.TensorInfo>, attrs: KernelAttrs = {}): tf.TensorInfo {
    const kernel = tf.getKernel(kernelName, this.backendName);
    if (kernel === undefined) {
      throw new Error(`kernel '${kernelName}' is not registered for backend '${this.backendName}'`);
    }
    const out = kernel.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend: this.backend });
    if (Array.isArray(out))
      throw new Error(`kernel '${kernelName}' returned several outputs where one was expected`);
    this.intermediates.push(out);
    return out;
  }

  /** Takes charge of a result produced by a kernel called outside {@link run} (e.g. a wrapped original kernel). */
  adopt(info: tf.TensorInfo): tf.TensorInfo {
    this.intermediates.push(info);
    return info;
  }

  /** Frees one intermediate now (a large one inside a loop) rather than at {@link finish}. */
  release(info: tf.TensorInfo): void {
    const at = this.intermediates.indexOf(info);
    if (at < 0) throw new Error('release: not an intermediate of this scope');
    this.intermediates.splice(at, 1);
    this.backend.disposeData(info.dataId);
  }

  /** `Reshape`, sharing the buffer. */
  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  /** `Transpose`; returns `x` itself when `perm` is the identity. */
  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    if (perm.every((p, i) => p === i)) return x;
    return this.run('Transpose', { x }, { perm });
  }

  /** Zero padding (`PadV2`); returns `x` itself when nothing is padded. */
  pad(x: tf.TensorInfo, paddings: Array<[number, number]>): tf.TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  /** `Slice`; returns `x` itself when the slice is the whole tensor. */
  slice(x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run('Slice', { x }, { begin, size });
  }

  /**
   * Frees every intermediate except `result` and returns it. When `result` is not one of this scope's results (an
   * input passed through unchanged), a copy is returned instead, because a kernel's output must own its buffer.
   */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    if (!this.intermediates.includes(result)) result = this.run('Identity', { x: result });
    for (const info of this.intermediates) {
      if (info !== result) this.backend.disposeData(info.dataId);
    }
    this.intermediates.length = 0;
    return result;
  }

  /** Frees every intermediate (after an error). */
  dispose(): void {
    for (const info of this.intermediates) this.backend.disposeData(info.dataId);
    this.intermediates.length = 0;
  }
}

/** Runs `body` with a fresh {@link KernelScope}, freeing intermediates on success and on error. */
export function withKernelScope(
  backend: tf.KernelBackend,
  backendName: string,
  body: (scope: KernelScope) => tf.TensorInfo,
): tf.TensorInfo {
  const scope = new KernelScope(backend, backendName);
  try {
    return scope.finish(body(scope));
  } catch (err) {
    scope.dispose();
    throw err;
  }
}
