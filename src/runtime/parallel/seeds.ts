/**
 * A 32-bit seed for stream `stream`, index `index` of a run seeded with `seed` (a few rounds of integer hashing).
 * `train` and `trainParallel` both derive their streams here, so a parallel run shuffles exactly as `train` does and
 * its worker 0 draws the same noise as `train`'s objective stream.
 */
export function deriveRunSeed(seed: number, stream: number, index: number): number {
  let h = Math.trunc(seed) >>> 0;
  for (const v of [stream, index]) {
    h = Math.imul(h ^ (v >>> 0), 0x9e3779b1) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
  }
  return h;
}

/** Random streams of a run, numbered as the training loop numbers them (`objective` 1, `shuffle` 2, `validate` 3). */
export const RUN_STREAM = { objective: 1, shuffle: 2, validate: 3, predict: 4 } as const;
