/**
 * Seeded pseudo-random numbers for everything the library draws in JavaScript (shuffling, subsets, noise drawn in
 * bulk) and the integer seeds handed to TF.js random ops, so a run is reproducible from one seed.
 *
 * The generator is xoshiro128** (Blackman & Vigna 2018): 128-bit state, fast with 32-bit integer arithmetic, and
 * splittable by seeding children from the parent stream. No npm package offers a seedable, forkable generator that
 * fills Float32Arrays with normals without per-draw allocation, which the hot training loop needs.
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Creates a generator from a 32-bit integer seed (any finite number; it is hashed with SplitMix32). */
  constructor(seed: number) {
    let x = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform draw from [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!(n > 0) || !Number.isInteger(n))
      throw new RangeError(`Random.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /**
   * A standard normal draw (Box–Muller). The pair's second value is not cached between calls, so the generator's
   * whole state is its four words ({@link getState}) and a checkpoint restores it exactly.
   */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Fills `out` with standard normal draws (both values of each Box–Muller pair) and returns it. */
  fillNormal(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      let u = 0;
      while (u === 0) u = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      const angle = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(angle);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(angle);
    }
    return out;
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T, A extends { length: number; [i: number]: T }>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle<number, Int32Array>(p);
  }

  /** An integer seed for a TF.js random op (`tf.randomNormal(shape, 0, 1, 'float32', seed)`). */
  tfSeed(): number {
    return this.nextUint32() % 2147483647;
  }

  /** An independent child generator, seeded from this stream. */
  fork(): Random {
    return new Random(this.nextUint32());
  }

  /** The generator state, for checkpoints. */
  getState(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** Restores a state from {@link getState}. */
  setState(state: readonly [number, number, number, number]): void {
    [this.s0, this.s1, this.s2, this.s3] = state;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

let globalRandom = new Random(0);

/** Reseeds the library-wide generator that layers and samplers use when no generator is passed explicitly. */
export function setGlobalSeed(seed: number): void {
  globalRandom = new Random(seed);
}

/** The library-wide generator (seed 0 until {@link setGlobalSeed} is called). */
export function getGlobalRandom(): Random {
  return globalRandom;
}
