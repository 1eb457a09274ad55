/**
 * The Node-only half of {@link startWasmBackend}'s threaded start (see `wasmThreads.ts` for the three work-arounds).
 * Kept in its own module, which `wasmThreads.ts` loads through a variable specifier, so that browser bundles of the
 * library never see its `node:` imports.
 */
import { restartWasm } from './wasmThreads.js';

/** Longest wait for the threaded build's pthread pool to load before giving up (s); a loaded machine takes ~2 s. */
const THREADED_START_TIMEOUT_S = 60;

/**
 * Evaluated in each pthread worker (CommonJS, `eval: true`) in place of the `blob:` URL emscripten asked for. Its
 * `workerData` holds that URL's Blob (emscripten's worker script) and the wasm bundle's directory and file. The first
 * message ("load") carries the main script as a Blob; emscripten's worker script loads it with `importScripts`, which
 * is redefined to evaluate it. A failure is posted back (a thrown error would end the process through emscripten's
 * error handler) so that the backend's start fails with its message.
 */
const PTHREAD_BOOTSTRAP = `
const { parentPort, workerData } = require('node:worker_threads');
globalThis.require$$0 = require('node:fs');
globalThis.require$$1 = require('node:path');
globalThis.require$$3 = require('node:perf_hooks');
globalThis.require$$4 = require('node:os');
globalThis.commonjsGlobal = globalThis;
globalThis.__dirname = workerData.dir;
globalThis.__filename = workerData.file;
parentPort.once('message', async (data) => {
  try {
    const [workerScript, mainScript] = await Promise.all([workerData.blob.text(), data.urlOrBlob.text()]);
    (0, eval)(workerScript);
    globalThis.importScripts = () => (0, eval)(mainScript);
    globalThis.onmessage({ data });
  } catch (err) {
    parentPort.postMessage({ bayescompPthreadFailure: String((err && err.message) || err) });
  }
});
`;

/**
 * Runs `start` (which initialises the wasm backend) with the three Node work-arounds of this module's description in
 * place, and restores them afterwards, whatever happens. Resolves with `start`'s result, or the reason the pthreads
 * failed to load (then the half-started backend is dropped).
 */
export async function withNodePthreads(
  threads: number,
  start: () => Promise<string | undefined>,
): Promise<string | undefined> {
  const [{ default: os }, { default: workerThreads }, { resolveObjectURL }, { createRequire }, path] =
    await Promise.all([
      import('node:os'),
      import('node:worker_threads'),
      import('node:buffer'),
      import('node:module'),
      import('node:path'),
    ]);
  const bundle = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  const RealWorker = workerThreads.Worker;
  const realCpus = os.cpus;
  const globals = globalThis as { Worker?: unknown };
  const hadGlobalWorker = Object.prototype.hasOwnProperty.call(globals, 'Worker');
  const globalWorker = globals.Worker;
  const started: InstanceType<typeof RealWorker>[] = [];

  let reportFailure: (reason: string) => void = () => undefined;
  const failed = new Promise<string>((resolve) => (reportFailure = resolve));

  class PthreadAwareWorker extends RealWorker {
    constructor(url: string | URL, options?: ConstructorParameters<typeof RealWorker>[1]) {
      const href = String(url);
      if (!href.startsWith('blob:')) {
        super(url, options);
        return;
      }
      const blob = resolveObjectURL(href);
      if (blob === undefined) throw new Error(`pthread script ${href} is gone`);
      super(PTHREAD_BOOTSTRAP, {
        eval: true,
        workerData: { blob, dir: path.dirname(bundle), file: bundle },
      });
      // emscripten references a worker while its pthread runs; XNNPACK's pthreads run (wait) for the backend's whole
      // life, which would keep every process from exiting. Their work is always awaited by the main thread.
      this.unref();
      this.ref = () => undefined;
      this.on('message', (message: unknown) => {
        const failure = (message as { bayescompPthreadFailure?: string } | null)?.bayescompPthreadFailure;
        if (failure !== undefined) reportFailure(`a pthread worker failed to load: ${failure}`);
      });
      started.push(this);
    }
  }

  workerThreads.Worker = PthreadAwareWorker;
  os.cpus = () => {
    const cpus = realCpus();
    const wanted = Math.max(cpus.length, 2 * threads);
    return Array.from({ length: wanted }, (_, i) => cpus[i % cpus.length]);
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`its pthread workers did not load within ${THREADED_START_TIMEOUT_S} s`),
      THREADED_START_TIMEOUT_S * 1000,
    );
    timer.unref?.();
  });
  try {
    const outcome = await Promise.race([start(), failed, timedOut]);
    if (outcome !== undefined) {
      restartWasm(); // makes a still-pending initialisation obsolete and drops a half-started instance
      for (const worker of started) void worker.terminate();
    }
    return outcome;
  } finally {
    clearTimeout(timer);
    workerThreads.Worker = RealWorker;
    os.cpus = realCpus;
    if (hadGlobalWorker) globals.Worker = globalWorker;
    else delete globals.Worker;
  }
}
