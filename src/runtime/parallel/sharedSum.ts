import type { SharedBarrier } from './barrier.js';

/**
 * An all-reduce (sum) of Float32 vectors between the workers of a pool through shared memory: each worker writes its
 * vector into its own slot, all meet at the barrier, then each sums the slots in worker order — so every worker gets
 * the same bits, and the copies of a model that apply the summed gradient stay identical. Slots are double-buffered
 * by call parity: a worker can only reach call c + 2 (reusing call c's slots) after everyone passed call c + 1's
 * barrier, i.e. after everyone finished reading call c.
 */
export class SharedSum {
  private readonly slots: Float32Array;
  private calls = 0;

  /** Wraps memory made by {@link SharedSum.allocate}. */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly workers: number,
    private readonly index: number,
    private readonly capacity: number,
    private readonly barrier: SharedBarrier,
  ) {
    this.slots = new Float32Array(buffer);
  }

  /** Shared memory for vectors of up to `capacity` values among `workers` workers. */
  static allocate(workers: number, capacity: number): SharedArrayBuffer {
    return new SharedArrayBuffer(2 * workers * capacity * Float32Array.BYTES_PER_ELEMENT);
  }

  /** This worker's slot for the next call, to fill in place before {@link finish}. */
  begin(length: number): Float32Array {
    if (length > this.capacity)
      throw new RangeError(`SharedSum: ${length} values exceed the capacity ${this.capacity}`);
    return this.slots.subarray(this.offset(this.index), this.offset(this.index) + length);
  }

  /** Waits for every worker's slot, then returns the sum over workers (in worker order) as a fresh array. */
  finish(length: number): Float32Array {
    this.barrier.arriveAndWait();
    const out = new Float32Array(length);
    out.set(this.slots.subarray(this.offset(0), this.offset(0) + length));
    for (let w = 1; w < this.workers; w++) {
      const slot = this.slots.subarray(this.offset(w), this.offset(w) + length);
      for (let i = 0; i < length; i++) out[i] += slot[i];
    }
    this.calls++;
    return out;
  }

  /** {@link begin}, copy `values`, {@link finish}. */
  sum(values: Float32Array): Float32Array {
    this.begin(values.length).set(values);
    return this.finish(values.length);
  }

  private offset(worker: number): number {
    return ((this.calls % 2) * this.workers + worker) * this.capacity;
  }
}
