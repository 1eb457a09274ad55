/**
 * Makes the small datasets committed under `data/`, the embedded default for the demo and the tests:
 *
 * - `data/fashion-mnist-subset/`: a seeded, class-stratified subset of Fashion-MNIST, 5000 train / 1000 test images
 *   (500 / 100 per class), from Debian's `dataset-fashion-mnist` files;
 * - `data/mnist-subset/`: a seeded, class-stratified 1000-image subset of the MNIST test set (test-only), used as
 *   out-of-distribution data for models trained on Fashion-MNIST;
 * - `data/README.md`: how they were made, the seed, and the SHA-256 of every file.
 *
 * Run: `npx tsx scripts/make-subsets.ts [--fashion DIR] [--mnist DIR] [--out DIR] [--seed N]`. The same inputs and
 * seed give byte-identical files.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipIfNeeded, readIdxFile, writeIdxFile } from '../src/data/idx-file.js';
import type { IdxArray } from '../src/data/idx.js';
import { type StratifiedSampleSize, stratifiedLabelIndices } from '../src/data/splits.js';
import { IDX_FILE_STEMS, type ImageSplitName } from '../src/data/image-dataset-catalog.js';
import { Random } from '../src/runtime/random.js';
import { writeFileAtomic } from '../src/util/atomic-write.js';

const { values: args } = parseArgs({
  options: {
    fashion: { type: 'string', default: '/usr/share/datasets/fashion-mnist' },
    mnist: { type: 'string', default: '/work/shared/data/mnist-t10k' },
    out: { type: 'string', default: 'data' },
    seed: { type: 'string', default: '20261122' },
  },
});
const seed = Number(args.seed);

interface SubsetPlan {
  readonly name: string;
  readonly sourceDir: string;
  readonly split: ImageSplitName;
  readonly size: StratifiedSampleSize;
}

const plans: SubsetPlan[] = [
  { name: 'fashion-mnist-subset', sourceDir: args.fashion, split: 'train', size: { total: 5000 } },
  { name: 'fashion-mnist-subset', sourceDir: args.fashion, split: 'test', size: { total: 1000 } },
  { name: 'mnist-subset', sourceDir: args.mnist, split: 'test', size: { total: 1000 } },
];

async function readSource(dir: string, stem: string): Promise<{ path: string; array: IdxArray }> {
  for (const path of [join(dir, `${stem}.gz`), join(dir, stem)]) {
    try {
      return { path, array: await readIdxFile(path) };
    } catch (err) {
      if ((err as { code?: string }).code !== 'not-found') throw err;
    }
  }
  throw new Error(`${dir}: no ${stem}[.gz]`);
}

function classCounts(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

async function main(): Promise<void> {
  // One child stream per subset, forked in a fixed order, so changing one plan does not reshuffle the others.
  const root = new Random(seed);
  const readme: string[] = [];
  const sources = new Set<string>();
  for (const plan of plans) {
    const random = root.fork();
    const stems = IDX_FILE_STEMS[plan.split];
    const images = await readSource(plan.sourceDir, stems.images);
    const labels = await readSource(plan.sourceDir, stems.labels);
    sources.add(images.path).add(labels.path);
    const [n, rows, cols] = images.array.dims;
    const y = Int32Array.from(labels.array.values);
    if (y.length !== n) throw new Error(`${labels.path}: ${y.length} labels for ${n} images`);
    const chosen = stratifiedLabelIndices(y, 10, plan.size, random);
    const pixels = new Uint8Array(chosen.length * rows * cols);
    const picked = new Uint8Array(chosen.length);
    chosen.forEach((src, i) => {
      pixels.set(
        images.array.values.subarray(src * rows * cols, (src + 1) * rows * cols) as Uint8Array,
        i * rows * cols,
      );
      picked[i] = y[src];
    });
    const outDir = join(args.out, plan.name);
    const imagesOut = join(outDir, `${stems.images}.gz`);
    const labelsOut = join(outDir, `${stems.labels}.gz`);
    await writeIdxFile(imagesOut, pixels, [chosen.length, rows, cols]);
    await writeIdxFile(labelsOut, picked, [chosen.length]);
    readme.push(
      `| \`${plan.name}/${stems.images}.gz\` | ${chosen.length} of ${n} (${plan.split}) | ` +
        `${classCounts(picked, 10).join(' ')} | \`${await sha256(imagesOut)}\` |`,
      `| \`${plan.name}/${stems.labels}.gz\` | labels of the above | | \`${await sha256(labelsOut)}\` |`,
    );
    console.log(`${plan.name} ${plan.split}: ${chosen.length} images from ${images.path}`);
  }
  const sourceRows: string[] = [];
  for (const path of sources) {
    const bytes = await readFile(path);
    sourceRows.push(
      `| \`${path}\` | \`${sha256Hex(bytes)}\` | \`${sha256Hex(gunzipIfNeeded(bytes, path))}\` |`,
    );
  }
  await writeFileAtomic(join(args.out, 'README.md'), readmeText(readme, sourceRows));
}

async function sha256(path: string): Promise<string> {
  return sha256Hex(await readFile(path));
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function readmeText(rows: string[], sourceRows: string[]): string {
  return `# Embedded datasets

Small datasets committed with bayescomp so the demo and the tests run offline without downloads. They are loaded by
name: \`loadImageDataset('fashion-mnist-subset')\` and \`loadImageDataset('mnist-subset')\`.

- **fashion-mnist-subset**: 5000 training and 1000 test images of Fashion-MNIST (Xiao, Rasul & Vollgraf 2017,
  MIT licence), 500 and 100 per class, drawn from the official train and test files (Debian's
  \`dataset-fashion-mnist\`, \`${args.fashion}\`).
- **mnist-subset** (test only): 1000 images of the MNIST test set (LeCun, Cortes & Burges, CC BY-SA 3.0), each
  digit in proportion to its share of the test set, drawn from the official \`t10k\` files (\`${args.mnist}\`); used as
  out-of-distribution data for models trained on Fashion-MNIST.

How they were made: \`npx tsx scripts/make-subsets.ts\` with seed **${seed}**. For each subset the script forks a
child generator from \`Random(${seed})\` (bayescomp's seeded xoshiro128**), draws each class's examples without
replacement (the per-class counts are the largest-remainder allocation of the total in proportion to class sizes),
and writes the chosen examples in their original order as gzipped IDX files (same layout and file names as the
official files). Running the script again on the same files gives byte-identical output.

| file | images | per class (0–9) | SHA-256 |
| --- | --- | --- | --- |
${rows.join('\n')}

The input files. Debian recompresses Fashion-MNIST, so its \`.gz\` files differ byte-wise from the upstream downloads
(whose MD5s the Fashion-MNIST README publishes); the decompressed IDX data is what must match, and it does: the
decompressed SHA-256s below equal those of the upstream files.

| source file | SHA-256 of the file | SHA-256 of the decompressed IDX data |
| --- | --- | --- |
${sourceRows.join('\n')}
`;
}

await main();
