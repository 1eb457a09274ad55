/**
 * Checks that code does not leak TF.js tensors, for tests across the library: every loop that allocates tensors
 * (training steps, sampling, curvature accumulation) should leave `tf.memory().numTensors` flat.
 */
import * as tf from '@tensorflow/tfjs';

/** What a function left behind in TF.js memory. */
export interface TensorUsage<T> {
  /** The function's return value. */
  readonly result: T;
  /** Tensors alive after the call minus tensors alive before it. */
  readonly created: number;
  /** New tensors reachable from the result (arrays, objects, maps of tensors are searched). */
  readonly returned: number;
  /** `created − returned`: tensors the function kept alive without handing them back — a leak unless intended. */
  readonly leaked: number;
  /** Growth of `tf.memory().numBytes`. */
  readonly bytes: number;
}

/** Options for {@link assertNoTensorLeak} and {@link assertFlatTensorCount}. */
export interface LeakCheckOptions {
  /** Named in the error message. */
  readonly label?: string;
  /** Tensors that may stay alive per call (e.g. a cache filled once); default 0. */
  readonly allowed?: number;
}

/** The id the next tensor will get: tensor ids grow monotonically, so tensors with an id at least this are new. */
function nextTensorId(): number {
  const probe = tf.scalar(0);
  const id = probe.id + 1;
  probe.dispose();
  return id;
}

function measure<T>(result: T, before: tf.MemoryInfo, firstNewId: number): TensorUsage<T> {
  const after = tf.memory();
  const created = after.numTensors - before.numTensors;
  const fresh = new Set<number>();
  for (const t of tf.tensor_util.getTensorsInContainer(result as tf.TensorContainer)) {
    if (!t.isDisposed && t.id >= firstNewId) fresh.add(t.id);
  }
  return {
    result,
    created,
    returned: fresh.size,
    leaked: created - fresh.size,
    bytes: after.numBytes - before.numBytes,
  };
}

/**
 * Runs `fn` and reports how many tensors it left alive, telling apart those it returned from those it leaked.
 * Not for use inside `tf.tidy` (the scope would dispose the tensors counted here only later).
 */
export function countTensorsDuring<T>(fn: () => T): TensorUsage<T> {
  const firstNewId = nextTensorId();
  const before = tf.memory();
  const result = fn();
  if (result instanceof Promise) {
    throw new TypeError('countTensorsDuring: fn returned a Promise; use countTensorsDuringAsync');
  }
  return measure(result, before, firstNewId);
}

/** {@link countTensorsDuring} for an async function (awaits it before counting). */
export async function countTensorsDuringAsync<T>(fn: () => Promise<T>): Promise<TensorUsage<T>> {
  const firstNewId = nextTensorId();
  const before = tf.memory();
  const result = await fn();
  return measure(result, before, firstNewId);
}

/**
 * Runs `fn` and returns its result; throws when it leaked tensors, i.e. left more new tensors alive than it returned
 * (plus `allowed`).
 */
export function assertNoTensorLeak<T>(fn: () => T, options: LeakCheckOptions = {}): T {
  const usage = countTensorsDuring(fn);
  if (usage.leaked > (options.allowed ?? 0)) {
    throw new Error(
      `${options.label ?? 'function'} leaked ${usage.leaked} tensor(s) (${usage.created} created, ${usage.returned} returned)`,
    );
  }
  return usage.result;
}

/**
 * Runs `step` `warmup + iterations` times and throws if the number of live tensors grows from one iteration to the
 * next after the warm-up (which may allocate lasting state such as optimizer slots). This is the check that a
 * training or sampling loop "stays flat". Returns `tf.memory().numTensors` after each counted iteration.
 */
export async function assertFlatTensorCount(
  step: (iteration: number) => unknown,
  options: LeakCheckOptions & { readonly iterations?: number; readonly warmup?: number } = {},
): Promise<number[]> {
  const iterations = options.iterations ?? 3;
  const warmup = options.warmup ?? 1;
  for (let i = 0; i < warmup; i++) await step(i);
  let previous = tf.memory().numTensors;
  const counts: number[] = [];
  for (let i = 0; i < iterations; i++) {
    await step(warmup + i);
    const now = tf.memory().numTensors;
    counts.push(now);
    if (now - previous > (options.allowed ?? 0)) {
      throw new Error(
        `${options.label ?? 'step'} leaks: live tensors went from ${previous} to ${now} in iteration ${warmup + i}`,
      );
    }
    previous = now;
  }
  return counts;
}
