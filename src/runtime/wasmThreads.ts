/**
 * The wasm backend with more than one thread: TF.js ships a threaded SIMD build (`tfjs-backend-wasm-threaded-simd.wasm`)
 * whose XNNPACK kernels (MatMul, Conv2D, …) split their work over a pool of emscripten pthreads. Browsers start it
 * on cross-origin isolated pages; in Node TF.js never selects it, and it would not start if selected. Three things
 * stand in the way, each worked around here only while the backend initialises, and only for callers who ask for
 * threads (see {@link startWasmBackend}):
 *
 * 1. `WASM_HAS_MULTITHREAD_SUPPORT` evaluates to false in Node: it is set to true.
 * 2. The pthreads are `worker_threads.Worker`s started from `blob:` URLs holding emscripten's worker script, which
 *    loads the main script (the threaded factory's source, itself a Blob) with `importScripts`; Node can start
 *    neither. While the backend starts, `worker_threads.Worker` starts such URLs as `PTHREAD_BOOTSTRAP` (in
 *    `wasmPthreadsNode.ts`), which reads both Blobs, defines the bundle's module variables the factory source refers
 *    to and evaluates them. The emscripten scripts themselves are run unchanged.
 * 3. The backend gives XNNPACK at most half the logical cores `os.cpus()` reports, so on 2 cores it would run 1
 *    thread: while it starts, `os.cpus()` reports at least twice the threads asked for.
 *
 * In Node, XNNPACK gets one thread fewer than asked: the last one is bayescomp's kernel helper (`heapHelper.ts`,
 * started by `initBackend`), which splits the kernels bayescomp itself runs on the heap (matrix product, Sparse VD KL,
 * Adam). Both pools polling at once would oversubscribe the cores; XNNPACK's elementwise kernels wake its pool too.
 *
 * Afterwards `worker_threads.Worker`, `os.cpus` and the global `Worker` (which emscripten sets) are restored and the
 * pool's idle workers (emscripten preallocates 8) are terminated. The pthreads stay unreferenced, so they never keep
 * a process from exiting. Results are bit-identical to the single-threaded SIMD build: XNNPACK splits a product into
 * tiles and each output element is still summed in the same order.
 */
import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';

/** Threads of the wasm backend: a count ≥ 1, or `auto` (one per core where the threaded build starts, else 1). */
export type WasmThreads = number | 'auto';

/** What {@link startWasmBackend} did: `failure` says why the wasm backend is not running (undefined when it is). */
export interface WasmStart {
  readonly failure?: string;
  /** With `auto`, why the threaded build was not used (the backend then runs one thread). */
  readonly threadedSkipped?: string;
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

// Variable specifiers keep bundlers from pulling Node modules into browser builds (the browser never takes these paths).
const NODE_OS = 'node:os';
const NODE_PTHREADS = './wasmPthreadsNode.js';

/** The Node-only pthread start-up module. */
async function nodePthreads(): Promise<typeof import('./wasmPthreadsNode.js')> {
  return (await import(/* @vite-ignore */ NODE_PTHREADS)) as typeof import('./wasmPthreadsNode.js');
}

/**
 * Reads a thread count from a flag or `$BAYESCOMP_THREADS`: a positive integer or `auto`. Throws a
 * {@link BayescompError} naming `source` otherwise.
 */
export function parseWasmThreads(value: string | number, source = 'threads'): WasmThreads {
  const text = String(value).trim().toLowerCase();
  if (text === 'auto') return 'auto';
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1 || text === '') {
    throw new BayescompError(
      'bad-config',
      `${source} must be a positive integer or 'auto', got '${String(value)}'`,
    );
  }
  return count;
}

/** The thread count `auto` stands for: the cores available to this process (1 when unknown). */
export async function autoWasmThreads(): Promise<number> {
  if (isNode) {
    const os = (await import(/* @vite-ignore */ NODE_OS)) as typeof import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return typeof navigator !== 'undefined' ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;
}

/**
 * Threads of the wasm backend instance that has been initialised (whether or not it is the active backend), or
 * undefined when there is none.
 */
export async function runningWasmThreads(): Promise<number | undefined> {
  if (initialisedWasm() === undefined) return undefined;
  const threaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  if (!threaded) return 1;
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  return wasm.getThreadsCount() + (isNode ? 1 : 0);
}

/**
 * Makes the wasm backend the active one with `threads` threads (undefined: the running instance as it is, else the
 * single-threaded build). A running instance with another count is restarted, which disposes every tensor held on
 * it. Resolves with the reason when the backend cannot start; a count that cannot be had is such a failure (with
 * `auto`, the backend falls back to one thread instead and says why in `threadedSkipped`).
 */
export async function startWasmBackend(threads: WasmThreads | undefined): Promise<WasmStart> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (tf.findBackendFactory('wasm') === null) return { failure: 'not registered' };
  const running = await runningWasmThreads();
  if (threads === undefined) {
    if (running === undefined && isNode) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return { failure: await activateWasm() };
  }
  const wanted = threads === 'auto' ? await autoWasmThreads() : threads;
  if (running === wanted) return { failure: await activateWasm() };
  if (running !== undefined) restartWasm();
  if (wanted === 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return { failure: await activateWasm() };
  }
  // In Node one of the threads is bayescomp's kernel helper (heapHelper.ts), started by initBackend.
  const xnnpack = isNode ? wanted - 1 : wanted;
  wasm.setThreadsCount(xnnpack);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const failure = await startThreaded(xnnpack);
  if (failure === undefined) return {};
  const reason = `the threaded wasm build could not start ${wanted} threads: ${failure}`;
  if (threads !== 'auto') return { failure: reason };
  restartWasm();
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  return { failure: await activateWasm(), threadedSkipped: reason };
}

/**
 * The initialised wasm backend instance, if any. (`tf.findBackend` would start initialising a registered backend,
 * with whatever flags are set at that moment.)
 */
function initialisedWasm(): tf.KernelBackend | undefined {
  return (tf.engine() as unknown as { registry: Record<string, tf.KernelBackend | undefined> }).registry.wasm;
}

/** `tf.setBackend('wasm')`; undefined when it is active, else why not. */
async function activateWasm(): Promise<string | undefined> {
  const ok = await tf.setBackend('wasm');
  if (!ok || tf.getBackend() !== 'wasm') return 'initialisation failed';
  await tf.ready();
  return undefined;
}

/**
 * Drops the initialised wasm backend (disposing its module, pthreads and tensors) and registers its factory again,
 * so that the next `tf.setBackend('wasm')` builds a new instance with the current flags.
 */
export function restartWasm(): void {
  const factory = tf.findBackendFactory('wasm');
  if (factory === null) return;
  const entries = (tf.engine() as unknown as { registryFactory: Record<string, { priority?: number }> })
    .registryFactory;
  const priority = entries.wasm?.priority ?? 2;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', factory, priority);
}

/** Starts the threaded build (flags already set); undefined when it runs `threads` threads, else why not. */
async function startThreaded(threads: number): Promise<string | undefined> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  let failure: string | undefined;
  try {
    failure = isNode
      ? await (await nodePthreads()).withNodePthreads(threads, activateWasm)
      : await activateWasm();
  } catch (err) {
    failure = err instanceof Error ? err.message.split('\n')[0] : String(err);
  }
  if (failure !== undefined) return failure;
  const got = wasm.getThreadsCount();
  if (got !== threads) {
    return isNode
      ? `XNNPACK started ${got} threads`
      : `XNNPACK started ${got} threads (is the page cross-origin isolated?)`;
  }
  trimIdlePthreads();
  return undefined;
}

/** The part of a started emscripten module that holds its pthread workers. */
interface PthreadPool {
  unusedWorkers: { terminate(): unknown }[];
}

/**
 * Terminates the pool's idle workers: emscripten preallocates 8, each with its own JavaScript heap and wasm instance,
 * and XNNPACK has already taken the threads it keeps for the life of the backend.
 */
function trimIdlePthreads(): void {
  const backend = initialisedWasm() as unknown as { wasm?: { PThread?: PthreadPool } } | undefined;
  const pool = backend?.wasm?.PThread;
  if (pool === undefined) return;
  for (const worker of pool.unusedWorkers) void worker.terminate();
  pool.unusedWorkers = [];
}
