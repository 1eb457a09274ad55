import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from '../test-utils.js';

describe('bayescomp train', () => {
  it('trains a zoo model on the embedded subset and writes a complete run directory', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-train-'));
    const {
      code,
      out: stdout,
      err,
    } = await runCliCaptured([
      'train',
      '--model',
      'lenet300',
      '--data',
      'fashion-mnist-subset',
      '--epochs',
      '2',
      '--out',
      out,
      '--seed',
      '3',
      '--progress',
      'none',
      '--json',
    ]);
    expect(err).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as {
      test: { accuracy: number; nll: number };
      backend: string;
      epochs: number;
    };
    // Two epochs of Adam on 5000 images: far above chance (10%); full-data figures are in bench/RESULTS.md.
    expect(result.test.accuracy).toBeGreaterThan(0.7);
    expect(result.epochs).toBe(2);
    expect(['wasm', 'tensorflow']).toContain(result.backend);
    const files = await readdir(out);
    expect(files).toEqual(expect.arrayContaining(['run.json', 'history.json', 'metrics.json', 'model']));
    const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as {
      status: string;
      seed: number;
      backend: string;
    };
    expect(run).toMatchObject({ status: 'finished', seed: 3, backend: result.backend });
    const history = JSON.parse(await readFile(join(out, 'history.json'), 'utf8')) as { history: unknown[] };
    expect(history.history).toHaveLength(2);
  });

  it('reads options from a config file, with flags taking precedence', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-config-'));
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ epochs: 5, batchSize: 250, seed: 9, model: 'mlp' }));
    const out = join(dir, 'run');
    const { code, out: stdout } = await runCliCaptured([
      'train',
      '--config',
      config,
      '--data',
      'fashion-mnist-subset',
      '--epochs',
      '1',
      '--out',
      out,
      '--progress',
      'none',
      '--json',
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ epochs: 1 });
    const run = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as {
      options: Record<string, unknown>;
    };
    expect(run.options).toMatchObject({ batchSize: 250, seed: 9, model: 'mlp', epochs: 1 });
  });

  it('trains a Sparse VD network (variational) and eval uses its Monte-Carlo predictive', async () => {
    const out = await mkdtemp(join(tmpdir(), 'bayescomp-svd-'));
    const {
      code,
      out: stdout,
      err,
    } = await runCliCaptured([
      'train',
      '--model',
      'mlp',
      '--data',
      'fashion-mnist-subset',
      '--method',
      'sparse-vd',
      '--epochs',
      '2',
      '--kl-weight',
      'warmup:0:1',
      '--out',
      out,
      '--progress',
      'none',
      '--eval-samples',
      '5',
      '--json',
    ]);
    expect(err).not.toMatch(/internal error/);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { test: Record<string, number> };
    expect(result.test.accuracy).toBeGreaterThan(0.6);
    // With the full KL weight from epoch 1 on, Sparse VD already prunes a good part of the 784·100 first layer.
    expect(result.test.sparsity).toBeGreaterThan(0.2);
    expect(result.test.sparsity).toBeLessThan(1);
    expect(result.test.compression).toBeCloseTo(1 / (1 - result.test.sparsity), 6);
    const evaluated = await runCliCaptured([
      'eval',
      '--model',
      out,
      '--data',
      'fashion-mnist-subset',
      '--samples',
      '5',
      '--json',
    ]);
    expect(evaluated.code).toBe(0);
    const metrics = JSON.parse(evaluated.out) as { method: string; accuracy: number; mean_mi: number };
    expect(metrics.method).toBe('variational (S=5)');
    expect(Math.abs(metrics.accuracy - result.test.accuracy)).toBeLessThan(0.03);
    expect(metrics.mean_mi).toBeGreaterThan(0);
  });

  it('fails with one line and a non-zero status for a missing dataset or model, leaving no run directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-bad-'));
    const missingData = await runCliCaptured([
      'train',
      '--model',
      'lenet300',
      '--data',
      join(dir, 'nowhere'),
      '--out',
      join(dir, 'run'),
      '--no-download',
    ]);
    expect(missingData.code).toBe(4);
    expect(missingData.err.trim().split('\n')).toHaveLength(1);
    const missingModel = await runCliCaptured([
      'train',
      '--model',
      join(dir, 'nope.json'),
      '--data',
      'fashion-mnist-subset',
      '--out',
      join(dir, 'run2'),
    ]);
    expect(missingModel.code).toBe(4);
    expect(missingModel.err).toMatch(/nope\.json/);
    expect(await readdir(dir)).toEqual([]);
  });
});
