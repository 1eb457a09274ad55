import * as tf from '@tensorflow/tfjs';
import { heapHelperFor } from './kernels/heapHelper.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBackend, initBackend } from './backend.js';
import { simdRuns } from './kernels/heapRuns.js';
import { Random } from './random.js';
import { parseWasmThreads, runningWasmThreads } from './wasmThreads.js';

const run = promisify(execFile);

/** Runs `node --import tsx <args>` in the repository; resolves with its exit code and output. */
async function node(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', ...args], {
      timeout: 90_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; killed?: boolean };
    return { code: e.killed ? -1 : (e.code ?? -1), stdout: e.stdout ?? '' };
  }
}

/**
 * A few kernels whose wasm implementation uses XNNPACK's thread pool (MatMul, Conv2D) or bayescomp's own kernels on
 * the heap (transposed products, convolution gradients via im2col/col2im, max-pooling gradient, leading-axes sums),
 * plus the gradient of a LeNet-5-Caffe cross-entropy: everything returned as plain arrays.
 */
function computeAll(seed: number): Record<string, Float32Array> {
  const random = new Random(seed);
  const normals = (n: number) => random.fillNormal(new Float32Array(n));
  const out: Record<string, Float32Array> = {};
  tf.tidy(() => {
    const a = tf.tensor2d(normals(100 * 784), [100, 784]);
    const b = tf.tensor2d(normals(784 * 300), [784, 300]);
    const c = tf.tensor2d(normals(100 * 300), [100, 300]);
    out.matMul = tf.matMul(a, b).dataSync() as Float32Array;
    out.matMulTransposeA = tf.matMul(a, c, true, false).dataSync() as Float32Array;
    out.matMulTransposeB = tf.matMul(c, b, false, true).dataSync() as Float32Array;
    out.sumLeading = tf.sum(tf.reshape(c, [10, 10, 300]), [0, 1]).dataSync() as Float32Array;

    // LeNet-5-Caffe on 16 examples: conv 20@5×5 → maxpool → conv 50@5×5 → maxpool → dense 500 → dense 10.
    const n = 16;
    const shapes: Record<string, number[]> = {
      w1: [5, 5, 1, 20],
      b1: [20],
      w2: [5, 5, 20, 50],
      b2: [50],
      w3: [800, 500],
      b3: [500],
      w4: [500, 10],
      b4: [10],
    };
    const params: Record<string, tf.Tensor> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      const size = shape.reduce((p, q) => p * q, 1);
      const fanIn = shape.length === 1 ? 10 : shape.slice(0, -1).reduce((p, q) => p * q, 1);
      params[name] = tf.mul(tf.tensor(normals(size), shape), Math.sqrt(2 / fanIn));
    }
    const x = tf.tensor4d(normals(n * 784), [n, 28, 28, 1]);
    const labels = tf.oneHot(
      tf.tensor1d(
        Int32Array.from({ length: n }, () => random.int(10)),
        'int32',
      ),
      10,
    );
    const names = Object.keys(shapes);
    const loss = (...ws: tf.Tensor[]) => {
      const p = Object.fromEntries(names.map((k, i) => [k, ws[i]]));
      let h = tf.relu(tf.add(tf.conv2d(x, p.w1 as tf.Tensor4D, 1, 'valid'), p.b1)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
      h = tf.relu(tf.add(tf.conv2d(h, p.w2 as tf.Tensor4D, 1, 'valid'), p.b2)) as tf.Tensor4D;
      h = tf.maxPool(h, 2, 2, 'valid');
      const hidden = tf.relu(tf.add(tf.matMul(tf.reshape(h, [n, 800]), p.w3 as tf.Tensor2D), p.b3));
      const logits = tf.add(tf.matMul(hidden, p.w4 as tf.Tensor2D), p.b4);
      return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(loss)(names.map((k) => params[k]));
    out.lenetLoss = value.dataSync() as Float32Array;
    names.forEach((k, i) => (out[`lenetGrad.${k}`] = grads[i].dataSync() as Float32Array));
  });
  return out;
}

/** Largest |a − b| / max(1, |b|) over all entries. */
function maxScaledDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

describe('parseWasmThreads', () => {
  it('reads counts and auto, and rejects anything else with a one-line message naming the source', () => {
    expect(parseWasmThreads('2')).toBe(2);
    expect(parseWasmThreads(' AUTO ')).toBe('auto');
    expect(parseWasmThreads(1)).toBe(1);
    for (const bad of ['0', '-1', '1.5', 'two', '']) {
      expect(() => parseWasmThreads(bad, '--threads')).toThrow(
        /^--threads must be a positive integer or 'auto'/,
      );
    }
  });
});

describe('the threaded wasm build in Node', () => {
  let single: Record<string, Float32Array>;

  beforeAll(async () => {
    await initBackend({ backend: 'wasm', threads: 1 });
    single = computeAll(7);
  });
  afterAll(async () => {
    // Leave the file's process on the single-threaded backend the other tests expect.
    await initBackend({ backend: 'wasm', threads: 1 });
  });

  it('starts XNNPACK on 1 thread and the kernel helper on the other, says 2, keeps only the pthreads it uses', async () => {
    const info = await initBackend({ backend: 'wasm', threads: 2 });
    expect(info.threads).toBe(2);
    expect(describeBackend(info)).toMatch(/^wasm \(SIMD, 2 threads\) on tfjs/);
    expect(await runningWasmThreads()).toBe(2);
    const module = (tf.backend() as unknown as { wasm: { PThread: { unusedWorkers: unknown[] } } }).wasm;
    expect(module.PThread.unusedWorkers).toHaveLength(0);
    // The patches are gone once the backend runs.
    const os = await import('node:os');
    expect(os.cpus().length).toBe(os.availableParallelism());
    expect('Worker' in globalThis).toBe(false);
    // Asking again for the same count returns the running backend.
    expect(await initBackend({ threads: 2 })).toBe(info);
  });

  it("runs bayescomp's heap kernels on the shared memory with their SIMD module", async () => {
    await initBackend({ backend: 'wasm', threads: 2 });
    const memory = (tf.backend() as unknown as { wasm: { wasmMemory: WebAssembly.Memory } }).wasm.wasmMemory;
    expect(memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(simdRuns(memory)).toBeDefined();
    expect(heapHelperFor(memory)?.usable).toBe(true);
    expect(await import('@tensorflow/tfjs-backend-wasm').then((w) => w.getThreadsCount())).toBe(1);
  });

  it('computes products, convolution gradients and a LeNet-5 gradient as the single-threaded build does', async () => {
    await initBackend({ backend: 'wasm', threads: 2 });
    const before = tf.memory().numTensors;
    const threaded = computeAll(7);
    expect(tf.memory().numTensors).toBe(before);
    expect(Object.keys(threaded).sort()).toEqual(Object.keys(single).sort());
    let identical = 0;
    for (const [name, values] of Object.entries(single)) {
      expect(threaded[name].length, name).toBe(values.length);
      const worst = maxScaledDifference(threaded[name], values);
      expect(worst, name).toBeLessThanOrEqual(1e-6);
      if (worst === 0) identical++;
    }
    // XNNPACK and the helper split the work without changing any element's summation order: bit for bit.
    expect(identical).toBe(Object.keys(single).length);
    expect(Number.isFinite(single.lenetLoss[0]) && single.lenetLoss[0] > 1).toBe(true);
  });

  it('switches back to one thread on request', async () => {
    const info = await initBackend({ backend: 'wasm', threads: 1 });
    expect(describeBackend(info)).toMatch(/^wasm \(SIMD, 1 thread\) on tfjs/);
    expect(await runningWasmThreads()).toBe(1);
  });

  it('lets a CLI command with --threads 2 exit by itself (the pthreads hold no event loop)', async () => {
    const { code, stdout } = await node(['src/cli/main.ts', 'info', '--json', '--threads', '2']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ backend: 'wasm', threads: 2 });
  });

  it('fails with a one-line reason when the threaded build cannot load, instead of falling back', async () => {
    // Threads from $BAYESCOMP_THREADS, a wasm directory without the threaded binary.
    const script = [
      "const { initBackend } = await import('./src/runtime/backend.ts');",
      "try { await initBackend({ wasmPaths: '/nonexistent/' }); console.log('started'); }",
      'catch (err) { console.log(err.message); }',
    ].join('\n');
    const { code, stdout } = await node(['--input-type=module', '-e', script], { BAYESCOMP_THREADS: '2' });
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(
      "backend 'wasm' could not be started: the threaded wasm build could not start 2 threads: initialisation failed",
    );
  });
});
