/**
 * The uncertainty comparison of issue 6: evaluates run directories of any method (`bayescomp train --method map |
 * ensemble | mc-dropout | gaussian | sparse-vd | …`) and Laplace directories (`bayescomp laplace`) on one test set
 * with one out-of-distribution set, through the same code as `bayescomp eval`, and prints a markdown table (accuracy,
 * NLL, ECE with 15 bins, Brier, OOD AUROC from max-probability, entropy and — for Monte-Carlo predictives — mutual
 * information, training seconds from each run's `run.json`, seconds to predict the test set) followed by the same
 * figures as one JSON object.
 *
 *   npx tsx bench/uncertainty-table.ts MAP=runs/map "ensemble (5)=runs/ens" "MC dropout=runs/mcd" \
 *       --data fashion-mnist --ood-dir /work/shared/data/mnist-t10k --samples 30 [--seed 0] [--batch-size 256] \
 *       [--backend wasm] [--json-out table.json]
 *
 * `--ood` (a dataset name or directory) is accepted as well as `--ood-dir`. Progress goes to stderr.
 */
import { writeFile } from 'node:fs/promises';
import { initBackend, type BackendName } from '../src/runtime/backend.js';
import {
  parseUncertaintyTableEntry,
  uncertaintyTable,
  uncertaintyTableMarkdown,
} from '../src/cli/uncertainty-table.js';
import { BayescompError } from '../src/util/errors.js';

const VALUE_FLAGS = new Set([
  'data',
  'ood-dir',
  'ood',
  'samples',
  'seed',
  'batch-size',
  'backend',
  'json-out',
]);

function parseArgs(argv: readonly string[]): { flags: Map<string, string>; entries: string[] } {
  const flags = new Map<string, string>();
  const entries: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const name = arg.slice(2);
      if (!VALUE_FLAGS.has(name) || i + 1 >= argv.length)
        throw new BayescompError('bad-config', `unknown option or missing value: ${arg}`);
      flags.set(name, argv[++i]);
    } else entries.push(arg);
  }
  return { flags, entries };
}

async function main(): Promise<void> {
  const { flags, entries } = parseArgs(process.argv.slice(2));
  const data = flags.get('data');
  if (!data) throw new BayescompError('bad-config', 'missing --data (a dataset name or IDX directory)');
  await initBackend({ backend: flags.get('backend') as BackendName | undefined });
  const number = (name: string, fallback: number) => {
    const v = Number(flags.get(name) ?? fallback);
    if (!Number.isInteger(v) || v < 0) throw new BayescompError('bad-config', `--${name} must be an integer`);
    return v;
  };
  const table = await uncertaintyTable(entries.map(parseUncertaintyTableEntry), {
    data,
    ood: flags.get('ood-dir') ?? flags.get('ood'),
    samples: number('samples', 30),
    seed: number('seed', 0),
    batchSize: flags.has('batch-size') ? number('batch-size', 256) : undefined,
    onRow: (r) =>
      process.stderr.write(`${r.label}: ${r.method}, accuracy ${(100 * r.accuracy).toFixed(2)}%\n`),
  });
  process.stdout.write(uncertaintyTableMarkdown(table));
  process.stdout.write('\n' + JSON.stringify(table, null, 2) + '\n');
  const jsonOut = flags.get('json-out');
  if (jsonOut) await writeFile(jsonOut, JSON.stringify(table, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(
    `uncertainty-table: ${err instanceof BayescompError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
