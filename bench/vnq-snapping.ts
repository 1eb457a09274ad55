/**
 * Where a VNQ run's 2-bit error comes from, and two attempts to remove it (issue 5, session 5). Over the test split of
 * Fashion-MNIST, posterior means (`predictPosteriorMean`):
 *
 * - `refit`: snap each layer alone and all together to its ternary codebook, with r as learned (`learned`), r refitted
 *   to the kept weights by Lloyd's iteration (`lloyd`), or one Lloyd r per output channel (`channel`), no training;
 * - `progressive <layer,…+layer,…>`: snap the layer groups in order, freezing each after snapping, and train the
 *   remaining layers for `--epochs` epochs of the VNQ ELBO (KL weight 1, Adam at `--lr`, batch 128) after each group
 *   (incremental quantisation, Zhou et al. 2017, with the variational objective); prints the accuracy after every
 *   snap and every layer's single-layer snap cost after every stage.
 *
 * Snapping: log α ≥ 3 → 0, else the nearest of [−r, 0, r]; θ set to it and log σ² to −10 (the clip).
 *
 *   npx tsx bench/vnq-snapping.ts <vnq run dir> refit
 *   npx tsx bench/vnq-snapping.ts <vnq run dir> progressive conv_1+conv_2+dense_1+dense_2 [--epochs 1] [--lr 1e-4]
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { resolveModel } from '../src/cli/resolve-inputs.js';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { initBackend } from '../src/runtime/backend.js';
import { train } from '../src/train/trainer.js';
import {
  type BayesianLayer,
  bayesianLayers,
  elboObjective,
  predictPosteriorMean,
  VnqPosterior,
} from '../src/variational/index.js';
import { backendLine } from './lib/measure.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { epochs: { type: 'string', default: '1' }, lr: { type: 'string', default: '1e-4' } },
});
const [run, mode, stages] = positionals;
if (!run || (mode !== 'refit' && mode !== 'progressive') || (mode === 'progressive' && !stages)) {
  throw new Error('usage: vnq-snapping.ts <run> refit | progressive <layers+layers…> [--epochs n] [--lr x]');
}
await initBackend();
console.log(`backend: ${backendLine()}`);
const { logits } = await resolveModel(run, undefined, 0);
const data = await loadImageDataset('fashion-mnist');
const test = data.test!;
const xTest = tf.tensor(test.x, [test.n, ...test.featureShape]);
const layers = bayesianLayers(logits);

function accuracy(label: string): void {
  const p = predictPosteriorMean(logits, xTest);
  const predicted = p.argMax(1).dataSync();
  let correct = 0;
  for (let i = 0; i < test.n; i++) if (predicted[i] === test.y[i]) correct++;
  tf.dispose(p);
  console.log(`${label}: ${((100 * correct) / test.n).toFixed(2)}%`);
}

type Codebook = 'learned' | 'lloyd' | 'channel';

/** Snaps one layer: kept weights to the nearest of [−r, 0, r] with r per `codebook`; pruned (log α ≥ 3) to 0. */
function snap(layer: BayesianLayer, codebook: Codebook = 'learned'): void {
  const family = layer.family() as VnqPosterior;
  const [theta, logAlpha] = [family.mean(), family.logAlpha()];
  const t = theta.dataSync();
  const a = logAlpha.dataSync();
  const channels = theta.shape[theta.rank - 1];
  const groups = codebook === 'channel' ? channels : 1;
  const out = new Float32Array(t.length);
  for (let g = 0; g < groups; g++) {
    const kept: number[] = [];
    for (let i = 0; i < t.length; i++) if (a[i] < 3 && (groups === 1 || i % channels === g)) kept.push(i);
    let r = family.codebookValues()[2];
    if (codebook !== 'learned') {
      for (let iteration = 0; iteration < 30; iteration++) {
        let sum = 0;
        let count = 0;
        for (const i of kept) {
          if (Math.abs(t[i]) <= r / 2) continue;
          sum += Math.abs(t[i]);
          count++;
        }
        if (count > 0) r = sum / count;
      }
    }
    for (const i of kept) out[i] = Math.abs(t[i]) > r / 2 ? Math.sign(t[i]) * r : 0;
  }
  const snapped = tf.tensor(out, theta.shape);
  family.initialise(snapped, -10);
  tf.dispose([theta, logAlpha, snapped]);
}

/** Accuracy with each layer snapped alone, then all together; the weights are restored after each. */
function snapCosts(label: string, codebook: Codebook = 'learned'): void {
  const saved = layers.map((l) => l.getWeights().map((w) => w.clone()));
  const restore = () => layers.forEach((l, i) => l.setWeights(saved[i]));
  for (const layer of layers) {
    snap(layer, codebook);
    accuracy(`${label}: only ${layer.name} snapped`);
    restore();
  }
  for (const layer of layers) snap(layer, codebook);
  accuracy(`${label}: all snapped`);
  restore();
  tf.dispose(saved.flat());
}

accuracy('float (posterior means)');
if (mode === 'refit') {
  for (const codebook of ['learned', 'lloyd', 'channel'] as const) snapCosts(codebook, codebook);
} else {
  snapCosts('start');
  const frozen: string[] = [];
  for (const stage of stages.split('+')) {
    for (const layer of layers.filter((l) => stage.split(',').includes(l.name))) {
      snap(layer);
      layer.trainable = false;
      frozen.push(layer.name);
    }
    accuracy(`snapped ${frozen.join(',')}`);
    if (frozen.length === layers.length) break;
    await train({
      model: logits,
      objective: elboObjective({ beta: 1 }),
      data: data.train!,
      epochs: Number(values.epochs),
      batchSize: 128,
      optimizer: { name: 'adam', learningRate: Number(values.lr) },
      seed: 3,
      progress: 'none',
      checkpointEvery: 0,
    });
    accuracy(`after training the rest with ${frozen.join(',')} snapped`);
    snapCosts(`after ${frozen.join(',')}`);
  }
}
