/**
 * Measurement helpers shared by the benchmarks: wall time, peak memory, tensor counts, the backend's matrix-product
 * peak, and running the PyTorch reference scripts in the same invocation.
 */
import * as tf from '@tensorflow/tfjs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { backendInfo, describeBackend } from '../../src/runtime/backend.js';

const run = promisify(execFile);

/** Seconds taken by `fn` (awaited). */
export async function seconds<T>(fn: () => Promise<T> | T): Promise<{ value: T; seconds: number }> {
  const start = performance.now();
  const value = await fn();
  return { value, seconds: (performance.now() - start) / 1000 };
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The active backend as one line, e.g. `wasm (SIMD, 1 thread) on tfjs 4.22.0`. */
export function backendLine(): string {
  const info = backendInfo();
  return info ? describeBackend(info) : tf.getBackend();
}

/**
 * GFLOP/s of an n×n matrix product on the active backend (best of `repeats`, after a warm-up): the machine's
 * matrix-product peak that a benchmark's achieved GFLOP/s is compared with.
 */
export async function matmulPeakGflops(n = 512, repeats = 10): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  let best = Infinity;
  for (let r = 0; r <= repeats; r++) {
    const start = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    const t = (performance.now() - start) / 1000;
    c.dispose();
    if (r > 0) best = Math.min(best, t);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / best / 1e9;
}

/** The Python interpreter that has Debian's PyTorch (`python3-torch`). */
export const TORCH_PYTHON = process.env.BAYESCOMP_TORCH_PYTHON ?? '/usr/bin/python3';

/**
 * Runs a PyTorch reference script from `bench/pytorch/` with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (they slow
 * a current OpenBLAS; unset for this command only) and parses the one JSON object it prints.
 */
export async function runPytorchReference(
  script: string,
  args: readonly string[],
): Promise<Record<string, unknown>> {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const { stdout } = await run(
    TORCH_PYTHON,
    [new URL(`../pytorch/${script}`, import.meta.url).pathname, ...args, '--json'],
    {
      env,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

/** Prints a table of rows (first row = header) with aligned columns. */
export function printTable(rows: ReadonlyArray<ReadonlyArray<string | number>>): void {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells)
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Math.abs(x) >= 100) return x.toFixed(1);
  if (Math.abs(x) >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
