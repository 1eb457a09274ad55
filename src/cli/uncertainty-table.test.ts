import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../runtime/backend.js';
import { BayescompError } from '../util/errors.js';
import { runCliCaptured, writeTinyImageDataset } from './test-utils.js';
import {
  parseUncertaintyTableEntry,
  uncertaintyTable,
  uncertaintyTableMarkdown,
} from './uncertainty-table.js';

let dir: string;
let data: string;
let ood: string;

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'bayescomp-table-'));
  data = await writeTinyImageDataset(join(dir, 'data'), { train: 300, test: 120 });
  ood = await writeTinyImageDataset(join(dir, 'ood'), { train: 0, test: 80 }, 'mnist-subset');
});

async function cli(args: string[]): Promise<string> {
  const r = await runCliCaptured(args);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return r.out;
}

const common = () => ['--data', data, '--epochs', '1', '--batch-size', '50', '--progress', 'none', '--json'];

describe('uncertainty table', () => {
  it('parses label=path entries', () => {
    expect(parseUncertaintyTableEntry('MC dropout=runs/a=b')).toEqual({
      label: 'MC dropout',
      path: 'runs/a=b',
    });
    expect(() => parseUncertaintyTableEntry('runs/map')).toThrow(BayescompError);
  });

  it('evaluates a MAP run, an MC dropout run and a Laplace directory like eval, with recorded times', async () => {
    const map = join(dir, 'map');
    const mcd = join(dir, 'mcd');
    const laplace = join(dir, 'laplace');
    await cli(['train', '--model', 'mlp', '--out', map, ...common()]);
    await cli([
      'train',
      '--model',
      'mlp',
      '--method',
      'mc-dropout',
      '--dropout',
      '0.2',
      '--out',
      mcd,
      ...common(),
    ]);
    await cli(['laplace', '--model', map, '--data', data, '--out', laplace, '--json']);

    const table = await uncertaintyTable(
      [
        { label: 'MAP', path: map },
        { label: 'MC dropout', path: mcd },
        { label: 'Laplace', path: laplace },
      ],
      { data, ood, samples: 8, seed: 0 },
    );
    expect(table.rows.map((r) => [r.label, r.kind, r.method])).toEqual([
      ['MAP', 'deterministic', 'MAP'],
      ['MC dropout', 'mc-dropout', 'MC dropout (S=8)'],
      ['Laplace', 'laplace', 'Laplace (GLM, probit)'],
    ]);
    expect(table).toMatchObject({ n: 120, nOod: 80, samples: 8, bins: 15 });
    expect(table.backend).toMatch(/^wasm|^tensorflow|^cpu/);

    // Each row agrees with `bayescomp eval` on the same entry (the same code path).
    for (const row of table.rows) {
      const evaluated = JSON.parse(
        await cli(['eval', '--model', row.path, '--data', data, '--ood', ood, '--samples', '8', '--json']),
      ) as { accuracy: number; nll: number; ece: number; brier: number; ood: Record<string, number> };
      expect(row.accuracy).toBe(evaluated.accuracy);
      expect(row.nll).toBeCloseTo(evaluated.nll, 10);
      expect(row.ece).toBeCloseTo(evaluated.ece, 10);
      expect(row.brier).toBeCloseTo(evaluated.brier, 10);
      expect(row.auroc_maxprob).toBe(evaluated.ood.auroc_maxprob);
      expect(row.auroc_entropy).toBe(evaluated.ood.auroc_entropy);
      expect(row.auroc_mi).toBe(evaluated.ood.auroc_mi);
      expect(row.predict_seconds).toBeGreaterThan(0);
    }
    // Mutual information only for the Monte-Carlo predictive.
    expect(table.rows.map((r) => r.auroc_mi !== undefined)).toEqual([false, true, false]);

    // Training times come from the runs' records; Laplace adds its fit to the MAP run's training.
    const record = async (d: string) =>
      JSON.parse(await readFile(join(d, 'run.json'), 'utf8')) as { trainSeconds: number };
    const mapSeconds = (await record(map)).trainSeconds;
    expect(table.rows[0].train_seconds).toBe(mapSeconds);
    expect(table.rows[1].train_seconds).toBe((await record(mcd)).trainSeconds);
    const fit = (JSON.parse(await readFile(join(laplace, 'metrics.json'), 'utf8')) as { fitSeconds: number })
      .fitSeconds;
    expect(table.rows[2].fit_seconds).toBe(fit);
    expect(table.rows[2].pretrain_seconds).toBe(mapSeconds);
    expect(table.rows[2].train_seconds).toBeCloseTo(mapSeconds + fit, 12);
    expect(table.rows[0].pretrain_seconds).toBeUndefined();

    const markdown = uncertaintyTableMarkdown(table).split('\n');
    expect(markdown[0]).toMatch(/n = 120.*OOD .*n = 80.*S = 8; backend /);
    expect(markdown[2]).toMatch(/^\| method \| predictive \| accuracy % \| NLL \| ECE % \(15 bins\) \|/);
    const rows = markdown.filter((l) => /^\| (MAP|MC dropout|Laplace) \|/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows[0]).toContain(`| ${(100 * table.rows[0].accuracy).toFixed(2)} |`);
    expect(rows[0].split('|')[9].trim()).toBe('—'); // no MI column value for MAP

    // Every model, posterior and tensor an entry loads is released after its row.
    const before = tf.memory().numTensors;
    const again = await uncertaintyTable(
      [
        { label: 'Laplace', path: laplace },
        { label: 'MC dropout', path: mcd },
      ],
      {
        data,
        ood,
        samples: 8,
        seed: 0,
      },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(again.rows[0].nll).toBe(table.rows[2].nll);
  });
});
