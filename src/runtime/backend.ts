import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import { heapHelperFor, startHeapHelper, stopHeapHelper } from './kernels/heapHelper.js';
import { registerMissingKernels } from './kernels/register.js';
import { WasmHeap } from './kernels/wasmHeap.js';
import {
  type WasmThreads,
  autoWasmThreads,
  parseWasmThreads,
  runningWasmThreads,
  startWasmBackend,
} from './wasmThreads.js';

/** TF.js backends bayescomp knows how to start. `tensorflow` is the native one from `@tensorflow/tfjs-node`. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';

/** What the runtime is running on; written into every result file and printed by `bayescomp info`. */
export interface BackendInfo {
  /** The active TF.js backend. */
  readonly name: string;
  /** Version of `@tensorflow/tfjs-core` in use. */
  readonly tfjsVersion: string;
  /** Whether the wasm backend runs its SIMD build (undefined for other backends). */
  readonly simd?: boolean;
  /** Threads the wasm backend uses (undefined for other backends). */
  readonly threads?: number;
  /** Backends that were tried before this one and why they were skipped. */
  readonly skipped: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
  /** Whether we are in Node.js (as opposed to a browser). */
  readonly node: boolean;
}

/** Options for {@link initBackend}. */
export interface InitBackendOptions {
  /**
   * The backend to use, or `auto` (default): in Node `tensorflow` when `@tensorflow/tfjs-node` is installed, else
   * `wasm`, else `cpu`; in a browser `webgl`, else `wasm`, else `cpu`. Also read from `$BAYESCOMP_BACKEND`.
   */
  readonly backend?: BackendName | 'auto';
  /** Where the wasm backend finds its `.wasm` files (a URL prefix); needed only in bundled browser builds. */
  readonly wasmPaths?: string;
  /**
   * Threads of the wasm backend: a count, or `auto` (one per core). More than one runs its threaded SIMD build, in
   * Node started as `src/runtime/wasmThreads.ts` describes: XNNPACK's kernels (convolutions, elementwise ops) use
   * all but one of the threads, and bayescomp's own heap kernels (matrix products, the Sparse VD KL, Adam) split their
   * work with a helper thread, the last one. Default: one thread (or, on a later call, the running backend's count).
   * Also read from `$BAYESCOMP_THREADS` on the first call. A count that cannot be had throws (`auto` falls back to one thread and
   * names the reason in {@link BackendInfo.skipped}). Changing the count of a running wasm backend restarts it,
   * which disposes every tensor on it: choose it before creating tensors.
   */
  readonly threads?: WasmThreads;
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

/**
 * Chooses and starts the TF.js backend once per process; later calls return the same result unless a different
 * backend, or another wasm thread count, is requested explicitly. Registers the kernels bayescomp needs that the
 * backend lacks (e.g. the wasm backend's missing convolution filter gradient). Throws when a backend asked for by name
 * (or a wasm thread count) cannot start, instead of silently running on another (`tf.setBackend` itself only returns
 * false).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const envChoice = isNode ? (process.env.BAYESCOMP_BACKEND as BackendName | 'auto' | undefined) : undefined;
  const requested = options.backend ?? envChoice ?? 'auto';
  if (
    current &&
    (requested === 'auto' || requested === current.name) &&
    (await threadsMatch(current, options))
  ) {
    return current;
  }
  if (pending && requested === 'auto' && options.threads === undefined) return pending;
  // $BAYESCOMP_THREADS is a preference for the wasm backend, not a demand on others (unlike the option).
  const wasmPossible = requested === 'auto' || requested === 'wasm';
  const envThreads =
    isNode && current === undefined && wasmPossible ? process.env.BAYESCOMP_THREADS : undefined;
  const threads =
    options.threads !== undefined
      ? parseWasmThreads(options.threads)
      : envThreads !== undefined && envThreads !== ''
        ? parseWasmThreads(envThreads, '$BAYESCOMP_THREADS')
        : undefined;
  pending = start(requested, { ...options, threads });
  try {
    current = await pending;
    return current;
  } finally {
    pending = undefined;
  }
}

/** Whether the running backend already has the thread count `options` asks for (any, when it asks for none). */
async function threadsMatch(info: BackendInfo, options: InitBackendOptions): Promise<boolean> {
  if (options.threads === undefined || info.name !== 'wasm') return true;
  if (options.threads === 'auto') {
    return info.threads === (await autoWasmThreads()) || info.skipped.some((s) => s.name === THREADED_WASM);
  }
  return info.threads === options.threads;
}

/** How {@link BackendInfo.skipped} names the threaded wasm build when `threads: 'auto'` could not use it. */
const THREADED_WASM = 'wasm (threaded)';

/** The backend chosen by {@link initBackend}, or undefined before it ran. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

async function start(requested: BackendName | 'auto', options: InitBackendOptions): Promise<BackendInfo> {
  const order: BackendName[] =
    requested !== 'auto' ? [requested] : isNode ? ['tensorflow', 'wasm', 'cpu'] : ['webgl', 'wasm', 'cpu'];
  const skipped: { name: string; reason: string }[] = [];
  const threads = options.threads;
  if (
    requested !== 'auto' &&
    requested !== 'wasm' &&
    threads !== undefined &&
    threads !== 1 &&
    threads !== 'auto'
  ) {
    throw new BayescompError(
      'bad-config',
      `threads (${threads}) apply to the wasm backend only, not '${requested}'`,
    );
  }
  for (const name of order) {
    const reason = await tryBackend(name, options, skipped);
    if (reason === undefined) {
      registerMissingKernels(name);
      // In Node the threaded build's XNNPACK runs one thread fewer than asked and bayescomp's own kernels (matrix
      // product, Sparse VD KL, Adam) take that thread as a helper (see heapHelper.ts).
      const memory = name === 'wasm' && isNode ? WasmHeap.of(tf.backend())?.memory() : undefined;
      if (memory !== undefined && ((await runningWasmThreads()) ?? 1) > 1) await startHeapHelper(memory);
      else await stopHeapHelper();
      return describe(name, skipped);
    }
    // Threads asked for by count are never traded for another backend silently.
    const threadsRefused = name === 'wasm' && typeof threads === 'number' && threads > 1;
    if (requested !== 'auto' || threadsRefused) {
      throw new BayescompError('runtime', `backend '${name}' could not be started: ${reason}`);
    }
    skipped.push({ name, reason });
  }
  throw new BayescompError(
    'runtime',
    `no TF.js backend could be started (${skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})`,
  );
}

/** Returns undefined when the backend is active, else why not. */
async function tryBackend(
  name: BackendName,
  options: InitBackendOptions,
  skipped: { name: string; reason: string }[],
): Promise<string | undefined> {
  try {
    if (name === 'tensorflow') {
      // A variable specifier keeps bundlers and the type checker from requiring the optional package.
      const nativePackage = '@tensorflow/tfjs-node';
      await import(nativePackage);
    } else if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths);
      const started = await startWasmBackend(options.threads);
      if (started.threadedSkipped !== undefined)
        skipped.push({ name: THREADED_WASM, reason: started.threadedSkipped });
      return started.failure;
    } else if (name === 'webgpu') {
      const webgpuPackage = '@tensorflow/tfjs-backend-webgpu';
      await import(webgpuPackage);
    }
    if (tf.findBackendFactory(name) === null) return 'not registered';
    if (name === 'cpu') silenceCpuBanner();
    const ok = await tf.setBackend(name);
    if (!ok || tf.getBackend() !== name) return 'initialisation failed';
    await tf.ready();
    return undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return message.includes('Cannot find') || message.includes('Failed to resolve')
      ? 'not installed'
      : message;
  }
}

/**
 * The cpu backend prints a banner recommending `@tensorflow/tfjs-node` on its first tensor in Node. bayescomp reports
 * the backend it runs on itself, so the banner is turned off by marking the backend as already used (its `firstUse`
 * field gates nothing else).
 */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu !== null && cpu.firstUse === true) cpu.firstUse = false;
}

async function describe(name: BackendName, skipped: BackendInfo['skipped']): Promise<BackendInfo> {
  let simd: boolean | undefined;
  let threads: number | undefined;
  if (name === 'wasm') {
    simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    const multi = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const helper = heapHelperFor(WasmHeap.of(tf.backend())?.memory()) ? 1 : 0;
    threads = multi ? wasm.getThreadsCount() + helper : 1;
  }
  return { name, tfjsVersion: tf.version_core, simd, threads, skipped, node: isNode };
}

/** A one-line description such as `wasm (SIMD, 1 thread) on tfjs 4.22.0`, for logs and reports. */
export function describeBackend(info: BackendInfo): string {
  const extras: string[] = [];
  if (info.simd !== undefined) extras.push(info.simd ? 'SIMD' : 'no SIMD');
  if (info.threads !== undefined) extras.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  return `${info.name}${extras.length ? ` (${extras.join(', ')})` : ''} on tfjs ${info.tfjsVersion}`;
}
