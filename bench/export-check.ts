/**
 * An exported model as a user would load it: stock `tf.loadLayersModel` on `<dir>/model.json`, then, per layer, the
 * number of nonzero kernel weights and of distinct nonzero values (3 for a ternary codebook means {−r, 0, r}), and
 * the accuracy on the test split of a dataset.
 *
 *   npx tsx bench/export-check.ts <dir holding model.json> [--data fashion-mnist]
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { loadImageDataset } from '../src/data/image-datasets.js';
import { fileSystemHandler } from '../src/models/file-io.js';
import { initBackend } from '../src/runtime/backend.js';
import { backendLine } from './lib/measure.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { data: { type: 'string', default: 'fashion-mnist' } },
});
if (!positionals[0]) throw new Error('usage: export-check.ts <dir> [--data name]');
await initBackend();
console.log(`backend: ${backendLine()}`);
const model = await tf.loadLayersModel(fileSystemHandler(`${positionals[0]}/model.json`));
for (const layer of model.layers) {
  const weights = layer.getWeights();
  if (weights.length === 0) continue;
  const kernel = Array.from(weights[0].dataSync()).filter((v) => v !== 0);
  const distinct = [...new Set(kernel)].sort((a, b) => a - b);
  const shown = distinct.length <= 8 ? ` (${distinct.map((v) => v.toPrecision(5)).join(', ')})` : '';
  console.log(
    `${layer.name}: ${kernel.length} nonzero weights, ${distinct.length} distinct nonzero values${shown}`,
  );
}
const test = (await loadImageDataset(values.data)).test!;
const correct = tf.tidy(() => {
  const x = tf.tensor(test.x, [test.n, ...test.featureShape]);
  const predicted = (model.predict(x) as tf.Tensor).argMax(-1);
  return tf
    .equal(predicted, tf.tensor1d(test.y as Int32Array, 'int32'))
    .sum()
    .dataSync()[0];
});
console.log(`accuracy on ${values.data} test (${test.n}): ${((100 * correct) / test.n).toFixed(2)}%`);
