import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../../src/cli/test-utils.js';
import { saveModel } from '../../src/models/file-io.js';
import { mlp } from '../../src/models/zoo.js';
import { initBackend } from '../../src/runtime/backend.js';
import { Random } from '../../src/runtime/random.js';
import { EXIT_CODES } from '../../src/util/errors.js';
import { writeQuadrantDataset } from './generate.js';

/**
 * Interrupted training runs: `bayescomp train` processes killed with SIGKILL at seeded points, or stopped with
 * SIGINT/SIGTERM, then continued with `--resume`, must end with the bit-identical model of an uninterrupted run; run
 * directories left half-written are reported by `--resume`, `eval`, `prune` and `report`.
 *
 * The run: Sparse VD (noise from the run's generator, a KL term) on an 8-unit MLP, 400 8×8 images, batches of 10 →
 * 40 steps per epoch, 3 epochs = 120 steps, a checkpoint every 7 steps. Killed runs are real processes (`tsx
 * src/cli/main.ts`, started concurrently to save their start-up time); the reference and the resumes run in-process.
 */

const TOTAL_STEPS = 120;
let root: string;
let data: string;
let modelJson: string;
let straightWeights: Buffer;
let straightMetrics: unknown;

function trainArgs(out: string): string[] {
  return [
    'train',
    '--model',
    modelJson,
    '--data',
    data,
    '--method',
    'sparse-vd',
    '--epochs',
    '3',
    '--batch-size',
    '10',
    '--checkpoint-every-steps',
    '7',
    '--seed',
    '3',
    '--eval-samples',
    '2',
    '--progress',
    'none',
    '--out',
    out,
  ];
}

async function checkpointStep(dir: string): Promise<number | undefined> {
  try {
    const json = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { globalStep: number };
    return json.globalStep;
  } catch {
    return undefined;
  }
}

interface Stopped {
  readonly out: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  /** Whether the stop signal was sent before the process ended by itself. */
  readonly stoppedMidRun: boolean;
}

/**
 * Starts `train` as a process and sends `signal` once its checkpoint has reached global step `after` (polled every
 * 5 ms), plus `extraMs`; resolves when the process has ended.
 */
function runAndStop(out: string, after: number, signal: NodeJS.Signals, extraMs = 0): Promise<Stopped> {
  return new Promise((resolve) => {
    // `node --import tsx`, not the `tsx` wrapper: the wrapper runs the script in a child process, which a SIGKILL
    // of the wrapper would leave running.
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...trainArgs(out)],
      {
        cwd: process.cwd(),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    let exited = false;
    let sent = false;
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const poll = setInterval(() => {
      void checkpointStep(out).then((step) => {
        if (sent || exited || step === undefined || step < after) return;
        sent = true;
        clearInterval(poll);
        setTimeout(() => {
          if (!exited) child.kill(signal);
        }, extraMs);
      });
    }, 5);
    child.on('close', (code, sig) => {
      exited = true;
      clearInterval(poll);
      resolve({ out, code, signal: sig, stderr, stoppedMidRun: sent && (sig === signal || code === 130) });
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('interrupted training runs', () => {
  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-interrupt-'));
    data = join(root, 'data');
    await writeQuadrantDataset(data, 400, 1);
    const model = mlp({ inputShape: [8, 8, 1], hiddenUnits: [8], numClasses: 4, seed: 1 });
    modelJson = await saveModel(model, join(root, 'model'));
    model.dispose();
    const straight = await runCliCaptured(trainArgs(join(root, 'straight')));
    expect(straight.err).not.toMatch(/internal error/);
    expect(straight.code).toBe(0);
    straightWeights = await readFile(join(root, 'straight', 'model', 'weights.bin'));
    straightMetrics = JSON.parse(await readFile(join(root, 'straight', 'metrics.json'), 'utf8')).test;
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  let killed: Stopped[] = [];

  it('kill -9 at 5 seeded points, then --resume: each final model is bit-identical to the uninterrupted run', async () => {
    const random = new Random(2026);
    // Global steps after which to kill (plus 0–40 ms), between the first checkpoint and 80% of the run.
    const targets = Array.from({ length: 5 }, () => 7 + random.int(90));
    const delays = targets.map(() => random.int(40));
    killed = await Promise.all(
      targets.map((t, i) => runAndStop(join(root, `killed-${i}`), t, 'SIGKILL', delays[i])),
    );
    const landed = await Promise.all(killed.map((k) => checkpointStep(k.out)));
    // The kills hit running processes, and left checkpoints from inside the run.
    expect(killed.filter((k) => k.stoppedMidRun).length).toBeGreaterThanOrEqual(3);
    for (const [i, k] of killed.entries()) {
      if (!k.stoppedMidRun) continue;
      expect(k.signal).toBe('SIGKILL');
      expect(landed[i]).toBeGreaterThanOrEqual(targets[i]);
      expect(landed[i]).toBeLessThanOrEqual(TOTAL_STEPS);
    }
    for (const k of killed) {
      const resumed = await runCliCaptured([...trainArgs(k.out), '--resume']);
      expect(resumed.err).not.toMatch(/internal error/);
      expect(resumed.code).toBe(0);
      const weights = await readFile(join(k.out, 'model', 'weights.bin'));
      expect(weights.equals(straightWeights)).toBe(true);
      expect(JSON.parse(await readFile(join(k.out, 'metrics.json'), 'utf8')).test).toEqual(straightMetrics);
      const run = JSON.parse(await readFile(join(k.out, 'run.json'), 'utf8')) as { status: string };
      expect(run.status).toBe('finished');
    }
    console.log(
      `kill -9 after global steps ${targets.join(', ')} (+${delays.join(', ')} ms): checkpoints at ${landed.join(', ')} of ${TOTAL_STEPS}`,
    );
  }, 400_000);

  it('SIGINT and SIGTERM stop after the current step with a checkpoint, exit 130 and one clear line; --resume finishes identically', async () => {
    const stopped = await Promise.all([
      runAndStop(join(root, 'sigint'), 30, 'SIGINT'),
      runAndStop(join(root, 'sigterm'), 60, 'SIGTERM'),
    ]);
    expect(EXIT_CODES.interrupted).toBe(130);
    for (const [s, name, after] of [
      [stopped[0], 'SIGINT', 30],
      [stopped[1], 'SIGTERM', 60],
    ] as const) {
      expect(s.code, s.stderr).toBe(130);
      expect(s.stderr).toContain(
        `bayescomp: ${name} received: stopping after the current step and writing a checkpoint`,
      );
      const lines = s.stderr.trimEnd().split('\n');
      expect(lines[lines.length - 1]).toMatch(
        new RegExp(
          `^bayescomp: training stopped by ${name}; checkpoint at epoch [1-3], step \\d+ in .*: continue with the same command plus --resume$`,
        ),
      );
      expect(s.stderr).not.toMatch(/^\s+at /m);
      const step = await checkpointStep(s.out);
      expect(step).toBeGreaterThan(after);
      expect(step).toBeLessThan(TOTAL_STEPS);
      const run = JSON.parse(await readFile(join(s.out, 'run.json'), 'utf8')) as { status: string };
      expect(run.status).toBe('interrupted');
      expect(await exists(join(s.out, 'model'))).toBe(false);

      const resumed = await runCliCaptured([...trainArgs(s.out), '--resume']);
      expect(resumed.code).toBe(0);
      expect((await readFile(join(s.out, 'model', 'weights.bin'))).equals(straightWeights)).toBe(true);
    }
  }, 400_000);

  it('half-written run directories are reported by eval, prune, report and --resume', async () => {
    // A run directory with only run.json (killed before its first checkpoint).
    const bare = join(root, 'bare');
    await mkdir(bare);
    await cp(join(root, 'straight', 'run.json'), join(bare, 'run.json'));
    const run = JSON.parse(await readFile(join(bare, 'run.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(bare, 'run.json'), JSON.stringify({ ...run, status: 'running' }));
    for (const args of [
      ['eval', '--model', bare, '--data', data],
      ['prune', bare, '--out', join(root, 'pruned')],
      ['report', bare, '--out', join(root, 'report')],
    ]) {
      const r = await runCliCaptured(args);
      expect(r.code, r.err).toBe(EXIT_CODES['not-found']);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
      expect(r.err).toContain(
        `bayescomp: ${bare} is an unfinished run directory (its run.json says 'running', it has no model/model.json, no checkpoint); train it again into a new directory`,
      );
    }
    expect(await exists(join(root, 'pruned'))).toBe(false);
    const fresh = await runCliCaptured([...trainArgs(bare), '--resume']);
    expect(fresh.code).toBe(0);
    expect(fresh.err).toContain(`bayescomp: nothing to resume in ${bare} (`);
    expect(fresh.err).toContain('starting the run from the beginning');
    expect((await readFile(join(bare, 'model', 'weights.bin'))).equals(straightWeights)).toBe(true);

    // A killed run: eval names its checkpoint and the command that continues it.
    const source = killed.find((k) => k.stoppedMidRun)!;
    const half = join(root, 'half');
    await cp(source.out, half, { recursive: true });
    await rm(join(half, 'model'), { recursive: true, force: true });
    const step = (await checkpointStep(half))!;
    const evaluated = await runCliCaptured(['eval', '--model', half, '--data', data]);
    expect(evaluated.code).toBe(EXIT_CODES['not-found']);
    expect(evaluated.err).toMatch(
      /unfinished run directory \(its run\.json says '(running|finished)', it has no model\/model\.json, a checkpoint from (epoch [1-3], step \d+|the end of epoch [1-3])\); continue it with `bayescomp train --resume --out /,
    );

    // A temporary file of an interrupted atomic write is removed and reported; the run continues identically.
    const leftover = join(root, 'leftover');
    await cp(half, leftover, { recursive: true });
    await writeFile(join(leftover, '.checkpoint.json.4242.deadbeef.tmp'), '{"format":');
    const cleaned = await runCliCaptured([...trainArgs(leftover), '--resume']);
    expect(cleaned.code).toBe(0);
    expect(cleaned.err).toContain(
      `bayescomp: removed 1 temporary file(s) of an interrupted write in ${leftover}`,
    );
    expect((await readdir(leftover)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await readFile(join(leftover, 'model', 'weights.bin'))).equals(straightWeights)).toBe(true);

    // A truncated checkpoint: --resume refuses it with the byte counts, eval says the checkpoint is damaged.
    const damaged = join(root, 'damaged');
    await cp(half, damaged, { recursive: true });
    const bin = (await readdir(damaged)).find((f) => /^checkpoint-.*\.bin$/.test(f))!;
    const size = (await stat(join(damaged, bin))).size;
    await truncate(join(damaged, bin), size - 4);
    const refused = await runCliCaptured([...trainArgs(damaged), '--resume']);
    expect(refused.code).toBe(EXIT_CODES['bad-format']);
    expect(refused.err.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.err).toContain(`cannot resume ${damaged}: its run.json says`);
    expect(refused.err).toContain(
      `a damaged checkpoint (${join(damaged, bin)}: holds ${size - 4} bytes, the checkpoint declares ${size})`,
    );
    expect(await exists(join(damaged, 'model'))).toBe(false);
    const evalDamaged = await runCliCaptured(['eval', '--model', damaged, '--data', data]);
    expect(evalDamaged.code).toBe(EXIT_CODES['not-found']);
    expect(evalDamaged.err).toMatch(/a damaged checkpoint .*; train it again into a new directory/);
    expect(step).toBeGreaterThan(0);
  }, 300_000);
});
