/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: worker_threads must be patched before the CommonJS wasm backend loads */
/* global require, performance */
/**
 * Probe (issue 7, "both cores"): can the wasm backend's threaded SIMD build (`tfjs-backend-wasm-threaded-simd.wasm`,
 * shipped in @tensorflow/tfjs-backend-wasm 4.22) run in Node 20? It can, with three work-arounds. The library now
 * applies them, contained to the backend's start and only on request (`initBackend({ threads })`, `--threads`,
 * `$BAYESCOMP_THREADS`: src/runtime/wasmThreads.ts); this stand-alone probe keeps the bare mechanism:
 *
 * 1. `WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to false in Node (tfjs issue 3830): set the flag to true before
 *    `tf.setBackend('wasm')`.
 * 2. The emscripten pthread pool (8 workers) is started from `blob:` URLs (the worker script and the main script are
 *    Blobs), which Node's `worker_threads.Worker` cannot load, and the main script refers to the bundle's module
 *    variables (`require$$0`, `commonjsGlobal`, …). `worker_threads.Worker` is patched here to start a bootstrap that
 *    receives the Blobs, defines those variables and evaluates both scripts.
 * 3. The backend caps XNNPACK's thread pool at half the logical cores it is told about (`os.cpus()`): on 2 cores
 *    `setThreadsCount(2)` still gives 1 thread. With `os.cpus()` reporting ≥ 4 cores it uses 2 threads.
 *
 * Results are bit-identical to the single-threaded build (checked below on a 512×512 product). Only XNNPACK kernels
 * (MatMul, Conv2D, …) use the pool; element-wise kernels stay single-threaded.
 *
 *   node bench/wasm-threaded-probe.cjs [threads]       # 0 = the usual single-threaded SIMD build (default 2)
 */
const os = require('node:os');
const path = require('node:path');
const workerThreads = require('node:worker_threads');

const threads = Number(process.argv[2] ?? 2);
if (threads > 0) {
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    const wanted = Math.max(cpus.length, 2 * threads);
    return Array.from({ length: wanted }, (_, i) => cpus[i % cpus.length]);
  };
}

const bootstrap = `
const { parentPort, workerData } = require('node:worker_threads');
globalThis.require$$0 = require('node:fs');
globalThis.require$$1 = require('node:path');
globalThis.require$$3 = require('node:perf_hooks');
globalThis.require$$4 = require('node:os');
globalThis.commonjsGlobal = globalThis;
globalThis.__dirname = workerData.dir;
globalThis.__filename = workerData.dir + '/tf-backend-wasm.node.js';
(async () => {
  let code = await workerData.blob.text();
  code = code.replace(
    'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}',
    '(0,eval)(globalThis.__mainScript);',
  );
  parentPort.once('message', async (data) => {
    globalThis.__mainScript = await data.urlOrBlob.text();
    (0, eval)(code);
    globalThis.onmessage({ data });
  });
})().catch((err) => { console.error('pthread bootstrap failed', err); });
`;
const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
const RealWorker = workerThreads.Worker;
workerThreads.Worker = class extends RealWorker {
  constructor(url, options) {
    if (typeof url === 'string' && url.startsWith('blob:')) {
      const { resolveObjectURL } = require('node:buffer');
      super(bootstrap, { eval: true, workerData: { blob: resolveObjectURL(url), dir: wasmDir } });
    } else super(url, options);
  }
};

const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

async function main() {
  if (threads > 0) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
  }
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend failed to start');
  await tf.ready();
  console.log(
    `wasm backend, XNNPACK threads: ${wasm.getThreadsCount()}; load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  for (const [m, k, n] of [
    [512, 512, 512],
    [100, 784, 300],
    [784, 100, 300],
  ]) {
    const a = tf.randomNormal([m, k], 0, 1, 'float32', 1);
    const b = tf.randomNormal([k, n], 0, 1, 'float32', 2);
    tf.matMul(a, b).dataSync();
    let best = Infinity;
    for (let r = 0; r < 20; r++) {
      const start = performance.now();
      tf.matMul(a, b).dataSync();
      best = Math.min(best, performance.now() - start);
    }
    console.log(
      `${m}×${k} · ${k}×${n}: best ${best.toFixed(2)} ms, ${((2 * m * k * n) / best / 1e6).toFixed(1)} GFLOP/s`,
    );
    tf.dispose([a, b]);
  }
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  const values = tf.matMul(a, b).dataSync();
  let checksum = 0;
  for (const v of values) checksum += v;
  console.log(`checksum of a seeded 512×512 product (compare across thread counts): ${checksum}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
