import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { BayescompError, type ErrorCode } from '../../util/errors.js';
import { ABORTED_MESSAGE } from './barrier.js';

/** What the main thread asks a worker to do: a handler name and its (structured-cloneable) argument. */
export interface WorkerRequest {
  readonly id: number;
  readonly task: string;
  readonly payload: unknown;
}

/** A worker's answer to one {@link WorkerRequest}. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError };

/** An error as it crosses the thread boundary. */
export interface SerializedError {
  readonly message: string;
  readonly code?: ErrorCode;
  readonly stack?: string;
}

/** What every worker receives at start-up. */
export interface WorkerStartData {
  /** The TF.js backend to start (the main thread's, so results agree). */
  readonly backend: string;
  /** Module specifiers (absolute URLs or package names) imported before any task, e.g. to register custom layers. */
  readonly imports: readonly string[];
  /** Zero-based position in the pool. */
  readonly index: number;
}

/** Options of {@link WorkerPool.start}. */
export interface WorkerPoolOptions {
  readonly workers: number;
  readonly backend: string;
  readonly imports?: readonly string[];
}

/**
 * How to start a worker: the compiled `workerEntry.js` beside this module (from `dist/`), or, when this module runs
 * from its TypeScript source (tsx, vitest), a small script that registers tsx's loader in the worker and then imports
 * `workerEntry.ts`. Node 20 does not carry the main thread's tsx hooks into workers and `--import tsx` in a worker's
 * `execArgv` registers nothing there (tsx registers on the main thread only), hence the explicit registration.
 */
export function workerLaunch(): { script: string | URL; eval: boolean } {
  const here = import.meta.url;
  if (!/\.[cm]?ts$/.test(new URL(here).pathname))
    return { script: new URL('./workerEntry.js', here), eval: false };
  // `require.resolve` finds the CommonJS build of the API; its ES-module sibling is the one that works in a worker.
  const tsxApi = pathToFileURL(
    createRequire(here)
      .resolve('tsx/esm/api')
      .replace(/\.cjs$/, '.mjs'),
  ).href;
  const entry = new URL('./workerEntry.ts', here).href;
  const script =
    `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); ` +
    `return import(${JSON.stringify(entry)}); }).catch((err) => { throw err; });`;
  return { script, eval: true };
}

/**
 * A fixed set of worker threads, each with its own TF.js backend, answering requests by task name (see
 * `workerEntry.ts`). A failure in any worker — a task that throws, an uncaught error, an unexpected exit — rejects
 * that worker's pending requests with a `BayescompError` naming the worker and the problem; `terminate` ends all of
 * them (call it in a `finally`).
 */
export class WorkerPool {
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; worker: number }
  >();
  private nextId = 1;
  private terminated = false;
  private failureHandler: (() => void) | undefined;
  /** Why each worker that died did so. */
  private readonly dead = new Map<number, string>();

  private constructor(private readonly workers: Worker[]) {
    workers.forEach((worker, index) => {
      worker.on('message', (reply: WorkerReply) => this.settle(reply));
      worker.on('error', (err) => this.failWorker(index, `worker ${index} crashed: ${err.message}`));
      worker.on('exit', (code) => {
        if (!this.terminated) this.failWorker(index, `worker ${index} exited unexpectedly (code ${code})`);
      });
    });
  }

  /** Starts `workers` threads and waits until each has started its backend. */
  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const launch = workerLaunch();
    const workers = Array.from(
      { length: options.workers },
      (_, index) =>
        new Worker(launch.script, {
          eval: launch.eval,
          execArgv: [],
          workerData: {
            backend: options.backend,
            imports: options.imports ?? [],
            index,
          } satisfies WorkerStartData,
        }),
    );
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(workers.map((_, i) => pool.call(i, 'ready', null)));
    } catch (err) {
      await pool.terminate();
      throw err;
    }
    return pool;
  }

  /**
   * Called as soon as any request fails or any worker dies, before the failure reaches the caller: the place to
   * release workers blocked on a shared barrier (e.g. `barrier.abort()`), so their requests settle too.
   */
  onFailure(handler: () => void): void {
    this.failureHandler = handler;
  }

  /** Number of workers. */
  get size(): number {
    return this.workers.length;
  }

  /** Runs `task` on worker `index`; resolves with its result or rejects with its error. */
  call<T = unknown>(
    index: number,
    task: string,
    payload: unknown,
    transfer: Transferable[] = [],
  ): Promise<T> {
    if (this.terminated)
      return Promise.reject(new BayescompError('runtime', 'the worker pool was terminated'));
    const death = this.dead.get(index);
    if (death) return Promise.reject(new BayescompError('runtime', death));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, worker: index });
      this.workers[index].postMessage({ id, task, payload } satisfies WorkerRequest, transfer as never);
    });
  }

  /**
   * Runs `task` on every worker (payload per worker) and waits for all. When several fail, the error reported is the
   * first that is not merely another worker's abort, so the caller sees the cause.
   */
  async all<T = unknown>(task: string, payload: (index: number) => unknown): Promise<T[]> {
    const results = await Promise.allSettled(this.workers.map((_, i) => this.call<T>(i, task, payload(i))));
    const failures = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as Error);
    if (failures.length > 0) throw failures.find((e) => !e.message.includes(ABORTED_MESSAGE)) ?? failures[0];
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  /** Ends every worker; pending requests are rejected. Idempotent. */
  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    for (const [id, p] of this.pending) {
      p.reject(new BayescompError('runtime', 'the worker pool was terminated'));
      this.pending.delete(id);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result);
    else {
      this.failureHandler?.();
      p.reject(toError(reply.error, p.worker));
    }
  }

  private failWorker(index: number, message: string): void {
    if (!this.dead.has(index)) this.dead.set(index, message);
    this.failureHandler?.();
    for (const [id, p] of this.pending) {
      if (p.worker !== index) continue;
      this.pending.delete(id);
      p.reject(new BayescompError('runtime', message));
    }
  }
}

/** Turns a worker's serialized error back into an error of the main thread, keeping a `BayescompError`'s code. */
function toError(error: SerializedError, worker: number): Error {
  if (error.code) return new BayescompError(error.code, error.message);
  const err = new BayescompError('runtime', `worker ${worker} failed: ${error.message}`);
  if (error.stack) err.stack = `${err.stack ?? ''}\nworker stack: ${error.stack}`;
  return err;
}

/** Serializes an error thrown in a worker for {@link WorkerReply}. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof BayescompError) return { message: err.message, code: err.code, stack: err.stack };
  if (err instanceof Error) return { message: err.message, stack: err.stack };
  return { message: String(err) };
}
