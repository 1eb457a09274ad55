import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BayescompError, EXIT_CODES } from '../util/errors.js';
import { type BackendName, initBackend } from '../runtime/backend.js';
import { parseWasmThreads } from '../runtime/wasmThreads.js';
import { registerInfo } from './commands/info.js';
import { registerTrain } from './commands/train.js';
import { registerEval } from './commands/eval.js';
import { registerLaplace } from './commands/laplace.js';
import { registerCompress } from './commands/compress.js';
import { registerReport } from './commands/report.js';
import { registerDemo } from './commands/demo.js';
import { type CliIo, processIo } from './io.js';
import { packageVersion } from './version.js';

/** Exit status for command-line usage errors (unknown option, missing argument). */
export const EXIT_USAGE = 2;
/** Exit status for unexpected failures (a bug: the message asks for a report). */
export const EXIT_INTERNAL = 1;

/** Builds the `bayescomp` command tree writing to `io`. */
export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('bayescomp')
    .description(
      'Bayesian neural networks for TensorFlow.js: variational inference, Laplace, uncertainty, compression',
    )
    .version(packageVersion())
    .addOption(
      new Option('--backend <name>', 'TF.js backend (default: tensorflow if installed, else wasm, else cpu)')
        .choices(['auto', 'tensorflow', 'wasm', 'cpu'])
        .env('BAYESCOMP_BACKEND'),
    )
    .addOption(
      new Option('--threads <n>', "wasm backend threads: a count or 'auto' (default 1)").env(
        'BAYESCOMP_THREADS',
      ),
    )
    // Commands start the backend themselves; with --threads it is started first, so theirs finds it running.
    .hook('preAction', async () => {
      const { backend, threads } = program.opts<{ backend?: BackendName | 'auto'; threads?: string }>();
      if (threads !== undefined)
        await initBackend({ backend, threads: parseWasmThreads(threads, '--threads') });
    })
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();
  registerInfo(program, io);
  registerTrain(program, io);
  registerEval(program, io);
  registerLaplace(program, io);
  registerCompress(program, io);
  registerReport(program, io);
  registerDemo(program, io);
  return program;
}

/**
 * Runs the CLI on `argv` (as in `process.argv`) and resolves to the exit status instead of exiting, so tests can run
 * it in-process. Errors the user can act on print as one line `bayescomp: <message>`.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  const out = await newOutputDirectory(argv);
  try {
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (err) {
    if (out && !(err instanceof BayescompError && KEEP_OUTPUT_ON.has(err.code))) {
      // The command made this directory and failed: leave no partial outputs behind.
      await rm(out, { recursive: true, force: true }).catch(() => undefined);
    }
    // Commander prints its own parse errors before throwing a plain CommanderError; an InvalidArgumentError that
    // reaches here came from a command's own code (e.g. a config file's value) and has not been printed yet.
    if (err instanceof InvalidArgumentError) {
      io.err(`bayescomp: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
        ? 0
        : EXIT_USAGE;
    }
    if (err instanceof BayescompError) {
      io.err(`bayescomp: ${err.message}\n`);
      return EXIT_CODES[err.code];
    }
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.err(`bayescomp: internal error (please report it): ${message}\n`);
    return EXIT_INTERNAL;
  }
}

/** Failures whose output directory is worth keeping: a diverged or interrupted run holds a checkpoint to resume from. */
const KEEP_OUTPUT_ON: ReadonlySet<string> = new Set(['diverged', 'interrupted']);

/** The `--out` directory of `argv` when it does not exist yet (so a failure may remove it), else undefined. */
async function newOutputDirectory(argv: readonly string[]): Promise<string | undefined> {
  let out: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === '--out' && i + 1 < argv.length) out = argv[i + 1];
    else if (arg.startsWith('--out=')) out = arg.slice('--out='.length);
  });
  if (!out) return undefined;
  const exists = await stat(out).then(
    () => true,
    () => false,
  );
  return exists ? undefined : resolve(out);
}
