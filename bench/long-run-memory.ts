/**
 * Long-run memory check (issue 8): N epochs (default 50) of Sparse VD on LeNet-300-100 on the full Fashion-MNIST,
 * recording after every epoch the TF.js tensor count and bytes (`tf.memory()`) and the process RSS. Prints one JSON
 * line per epoch and a final verdict line: whether tensors and bytes stay exactly flat after epoch 1 and RSS stays
 * within a tolerance of its epoch-1 value (V8 and the wasm heap grow in steps; a leak grows every epoch).
 *
 *   npx tsx bench/long-run-memory.ts [--epochs 50] [--batch-size 100] [--lr 1e-3] [--seed 0]
 *                                    [--rss-tolerance-mib 64] [--data fashion-mnist] [--subset N]
 *
 * Uses the library's training loop (`train`) with the ELBO objective and the log-uniform (Sparse VD) family, as
 * `bayescomp train --method sparse-vd` does, with no run directory (nothing written) and validation on the test set
 * every epoch (the validation pass is part of what must not leak). `--subset N` trains on the first N examples (for a
 * quick check of the script itself).
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { subsetDataset } from '../src/data/splits.js';
import { lenet300 } from '../src/models/zoo.js';
import { describeBackend, initBackend } from '../src/runtime/backend.js';
import { train } from '../src/train/trainer.js';
import { deterministicValidationMetrics } from '../src/train/validation-metrics.js';
import { bayesianLayers, elboObjective, sparsityReport, toBayesian } from '../src/variational/index.js';

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '50' },
    'batch-size': { type: 'string', default: '100' },
    lr: { type: 'string', default: '1e-3' },
    seed: { type: 'string', default: '0' },
    'rss-tolerance-mib': { type: 'string', default: '64' },
    data: { type: 'string', default: 'fashion-mnist' },
    subset: { type: 'string' },
  },
});

const epochs = Number(args.epochs);
const batchSize = Number(args['batch-size']);
const rssToleranceMiB = Number(args['rss-tolerance-mib']);

const backend = await initBackend();
const splits = await loadImageDataset(args.data!, { download: false });
if (!splits.train || !splits.test) throw new Error(`${args.data} needs train and test splits`);
const trainData = args.subset
  ? subsetDataset(
      splits.train,
      Array.from({ length: Number(args.subset) }, (_, i) => i),
    )
  : splits.train;
const test = splits.test;

const model = toBayesian(lenet300({ seed: Number(args.seed) }), {
  family: { name: 'log-uniform' },
  initLogSigma2: -10,
});
const layers = bayesianLayers(model);

interface EpochRecord {
  readonly epoch: number;
  readonly numTensors: number;
  readonly numBytes: number;
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly loss: number;
  readonly valAccuracy?: number;
  readonly sparsity: number;
  readonly seconds: number;
}

const records: EpochRecord[] = [];
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
console.error(
  `# Sparse VD, LeNet-300-100, ${trainData.n} training examples, ${epochs} epochs, batch ${batchSize}, ${describeBackend(backend)}`,
);
const before = tf.memory();
console.log(
  JSON.stringify({
    epoch: 0,
    numTensors: before.numTensors,
    numBytes: before.numBytes,
    rssMiB: mib(process.memoryUsage().rss),
  }),
);

await train({
  model,
  objective: elboObjective({ beta: 1 }),
  data: trainData,
  validation: test,
  epochs,
  batchSize,
  seed: Number(args.seed),
  optimizer: { name: 'adam', learningRate: Number(args.lr) },
  progress: 'none',
  validate: async (m, context) => {
    layers.forEach((l) => (l.predictionMode = 'mean'));
    try {
      return context.data ? await deterministicValidationMetrics(m, context.data) : {};
    } finally {
      layers.forEach((l) => (l.predictionMode = 'sample'));
    }
  },
  callbacks: {
    onEpochEnd: (log) => {
      const memory = tf.memory();
      const usage = process.memoryUsage();
      const record: EpochRecord = {
        epoch: log.epoch + 1,
        numTensors: memory.numTensors,
        numBytes: memory.numBytes,
        rssMiB: mib(usage.rss),
        heapUsedMiB: mib(usage.heapUsed),
        loss: log.loss,
        valAccuracy: log.validation?.accuracy,
        sparsity: sparsityReport(model).fraction,
        seconds: log.seconds,
      };
      records.push(record);
      console.log(JSON.stringify(record));
    },
  },
});

const first = records[0];
const later = records.slice(1);
const tensorsFlat = later.every((r) => r.numTensors === first.numTensors);
const bytesFlat = later.every((r) => r.numBytes === first.numBytes);
const maxRss = Math.max(first.rssMiB, ...later.map((r) => r.rssMiB));
const rssFlat = maxRss - first.rssMiB <= rssToleranceMiB;
// A slope over the second half catches a slow leak that the tolerance alone would hide in a short run.
const half = later.slice(Math.floor(later.length / 2));
const slope =
  half.length > 1
    ? (half[half.length - 1].rssMiB - half[0].rssMiB) / (half[half.length - 1].epoch - half[0].epoch)
    : 0;
console.log(
  JSON.stringify({
    verdict: tensorsFlat && bytesFlat && rssFlat ? 'flat' : 'growing',
    epochs: records.length,
    tensorsFlat,
    bytesFlat,
    rssFlat,
    numTensors: [first.numTensors, records[records.length - 1].numTensors],
    numBytes: [first.numBytes, records[records.length - 1].numBytes],
    rssMiB: {
      epoch1: first.rssMiB,
      max: maxRss,
      last: records[records.length - 1].rssMiB,
      toleranceMiB: rssToleranceMiB,
    },
    rssSlopeMiBPerEpochSecondHalf: Math.round(slope * 100) / 100,
  }),
);
model.dispose();
process.exitCode = tensorsFlat && bytesFlat && rssFlat ? 0 : 1;
