import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeIdxFile } from '../data/idx-file.js';
import { loadImageDataset } from '../data/image-datasets.js';
import type { CliIo } from './io.js';
import { runCli } from './program.js';

/** Runs the CLI in-process with captured output, for tests. */
export async function runCliCaptured(
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => void (out += s), err: (s) => void (err += s), isTty: false };
  const code = await runCli(['node', 'bayescomp', ...args], io);
  return { code, out, err };
}

/**
 * Writes a small IDX dataset directory (MNIST layout, 28×28 uint8 images) made of the first `train` training and
 * `test` test images of the embedded Fashion-MNIST subset (or of `source`), for fast in-process CLI runs.
 */
export async function writeTinyImageDataset(
  dir: string,
  sizes: { train: number; test: number },
  source = 'fashion-mnist-subset',
): Promise<string> {
  const splits = await loadImageDataset(source);
  await mkdir(dir, { recursive: true });
  for (const [split, data, n] of [
    ['train', splits.train, sizes.train],
    ['t10k', splits.test, sizes.test],
  ] as const) {
    if (!data || n <= 0) continue;
    const [h, w] = data.featureShape;
    const pixels = h * w;
    const images = new Uint8Array(n * pixels);
    for (let i = 0; i < n * pixels; i++) images[i] = Math.round(data.x[i] * 255);
    const labels = Uint8Array.from(data.y.subarray(0, n));
    await writeIdxFile(join(dir, `${split}-images-idx3-ubyte`), images, [n, h, w], { gzip: false });
    await writeIdxFile(join(dir, `${split}-labels-idx1-ubyte`), labels, [n], { gzip: false });
  }
  return dir;
}
