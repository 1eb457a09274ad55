import type { CliIo } from './io.js';
import { runCli } from './program.js';

/** Runs the CLI in-process with captured output, for tests. */
export async function runCliCaptured(
  args: readonly string[],
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => void (out += s), err: (s) => void (err += s), isTty: false };
  const code = await runCli(['node', 'bayescomp', ...args], io);
  return { code, out, err };
}
