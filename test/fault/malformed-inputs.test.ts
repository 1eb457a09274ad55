import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliCaptured } from '../../src/cli/test-utils.js';
import { loadCsvDataset } from '../../src/data/csv.js';
import { readIdxFile } from '../../src/data/idx-file.js';
import { loadImageDataset } from '../../src/data/image-datasets.js';
import { loadModel, readModelArtifacts, saveModel } from '../../src/models/file-io.js';
import { mlp } from '../../src/models/zoo.js';
import { initBackend } from '../../src/runtime/backend.js';
import { BayescompError } from '../../src/util/errors.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import {
  checkpointCases,
  type FaultCase,
  IDX_NAMES,
  csvCases,
  idxCases,
  materialize,
  modelCases,
  type ModelBase,
  validIdxFiles,
} from './generate.js';

/**
 * The fault suite: every generated malformed input goes through every loader (library functions) and every CLI
 * command that reads it. Each must load as valid or fail with a one-line `BayescompError` (CLI: exit ≠ 0, one
 * `bayescomp: …` line, no stack trace, no output directory left behind) — never an uncaught error, a hang (> 10 s) or
 * partial outputs. Inputs that are certainly invalid (`mustFail`) must be refused.
 */

const CASE_TIMEOUT_MS = 10_000;

type Outcome = 'loaded' | 'refused' | 'crash' | 'hang' | 'accepted-bad' | 'left-files';

interface Tally {
  checks: number;
  loaded: number;
  refused: number;
  problems: string[];
}

const tally: Tally = { checks: 0, loaded: 0, refused: 0, problems: [] };
const inputs = new Set<string>();
let root: string;
let validData: string;
let baseModelDir: string;
let outCounter = 0;
/** A finished one-epoch run of the base model on the valid data (its checkpoint is what the checkpoint cases damage). */
let trainedRun: string;

async function withTimeout<T>(work: Promise<T>): Promise<T | 'hang'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hang'>(
    (resolve) => (timer = setTimeout(() => resolve('hang'), CASE_TIMEOUT_MS)),
  );
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function record(c: FaultCase, check: string, outcome: Outcome, detail = ''): void {
  inputs.add(c.id);
  tally.checks++;
  if (outcome === 'loaded') tally.loaded++;
  else if (outcome === 'refused') tally.refused++;
  else tally.problems.push(`${c.id} via ${check}: ${outcome}${detail ? ` (${detail})` : ''}`);
}

/** Runs a library loader: it must resolve, or reject with a one-line BayescompError. */
async function checkLoader(
  c: FaultCase,
  name: string,
  load: () => Promise<unknown>,
  mustFail = c.mustFail,
): Promise<void> {
  const result = await withTimeout(
    load().then(
      () => ({ ok: true as const }),
      (err: unknown) => ({ ok: false as const, err }),
    ),
  );
  if (result === 'hang') return record(c, name, 'hang');
  if (result.ok) return record(c, name, mustFail ? 'accepted-bad' : 'loaded');
  const err = result.err;
  if (!(err instanceof BayescompError)) {
    return record(
      c,
      name,
      'crash',
      err instanceof Error ? `${err.name}: ${err.message.split('\n')[0]}` : String(err),
    );
  }
  if (err.message.includes('\n'))
    return record(c, name, 'crash', `multi-line message: ${JSON.stringify(err.message)}`);
  record(c, name, 'refused');
}

/** Runs a CLI command in-process: exit 0, or exit ∉ {0, 1} with a last stderr line `bayescomp: …` and no trace. */
async function checkCommand(
  c: FaultCase,
  name: string,
  args: readonly string[],
  out?: string,
): Promise<void> {
  const result = await withTimeout(runCliCaptured(args));
  if (result === 'hang') return record(c, name, 'hang');
  if (out && result.code === 0) await rm(out, { recursive: true, force: true });
  if (result.code === 0) return record(c, name, c.mustFail ? 'accepted-bad' : 'loaded');
  const lines = result.err.trimEnd().split('\n');
  const last = lines[lines.length - 1];
  if (result.code === 1 || /internal error/.test(result.err) || lines.some((l) => /^\s+at /.test(l))) {
    return record(c, name, 'crash', `exit ${result.code}: ${result.err.slice(0, 300)}`);
  }
  if (!last.startsWith('bayescomp: ')) return record(c, name, 'crash', `last stderr line: ${last}`);
  if (out) {
    const left = await readdir(out).catch(() => [] as string[]);
    if (left.length > 0) return record(c, name, 'left-files', `${out}: ${left.join(', ')}`);
  }
  record(c, name, 'refused');
}

function newOut(): string {
  return join(root, 'out', String(++outCounter));
}

async function readBase(dir: string): Promise<ModelBase> {
  const modelJson = await readFile(join(dir, 'model.json'), 'utf8');
  const paths = (JSON.parse(modelJson) as { weightsManifest: { paths: string[] }[] }).weightsManifest[0]
    .paths;
  const shards = await Promise.all(
    paths.map(async (p) => [p, new Uint8Array(await readFile(join(dir, p)))] as const),
  );
  return { modelJson, shards };
}

describe('fault suite: malformed IDX, CSV and model files through every loader and command', () => {
  const idx = idxCases();
  const csv = csvCases();
  let models: FaultCase[] = [];
  let checkpoints: FaultCase[] = [];

  beforeAll(async () => {
    await initBackend();
    root = await mkdtemp(join(tmpdir(), 'bayescomp-fault-'));
    await mkdir(join(root, 'out'));
    validData = join(root, 'valid-data');
    await mkdir(validData);
    const files = validIdxFiles();
    for (const key of Object.keys(IDX_NAMES) as (keyof typeof IDX_NAMES)[])
      await writeFile(join(validData, IDX_NAMES[key]), files[key]);
    // An 8-unit MLP for the 4×4 images of the valid dataset, saved whole and in 64-byte shards.
    const model = mlp({ inputShape: [4, 4, 1], hiddenUnits: [8], numClasses: 3, seed: 1 });
    baseModelDir = join(root, 'base-model');
    await saveModel(model, baseModelDir);
    const shardedDir = join(root, 'base-sharded');
    await saveModel(model, shardedDir, { shardSizeBytes: 64 });
    model.dispose();
    models = modelCases(await readBase(baseModelDir), await readBase(shardedDir));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('the unmutated inputs load and every command runs on them (the cases fail for their mutation only)', async () => {
    const data = await loadImageDataset(validData, { download: false });
    expect([data.train?.n, data.test?.n, data.numClasses]).toEqual([12, 6, 3]);
    const model = await loadModel(baseModelDir);
    expect(model.countParams()).toBe(16 * 8 + 8 + 8 * 3 + 3);
    model.dispose();
    const evaluated = await runCliCaptured(['eval', '--model', baseModelDir, '--data', validData, '--json']);
    expect(evaluated.err).toBe('');
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.out).n).toBe(6);
    const out = newOut();
    trainedRun = out;
    const trained = await runCliCaptured(trainArgs(join(baseModelDir, 'model.json'), validData, out));
    expect(trained.code).toBe(0);
    expect(await readdir(join(out, 'model'))).toEqual(['model.json', 'weights.bin']);
  });

  it(`IDX: ${idx.length} malformed datasets through readIdxFile, loadImageDataset and eval/train/laplace/prune`, async () => {
    for (const c of idx) {
      const dir = await materialize(join(root, 'cases'), c);
      for (const f of c.files) {
        if (f.directory) continue;
        await checkLoader(
          c,
          `readIdxFile(${f.path})`,
          () => readIdxFile(join(dir, f.path)),
          c.invalidFiles?.includes(f.path) ?? false,
        );
      }
      await checkLoader(c, 'loadImageDataset', () => loadImageDataset(dir, { download: false }));
      await checkCommand(c, 'eval', ['eval', '--model', baseModelDir, '--data', dir, '--samples', '2']);
      let out = newOut();
      await checkCommand(c, 'train', trainArgs(join(baseModelDir, 'model.json'), dir, out), out);
      out = newOut();
      await checkCommand(c, 'laplace', laplaceArgs(baseModelDir, dir, out), out);
      out = newOut();
      await checkCommand(
        c,
        'prune --data',
        ['prune', join(baseModelDir, 'model.json'), '--data', dir, '--out', out],
        out,
      );
    }
    expect(tally.problems).toEqual([]);
  });

  it(`CSV: ${csv.length} malformed files through loadCsvDataset`, async () => {
    for (const c of csv) {
      const dir = await materialize(join(root, 'cases'), c);
      const testFile = c.files.some((f) => f.path === 'test.csv') ? join(dir, 'test.csv') : undefined;
      await checkLoader(c, 'loadCsvDataset', () => loadCsvDataset(join(dir, 'train.csv'), { testFile }));
      await checkLoader(c, 'loadCsvDataset(regression, standardized)', () =>
        loadCsvDataset(join(dir, 'train.csv'), {
          testFile,
          task: 'regression',
          target: 0,
          standardize: true,
        }),
      );
    }
    expect(tally.problems).toEqual([]);
  });

  it('model files: every malformed model through readModelArtifacts, loadModel and eval/laplace/train/prune/quantize/export', async () => {
    expect(models.length).toBeGreaterThan(90);
    for (const c of models) {
      const dir = await materialize(join(root, 'cases'), c);
      const json = join(dir, 'model.json');
      await checkLoader(c, 'readModelArtifacts', () => readModelArtifacts(dir), c.mustFail && !c.buildLevel);
      await checkLoader(c, 'loadModel', async () => (await loadModel(dir)).dispose());
      await checkCommand(c, 'eval', ['eval', '--model', dir, '--data', validData, '--samples', '2']);
      let out = newOut();
      await checkCommand(c, 'laplace', laplaceArgs(dir, validData, out), out);
      out = newOut();
      await checkCommand(c, 'train --model', trainArgs(json, validData, out), out);
      for (const step of ['prune', 'quantize', 'export'] as const) {
        out = newOut();
        const extra = step === 'prune' ? [] : ['--method', 'uniform', '--bits', '4'];
        await checkCommand(
          c,
          step,
          [step, json, '--out', out, ...extra, ...(step === 'export' ? ['--format', 'tfjs'] : [])],
          out,
        );
      }
    }
    expect(tally.problems).toEqual([]);
  });

  it('checkpoints: damaged checkpoints of a run through readCheckpoint and train --resume', async () => {
    const checkpointJson = await readFile(join(trainedRun, 'checkpoint.json'), 'utf8');
    const binName = (JSON.parse(checkpointJson) as { weightsFile: string }).weightsFile;
    checkpoints = checkpointCases({
      runJson: await readFile(join(trainedRun, 'run.json'), 'utf8'),
      checkpointJson,
      binName,
      bin: new Uint8Array(await readFile(join(trainedRun, binName))),
    });
    for (const c of checkpoints) {
      const dir = await materialize(join(root, 'cases'), c);
      await checkLoader(c, 'readCheckpoint', () => readCheckpoint(dir), c.mustFail && !c.buildLevel);
      const before = (await readdir(dir)).sort();
      const args = [
        ...trainArgs(join(baseModelDir, 'model.json'), validData, dir),
        '--resume',
        '--epochs',
        '2',
      ];
      const result = await withTimeout(runCliCaptured(args));
      if (result === 'hang') {
        record(c, 'train --resume', 'hang');
        continue;
      }
      const lines = result.err.trimEnd().split('\n');
      if (result.code === 0) {
        record(c, 'train --resume', c.mustFail ? 'accepted-bad' : 'loaded');
      } else if (
        result.code === 1 ||
        lines.some((l) => /^\s+at /.test(l)) ||
        !lines[lines.length - 1].startsWith('bayescomp: ')
      ) {
        record(c, 'train --resume', 'crash', `exit ${result.code}: ${result.err.slice(0, 300)}`);
      } else {
        const after = (await readdir(dir)).sort();
        const added = after.filter((f) => !before.includes(f));
        record(c, 'train --resume', added.length ? 'left-files' : 'refused', added.join(', '));
      }
    }
    expect(tally.problems).toEqual([]);
  });

  it('a few real processes: exit ≠ 0 and exactly one stderr line, no stack trace', async () => {
    const picks = [
      {
        c: models.find((m) => m.id === 'model/path-dotdot')!,
        args: (d: string) => ['eval', '--model', d, '--data', validData],
      },
      {
        c: models.find((m) => m.id === 'model/topology-units-1e9')!,
        args: (d: string) => ['prune', join(d, 'model.json'), '--out', join(d, 'o')],
      },
      {
        c: idx.find((m) => m.id === 'idx/images/truncate@16/gz')!,
        args: (d: string) => ['eval', '--model', baseModelDir, '--data', d],
      },
    ];
    // Started together: each process pays TF.js and tsx start-up once.
    const results = await Promise.all(
      picks.map(async ({ c, args }) => {
        const dir = join(root, 'cases', c.id.replace(/[^\w.@+-]+/g, '_'));
        return { dir, ...(await runProcess(args(dir))) };
      }),
    );
    for (const { dir, code, stderr } of results) {
      expect(code, stderr).not.toBe(0);
      expect(code, stderr).not.toBe(1);
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^bayescomp: /);
      expect(
        await stat(join(dir, 'o')).then(
          () => true,
          () => false,
        ),
      ).toBe(false);
    }
  }, 300_000);

  it('prints the count: at least 200 bad inputs, none crashing, hanging, accepted when invalid or leaving files', () => {
    const total = inputs.size;
    console.log(`fault suite: ${total} bad inputs, ${tally.problems.length} crashes`);
    console.log(
      `fault suite: ${tally.checks} checks (${idx.length} IDX, ${csv.length} CSV, ${models.length} model, ` +
        `${checkpoints.length} checkpoint inputs): ` +
        `${tally.refused} refused with one line, ${tally.loaded} loaded as valid`,
    );
    expect(total).toBe(idx.length + csv.length + models.length + checkpoints.length);
    expect(total).toBeGreaterThanOrEqual(200);
    expect(tally.problems).toEqual([]);
  });
});

function trainArgs(model: string, data: string, out: string): string[] {
  return [
    'train',
    '--model',
    model,
    '--data',
    data,
    '--epochs',
    '1',
    '--batch-size',
    '4',
    '--progress',
    'none',
    '--out',
    out,
    '--eval-samples',
    '2',
  ];
}

function laplaceArgs(model: string, data: string, out: string): string[] {
  return [
    'laplace',
    '--model',
    model,
    '--data',
    data,
    '--hessian',
    'diag',
    '--optimize-prior',
    'none',
    '--samples',
    '2',
    '--out',
    out,
  ];
}

/** Runs `node --import tsx src/cli/main.ts …` (what `tsx src/cli/main.ts` runs, in one process). */
function runProcess(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: process.cwd(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
