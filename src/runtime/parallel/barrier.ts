import { BayescompError } from '../../util/errors.js';

/** Int32 slots of a {@link SharedBarrier}'s control array. */
const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;

/** How long one `Atomics.wait` sleeps before the waiter rechecks the abort flag (milliseconds). */
const WAIT_SLICE_MS = 200;

/**
 * A reusable barrier for a fixed number of threads sharing one `SharedArrayBuffer`, with an abort flag so that a
 * thread that fails releases the others instead of leaving them blocked. Generation counting makes it reusable
 * without a second phase: a thread waits until the generation it arrived in has ended.
 */
export class SharedBarrier {
  private readonly control: Int32Array;

  /** Wraps a control array made by {@link SharedBarrier.allocate} (also in another thread). */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly parties: number,
  ) {
    this.control = new Int32Array(buffer);
  }

  /** The shared memory a barrier needs; hand it to every party. */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  }

  /**
   * Blocks until all parties have arrived (only allowed in worker threads, where `Atomics.wait` may block). Throws a
   * `runtime` error with `aborted` in its message when another party aborted.
   */
  arriveAndWait(): void {
    const c = this.control;
    const generation = Atomics.load(c, GENERATION);
    this.throwIfAborted();
    if (Atomics.add(c, ARRIVED, 1) === this.parties - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    while (Atomics.load(c, GENERATION) === generation) {
      Atomics.wait(c, GENERATION, generation, WAIT_SLICE_MS);
      this.throwIfAborted();
    }
    // An abort also bumps the generation to wake waiters.
    this.throwIfAborted();
  }

  /** Marks the barrier aborted and wakes every waiter (each then throws). Safe from any thread. */
  abort(): void {
    Atomics.store(this.control, ABORTED, 1);
    Atomics.add(this.control, GENERATION, 1);
    Atomics.notify(this.control, GENERATION);
  }

  /** Whether some party aborted. */
  get aborted(): boolean {
    return Atomics.load(this.control, ABORTED) === 1;
  }

  private throwIfAborted(): void {
    if (this.aborted) throw new BayescompError('runtime', ABORTED_MESSAGE);
  }
}

/** The message of the error a waiter throws when another party aborted (recognised by the caller). */
export const ABORTED_MESSAGE = 'parallel step aborted because another worker failed';
