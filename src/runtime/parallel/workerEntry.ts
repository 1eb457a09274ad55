/**
 * The entry point of every bayescomp worker thread: starts the same TF.js backend as the main thread, imports the
 * modules that register custom layers (the Bayesian layers register when `src/variational` loads, which the task
 * modules import), then answers {@link WorkerRequest}s by task name until terminated.
 */
import { parentPort, workerData } from 'node:worker_threads';
// Registers the Bayesian layers with TF.js serialization, so replicas of Bayesian models can be rebuilt.
import '../../variational/index.js';
import { initBackend, type BackendName } from '../backend.js';
import { laplacePredictTasks } from './laplacePredictWorker.js';
import { laplaceTasks } from './laplaceWorker.js';
import { predictTasks } from './predictWorker.js';
import { trainTasks } from './trainWorker.js';
import { serializeError, type WorkerReply, type WorkerRequest, type WorkerStartData } from './workerPool.js';

const start = workerData as WorkerStartData;
const port = parentPort;
if (!port) throw new Error('workerEntry must run in a worker thread');

const tasks: Record<string, (payload: never) => unknown> = {
  ready: () => true,
  ...trainTasks,
  ...predictTasks,
  ...laplaceTasks,
  ...laplacePredictTasks,
};

const ready = (async () => {
  await initBackend({ backend: start.backend as BackendName });
  for (const specifier of start.imports) await import(specifier);
})();

port.on('message', (request: WorkerRequest) => {
  void handle(request).then((reply) => port.postMessage(reply));
});

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  try {
    await ready;
    const task = tasks[request.task];
    if (!task) throw new Error(`unknown worker task '${request.task}'`);
    return { id: request.id, ok: true, result: await task(request.payload as never) };
  } catch (err) {
    return { id: request.id, ok: false, error: serializeError(err) };
  }
}
