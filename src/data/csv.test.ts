import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BayescompError } from '../util/errors.js';
import { loadCsvDataset } from './csv.js';
import { invertStandardization } from './standardize.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bayescomp-csv-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function csvFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failure(promise: Promise<unknown>): Promise<BayescompError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BayescompError);
  expect((err as Error).message).not.toMatch(/\n/);
  return err as BayescompError;
}

describe('loadCsvDataset: classification', () => {
  it('maps string labels in the last column to sorted class indices', async () => {
    const f = await csvFile('iris.csv', 'len,wid,species\n1.5,0.2,setosa\n4.7,1.4,versicolor\n1.4,.3,setosa\n6e0,2.5,virginica\n');
    const d = await loadCsvDataset(f);
    expect(d.task).toBe('classification');
    expect(d.featureNames).toEqual(['len', 'wid']);
    expect(d.targetNames).toEqual(['species']);
    expect(d.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(d.train.n).toBe(4);
    expect(d.train.featureShape).toEqual([2]);
    expect(d.train.numClasses).toBe(3);
    expect(Array.from(d.train.y)).toEqual([0, 1, 0, 2]);
    expect(Array.from(d.train.x)).toEqual([1.5, 0.2, 4.7, 1.4, 1.4, 0.3, 6, 2.5].map(Math.fround));
  });

  it('chooses the target by name or index and sorts integer labels numerically across train and test', async () => {
    const train = await csvFile('int-train.csv', 'y,a,b\n10,1,2\n2,3,4\n10,5,6\n');
    const test = await csvFile('int-test.csv', 'y,a,b\n9,7,8\n2.0,9,10\n');
    for (const target of ['y', 0, -3]) {
      const d = await loadCsvDataset(train, { testFile: test, target });
      expect(d.classNames).toEqual(['2', '9', '10']);
      expect(Array.from(d.train.y)).toEqual([2, 0, 2]);
      expect(Array.from(d.test!.y)).toEqual([1, 0]);
      expect(Array.from(d.test!.x)).toEqual([7, 8, 9, 10]);
      expect(d.test!.numClasses).toBe(3);
    }
  });

  it('uses given class names and rejects labels outside them', async () => {
    const f = await csvFile('named.csv', 'a,label\n1,no\n2,yes\n3,maybe\n');
    const err = await failure(loadCsvDataset(f, { classNames: ['yes', 'no'] }));
    expect(err.message).toBe(`${f}: line 4, column 'label': label 'maybe' is not one of the classes (yes, no)`);
  });
});

describe('loadCsvDataset: regression and standardisation', () => {
  it('reads several real targets', async () => {
    const f = await csvFile('reg.csv', 'x1,x2,t1,t2\n1,2,0.5,-1\n3,4,1.5,-2\n');
    const d = await loadCsvDataset(f, { target: ['t1', 't2'] });
    expect(d.task).toBe('regression');
    expect(d.train.targetSize).toBe(2);
    expect(d.train.y).toBeInstanceOf(Float32Array);
    expect(Array.from(d.train.y)).toEqual([0.5, -1, 1.5, -2]);
    expect(Array.from(d.train.x)).toEqual([1, 2, 3, 4]);
  });

  it('auto-detects regression from a non-integer target, and honours an explicit task', async () => {
    const f = await csvFile('auto.csv', 'a,t\n1,0.25\n2,3\n');
    expect((await loadCsvDataset(f)).task).toBe('regression');
    const g = await csvFile('auto-int.csv', 'a,t\n1,4\n2,3\n');
    expect((await loadCsvDataset(g)).task).toBe('classification');
    const r = await loadCsvDataset(g, { task: 'regression' });
    expect([r.task, Array.from(r.train.y)]).toEqual(['regression', [4, 3]]);
  });

  it('standardises features with training statistics only, applying them to the test file', async () => {
    // Training column a: 1, 2, 3, 6 → mean 3, population variance (4 + 1 + 0 + 9) / 4 = 3.5.
    // Column b is constant (5) → std 1, only centred.
    const train = await csvFile('std-train.csv', 'a,b,t\n1,5,0.5\n2,5,1.5\n3,5,2.5\n6,5,3.5\n');
    const test = await csvFile('std-test.csv', 'a,b,t\n10,7,1\n');
    const d = await loadCsvDataset(train, { testFile: test, standardize: true, standardizeTargets: true });
    const s = Math.sqrt(3.5);
    expect(Array.from(d.featureStandardization!.mean)).toEqual([3, 5]);
    expect(d.featureStandardization!.std[0]).toBeCloseTo(s, 6);
    expect(d.featureStandardization!.std[1]).toBe(1);
    const x = Array.from(d.train.x);
    [-2 / s, 0, -1 / s, 0, 0, 0, 3 / s, 0].forEach((v, i) => expect(x[i]).toBeCloseTo(v, 6));
    expect(d.test!.x[0]).toBeCloseTo(7 / s, 6);
    expect(d.test!.x[1]).toBeCloseTo(2, 6);
    // Targets 0.5..3.5: mean 2, population std √1.25; the inverse recovers the raw test target.
    expect(d.targetStandardization!.mean[0]).toBeCloseTo(2, 6);
    expect(d.targetStandardization!.std[0]).toBeCloseTo(Math.sqrt(1.25), 6);
    expect(d.test!.y[0]).toBeCloseTo(-1 / Math.sqrt(1.25), 6);
    expect(invertStandardization(d.test!.y as Float32Array, d.targetStandardization!)[0]).toBeCloseTo(1, 6);
  });
});

describe('loadCsvDataset: bad input', () => {
  it('names the file and line of a ragged row', async () => {
    const f = await csvFile('ragged.csv', 'a,b,c\n1,2,x\n\n3,4\n');
    expect((await failure(loadCsvDataset(f))).message).toBe(`${f}: line 4: 2 fields, but the header has 3`);
  });

  it('names the file, line and column of a non-numeric or empty feature cell', async () => {
    const f = await csvFile('nonnum.csv', 'a,b,c\n1,2,x\n3,abc,y\n');
    const err = await failure(loadCsvDataset(f));
    expect(err.code).toBe('bad-format');
    expect(err.message).toBe(`${f}: line 3, column 'b' (2): 'abc' is not a number`);
    const g = await csvFile('empty-cell.csv', 'a,b,c\n1,,x\n');
    expect((await failure(loadCsvDataset(g))).message).toBe(`${g}: line 2, column 'b' (2): empty cell`);
    const h = await csvFile('nan.csv', 'a,c\nNaN,x\n');
    expect((await failure(loadCsvDataset(h))).message).toMatch(/'NaN' is not a number$/);
  });

  it('rejects empty files, header-only files, unclosed quotes and mismatched test headers', async () => {
    const e = await csvFile('empty.csv', '\n\n');
    expect((await failure(loadCsvDataset(e))).message).toBe(`${e}: empty file: no header row`);
    const h = await csvFile('header.csv', 'a,b\n');
    expect((await failure(loadCsvDataset(h))).message).toBe(`${h}: no data rows after the header`);
    const q = await csvFile('quote.csv', 'a,b\n"1,2\n');
    expect((await failure(loadCsvDataset(q))).message).toMatch(/^.*quote\.csv: not valid CSV: Quote Not Closed/);
    const train = await csvFile('hdr-train.csv', 'a,b\n1,x\n');
    const test = await csvFile('hdr-test.csv', 'b,a\nx,1\n');
    expect((await failure(loadCsvDataset(train, { testFile: test }))).message).toBe(
      `${test}: header (b, a) differs from the training file's (a, b)`,
    );
  });

  it('rejects unknown target columns and missing files', async () => {
    const f = await csvFile('cols.csv', 'a,b\n1,x\n');
    const err = await failure(loadCsvDataset(f, { target: 'z' }));
    expect([err.code, err.message]).toEqual(['bad-config', "no target column 'z' (columns: a, b)"]);
    expect((await failure(loadCsvDataset(f, { target: 5 }))).message).toMatch(/index 5 is outside the 2 columns/);
    expect((await failure(loadCsvDataset(join(dir, 'absent.csv')))).code).toBe('not-found');
  });
});
