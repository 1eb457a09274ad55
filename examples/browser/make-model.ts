/**
 * Makes the models and sample images the browser example loads, from the embedded `fashion-mnist-subset`:
 *
 * - `public/model/`: a MAP-trained MLP (784-100-10, logits out) saved as a standard TF.js Layers model;
 * - `public/model-sparse-vd/`: the same network made Bayesian (Sparse VD: log-uniform prior, Molchanov et al. 2017)
 *   and trained on the ELBO from the MAP weights, saved with its `BayesianDense` layers;
 * - `public/samples.json`: one test image per Fashion-MNIST class and two MNIST digits (out of distribution), as
 *   bytes 0–255, with their labels.
 *
 * Run from the repository root: `npx tsx examples/browser/make-model.ts` (about a minute on one core). Same seed,
 * same backend → the same files.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import type { SampleFile, SampleImage } from './src/samples.js';
import { loadImageDataset } from '../../src/data/image-datasets.js';
import type { Dataset } from '../../src/data/dataset.js';
import { saveModel } from '../../src/models/file-io.js';
import { mlp } from '../../src/models/zoo.js';
import { initBackend } from '../../src/runtime/backend.js';
import { setGlobalSeed } from '../../src/runtime/random.js';
import { mapObjective } from '../../src/train/map-objective.js';
import { train } from '../../src/train/trainer.js';
import { deterministicValidationMetrics } from '../../src/train/validation-metrics.js';
import { toBayesian } from '../../src/variational/conversion.js';
import { logUniformFamily } from '../../src/variational/families/logUniformPosterior.js';
import { elboObjective } from '../../src/variational/objectives/elboObjective.js';
import { setPredictionMode, sparsityReport } from '../../src/variational/modelLayers.js';

const SEED = 20261122;
const HERE = dirname(fileURLToPath(import.meta.url));
const PUBLIC_DIR = join(HERE, 'public');

function imageBytes(data: Dataset, index: number): number[] {
  const size = 28 * 28;
  return Array.from(data.x.subarray(index * size, (index + 1) * size), (v) => Math.round(v * 255));
}

function firstOfClass(data: Dataset, cls: number): number {
  const labels = data.y as Int32Array;
  const index = labels.indexOf(cls);
  if (index < 0) throw new Error(`no test image of class ${cls}`);
  return index;
}

async function main(): Promise<void> {
  const backend = await initBackend();
  setGlobalSeed(SEED);
  const fashion = await loadImageDataset('fashion-mnist-subset');
  const mnist = await loadImageDataset('mnist-subset');
  if (!fashion.train || !fashion.test || !mnist.test) throw new Error('embedded datasets incomplete');
  const classNames = fashion.train.classNames ?? [];

  const map = mlp({ hiddenUnits: [100], seed: SEED });
  await train({
    model: map,
    objective: mapObjective(),
    data: fashion.train,
    epochs: 5,
    batchSize: 100,
    optimizer: { name: 'adam', learningRate: 1e-3 },
    seed: SEED,
    progress: 'none',
  });
  const mapMetrics = await deterministicValidationMetrics(map, fashion.test);

  const bayes = toBayesian(map, { family: logUniformFamily(), initLogSigma2: -10 });
  await train({
    model: bayes,
    objective: elboObjective(),
    data: fashion.train,
    epochs: 5,
    batchSize: 100,
    optimizer: { name: 'adam', learningRate: 1e-3 },
    seed: SEED + 1,
    progress: 'none',
  });
  setPredictionMode(bayes, 'mean');
  const bayesMetrics = await deterministicValidationMetrics(bayes, fashion.test);
  setPredictionMode(bayes, 'sample');

  await saveModel(map, join(PUBLIC_DIR, 'model'));
  await saveModel(bayes, join(PUBLIC_DIR, 'model-sparse-vd'));

  const samples: SampleImage[] = [];
  for (let cls = 0; cls < 10; cls++) {
    const index = firstOfClass(fashion.test, cls);
    samples.push({
      id: `fashion-${index}`,
      caption: `Fashion-MNIST test #${index}: ${classNames[cls]}`,
      label: cls,
      ood: false,
      pixels: imageBytes(fashion.test, index),
    });
  }
  for (const digit of [3, 7]) {
    const index = firstOfClass(mnist.test, digit);
    samples.push({
      id: `mnist-${index}`,
      caption: `MNIST test #${index}: digit ${digit} (out of distribution)`,
      ood: true,
      pixels: imageBytes(mnist.test, index),
    });
  }
  const file: SampleFile = { classNames, shape: [28, 28, 1], samples };
  await mkdir(PUBLIC_DIR, { recursive: true });
  await writeFile(join(PUBLIC_DIR, 'samples.json'), `${JSON.stringify(file)}\n`);
  // Formatted as the repository's `prettier --check` expects (TF.js writes model.json on one line).
  for (const name of ['model/model.json', 'model-sparse-vd/model.json', 'samples.json']) {
    const path = join(PUBLIC_DIR, name);
    const options = { ...(await resolveConfig(path)), filepath: path };
    await writeFile(path, await format(await readFile(path, 'utf8'), options));
  }

  const sparsity = sparsityReport(bayes);
  process.stderr.write(
    `backend ${backend.name}; MAP test accuracy ${(100 * mapMetrics.accuracy).toFixed(1)}%, ` +
      `Sparse VD (posterior mean) ${(100 * bayesMetrics.accuracy).toFixed(1)}%, ` +
      `sparsity ${(100 * sparsity.fraction).toFixed(1)}%; wrote ${PUBLIC_DIR}\n`,
  );
  map.dispose();
  bayes.dispose();
}

await main();
