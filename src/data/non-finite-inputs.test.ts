import { describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import { csvDatasetFromText } from './csv.js';
import { imageDatasetFromIdx, MAX_IMAGE_CLASSES, readImageDatasetDir } from './image-datasets.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdx } from './idx.js';

/** Values that parse but are not usable numbers are refused where they are read, naming the place. */
describe('non-finite and absurd values in datasets', () => {
  const csv = (text: string) => () => csvDatasetFromText({ text, file: 'd.csv' }, undefined);

  it('CSV cells that are Infinity as numbers (1e999) or in float32 (±1e39) are bad-format errors naming line and column', () => {
    expect(csv('a,b,label\n1,2,x\n1e999,4,y\n')).toThrow(
      "d.csv: line 3, column 'a' (1): '1e999' is not finite in float32 (|x| > 3.4e38)",
    );
    expect(csv('a,b,label\n1,-1e39,x\n3,4,y\n')).toThrow(/line 2, column 'b' \(2\): '-1e39' is not finite/);
    // The largest float32 (3.4028234e38) is still accepted.
    const ok = csvDatasetFromText({ text: 'a,label\n3.4028234e38,x\n1,y\n', file: 'd.csv' }, undefined);
    expect(ok.train.x[0]).toBe(3.4028234663852886e38);
  });

  it('float images holding NaN or Inf are refused naming the pixel', () => {
    const images = { type: 'float32' as const, dims: [2, 2, 2], values: Float32Array.from([0, 0.5, 1, 0, 0, NaN, 0, 0]) };
    const labels = { type: 'uint8' as const, dims: [2], values: Uint8Array.from([0, 1]) };
    const build = () =>
      imageDatasetFromIdx(images, labels, { imagesFile: 'img', labelsFile: 'lab', numClasses: 2 });
    expect(build).toThrow(BayescompError);
    expect(build).toThrow('img: pixel 5 is NaN (as float32); image values must be finite');
  });

  it(`labels at or above ${MAX_IMAGE_CLASSES} in a directory dataset are a corrupt file, not 2³¹ classes`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-labels-'));
    try {
      await writeFile(join(dir, 't10k-images-idx3-ubyte'), encodeIdx(new Uint8Array(3 * 4), [3, 2, 2]));
      await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx(Int32Array.from([0, 2 ** 31 - 1, 1]), [3]));
      const err = await readImageDatasetDir(dir).catch((e: unknown) => e);
      expect((err as BayescompError).code).toBe('bad-format');
      expect((err as Error).message).toContain(
        'label 2147483647 at index 1 is not a class index below 100000; the labels file is corrupt',
      );
      await writeFile(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx(Int32Array.from([0, 99_999, 1]), [3]));
      expect((await readImageDatasetDir(dir)).numClasses).toBe(100_000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
