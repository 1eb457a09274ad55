import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeQuadrantDataset } from '../../test/fault/generate.js';
import { initBackend } from '../runtime/backend.js';
import { EXIT_CODES } from '../util/errors.js';
import { runCliCaptured } from './test-utils.js';

describe('train --on-nan', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-on-nan-'));
    await writeQuadrantDataset(join(root, 'data'), 200, 1);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('rollback halves a diverging learning rate 3 times, then stops with exit 6; the run directory and its checkpoint stay', async () => {
    const out = join(root, 'run');
    const logged: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    let result;
    try {
      result = await runCliCaptured([
        'train',
        '--model',
        'mlp',
        '--data',
        join(root, 'data'),
        '--optimizer',
        'sgd',
        '--lr',
        '1e30',
        '--epochs',
        '2',
        '--batch-size',
        '20',
        '--on-nan',
        'rollback',
        '--progress',
        'none',
        '--out',
        out,
      ]);
    } finally {
      spy.mockRestore();
    }
    expect(result.code).toBe(EXIT_CODES.diverged);
    const rollbacks = logged
      .join('')
      .match(
        /rolled back to the start of the run with the learning rate ×[0-9.]+ \(rollback \d of at most 3\)/g,
      );
    expect(rollbacks).toEqual([
      'rolled back to the start of the run with the learning rate ×0.5 (rollback 1 of at most 3)',
      'rolled back to the start of the run with the learning rate ×0.25 (rollback 2 of at most 3)',
      'rolled back to the start of the run with the learning rate ×0.125 (rollback 3 of at most 3)',
    ]);
    const lines = result.err.trimEnd().split('\n');
    expect(lines[lines.length - 1]).toMatch(
      /^bayescomp: training diverged: .* \(after 3 rollbacks that lowered the learning rate to 0\.125× the configured one\)$/,
    );
    // A diverged run keeps its directory (run.json says 'failed'), so it can be inspected or resumed at a lower rate.
    expect(await readdir(out)).toEqual(expect.arrayContaining(['run.json']));
  });

  it('--on-nan rejects other values as a usage error', async () => {
    const r = await runCliCaptured([
      'train',
      '--model',
      'mlp',
      '--data',
      'x',
      '--out',
      join(root, 'x'),
      '--on-nan',
      'ignore',
    ]);
    expect(r.code).toBe(2);
  });
});
