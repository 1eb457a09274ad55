import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliCaptured } from './test-utils.js';

describe('bayescomp CLI', () => {
  it('info --json prints one JSON object naming the backend', async () => {
    const { code, out } = await runCliCaptured(['info', '--json']);
    expect(code).toBe(0);
    const info = JSON.parse(out) as { backend: string; tfjs: string; simd?: boolean };
    expect(['wasm', 'tensorflow']).toContain(info.backend);
    expect(info.tfjs).toBe('4.22.0');
  });

  it('exits with the usage status on an unknown command or option', async () => {
    expect((await runCliCaptured(['no-such-command'])).code).toBe(2);
    const { code, err } = await runCliCaptured(['info', '--frobnicate']);
    expect(code).toBe(2);
    expect(err).toMatch(/unknown option/);
  });

  it('a bad value reaching a command from its config file gets one line and the usage status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bayescomp-config-'));
    const config = join(dir, 'train.json');
    await writeFile(config, JSON.stringify({ klWeight: 'bogus' }));
    const { code, err } = await runCliCaptured([
      'train',
      '--model',
      'mlp',
      '--data',
      'fashion-mnist-subset',
      '--method',
      'sparse-vd',
      '--config',
      config,
      '--out',
      join(dir, 'run'),
    ]);
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toEqual(["bayescomp: cannot read KL weight 'bogus'"]);
  });

  it('--help lists the commands and exits 0', async () => {
    const { code, out } = await runCliCaptured(['--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/info/);
  });
});
