/**
 * A second thread for bayescomp's own SIMD kernels on the threaded wasm build's heap, in Node: a `worker_threads`
 * worker that instantiates the kernels' module on the backend's shared memory and runs part of a kernel's work — the
 * lower rows of a matrix product (`gemmKernel.ts`), the upper half of the Sparse VD KL pass or of an Adam update —
 * while the calling thread runs the rest.
 *
 * Why: XNNPACK spreads only its own kernels over its pthreads; these kernels, which replace the hot ones of a training
 * step, would otherwise use one core. The two threads share nothing but the heap and a small control block: the
 * caller writes the helper's calls there and bumps a job counter, the helper runs them and bumps a done counter, each
 * side polling briefly before sleeping on `Atomics.wait` (a kernel takes 0.1–3 ms; a wake-up from sleep ~50 µs). The
 * split never changes a value: each output element is computed by one thread, in the same order as by one thread alone.
 *
 * A helper that does not answer within {@link HELPER_TIMEOUT_MS} is abandoned and its part computed by the caller, so
 * a dead worker costs time once, never a wrong or missing result.
 */
import { adamLoop } from './adamKernel.js';
import { gemmTileFunctions } from './gemmKernel.js';
import { klLoop } from './sparseVdKlKernel.js';
import { type AssembledFunction, assembleModule } from './wasmAssembler.js';

/** Control block layout (int32 slots). */
const [JOB, DONE, CALLS] = [0, 1, 2];
const FIRST_CALL = 3;
/** Function index and up to 9 arguments. */
const CALL_SLOTS = 10;
const MAX_CALLS = 8;
const STOP = -1;
const HELPER_TIMEOUT_MS = 2000;
/** Polls of the done counter before the caller sleeps (a few ns each). */
const CALLER_SPINS = 20000;

/** A call of one of the module's functions: its name and its (i32) arguments. */
export interface HelperCall {
  readonly fn: string;
  readonly args: readonly number[];
}

/** Every function the helper can run (one module; names are the exports). */
export function helperFunctions(): AssembledFunction[] {
  return [...gemmTileFunctions(), klLoop(), adamLoop()];
}

// A variable specifier keeps bundlers from pulling a Node module into browser builds (which never start a helper).
const WORKER_THREADS = 'node:worker_threads';

// Runs in the worker (CommonJS, evaluated from a string: no file to ship or resolve).
const WORKER_SOURCE = `
const { workerData } = require(${JSON.stringify(WORKER_THREADS)});
const { memory, bytes, names, control, spins } = workerData;
const exported = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
const fns = names.map((name) => exported[name]);
const c = new Int32Array(control);
let seen = 0;
for (;;) {
  for (let i = 0; i < spins && Atomics.load(c, ${JOB}) === seen; i++);
  Atomics.wait(c, ${JOB}, seen);
  seen = Atomics.load(c, ${JOB});
  if (seen === ${STOP}) break;
  const calls = c[${CALLS}];
  for (let i = 0; i < calls; i++) {
    const o = ${FIRST_CALL} + ${CALL_SLOTS} * i;
    fns[c[o]](c[o + 1], c[o + 2], c[o + 3], c[o + 4], c[o + 5], c[o + 6], c[o + 7], c[o + 8], c[o + 9]);
  }
  Atomics.store(c, ${DONE}, seen);
  Atomics.notify(c, ${DONE});
}
`;

interface WorkerLike {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error' | 'exit', listener: () => void): void;
}

/** The helper thread of one shared memory. */
export class HeapHelper {
  private job = 0;
  private alive = true;

  private constructor(
    private readonly worker: WorkerLike,
    private readonly control: Int32Array,
    private readonly names: readonly string[],
  ) {
    worker.on('error', () => (this.alive = false));
    worker.on('exit', () => (this.alive = false));
  }

  /**
   * Starts a helper on `memory` (a shared memory: the threaded build's); undefined outside Node or when the memory
   * is not shared. `spins`: the helper's polls of the job counter before it sleeps (each costs a core while it lasts).
   */
  static async start(memory: WebAssembly.Memory, spins = 5000): Promise<HeapHelper | undefined> {
    const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;
    if (!isNode || typeof SharedArrayBuffer === 'undefined' || !(memory.buffer instanceof SharedArrayBuffer))
      return undefined;
    const { Worker } = (await import(
      /* @vite-ignore */ WORKER_THREADS
    )) as typeof import('node:worker_threads');
    const control = new SharedArrayBuffer(4 * (FIRST_CALL + CALL_SLOTS * MAX_CALLS));
    const functions = helperFunctions();
    const names = functions.map((f) => f.name);
    const bytes = assembleModule(functions, { sharedMemory: true });
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      execArgv: [],
      workerData: { memory, bytes, names, control, spins },
    });
    worker.unref();
    return new HeapHelper(worker, new Int32Array(control), names);
  }

  /** Whether the helper still answers. */
  get usable(): boolean {
    return this.alive;
  }

  /**
   * Hands `theirs` to the helper, runs `own` on this thread, and waits for the helper. When the helper is gone (or
   * does not answer in time) `fallback` runs its part here; it must compute exactly what `theirs` would.
   */
  run(theirs: readonly HelperCall[], own: () => void, fallback: () => void): void {
    if (!this.alive || theirs.length > MAX_CALLS) {
      own();
      fallback();
      return;
    }
    this.post(theirs);
    own();
    if (!this.await()) fallback();
  }

  /**
   * One element-wise pass over `[0, length)` (length a multiple of 4) split in two: the lower half, rounded down to
   * whole vectors, on this thread, the upper on the helper. `argsFor(from, to)` gives the arguments of the module
   * function `fn` (here `run`) for a sub-range.
   */
  splitRange<A extends number[]>(
    fn: string,
    run: (...args: A) => void,
    argsFor: (from: number, to: number) => A,
    length: number,
  ): void {
    const half = (length >> 3) << 2;
    const theirs = argsFor(half, length);
    this.run(
      [{ fn, args: theirs }],
      () => run(...argsFor(0, half)),
      () => run(...theirs),
    );
  }

  /** Stops the worker. */
  async stop(): Promise<void> {
    if (!this.alive) return;
    this.alive = false;
    Atomics.store(this.control, JOB, STOP);
    Atomics.notify(this.control, JOB);
    await this.worker.terminate();
  }

  private post(calls: readonly HelperCall[]): void {
    const c = this.control;
    c[CALLS] = calls.length;
    calls.forEach((call, i) => {
      const o = FIRST_CALL + CALL_SLOTS * i;
      const index = this.names.indexOf(call.fn);
      if (index < 0 || call.args.length > CALL_SLOTS - 1) throw new Error(`helper: cannot call ${call.fn}`);
      c[o] = index;
      call.args.forEach((arg, a) => (c[o + 1 + a] = arg));
    });
    this.job = this.job === 0x7ffffffe ? 1 : this.job + 1;
    Atomics.store(c, JOB, this.job);
    Atomics.notify(c, JOB);
  }

  /** Waits for the posted job; false (and the helper abandoned) when it does not finish in time. */
  private await(): boolean {
    const c = this.control;
    for (let i = 0; i < CALLER_SPINS; i++) if (Atomics.load(c, DONE) === this.job) return true;
    const deadline = Date.now() + HELPER_TIMEOUT_MS;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done === this.job) return true;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.alive = false;
        void this.worker.terminate();
        return false;
      }
      Atomics.wait(c, DONE, done, left);
    }
  }
}

let current: { memory: WebAssembly.Memory; helper: HeapHelper } | undefined;

/**
 * Starts the helper thread for the threaded wasm build's shared `memory` (a no-op when one already runs there, or
 * where there can be none: outside Node, or a memory that is not shared); stops a helper of an earlier memory.
 * `spins`: see {@link HeapHelper.start}.
 */
export async function startHeapHelper(
  memory: WebAssembly.Memory | undefined,
  spins?: number,
): Promise<boolean> {
  if (current && current.memory === memory && current.helper.usable) return true;
  await stopHeapHelper();
  if (memory === undefined) return false;
  const started = await HeapHelper.start(memory, spins);
  if (started) current = { memory, helper: started };
  return started !== undefined;
}

/** Stops the helper thread, if any (the kernels then run on the calling thread only). */
export async function stopHeapHelper(): Promise<void> {
  const running = current;
  current = undefined;
  await running?.helper.stop();
}

/** The running helper of `memory`, if any. */
export function heapHelperFor(memory: WebAssembly.Memory | undefined): HeapHelper | undefined {
  return current && memory !== undefined && current.memory === memory && current.helper.usable
    ? current.helper
    : undefined;
}
