/**
 * Where the CLI writes. Results go to `out` (stdout): with `--json`, exactly one JSON object. Progress, logs and
 * errors go to `err` (stderr), so a script can pipe stdout into a JSON parser.
 */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is an interactive terminal (progress bars instead of plain lines). */
  readonly isTty: boolean;
}

/** The process's own stdout/stderr. */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  isTty: Boolean(process.stderr.isTTY),
};

/** Prints one JSON object on stdout (the `--json` contract). */
export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2) + '\n');
}

/** Prints an aligned two-column table of label/value pairs on stdout. */
export function printTable(io: CliIo, rows: ReadonlyArray<readonly [string, string | number]>): void {
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  for (const [k, v] of rows) io.out(`${k.padEnd(width)}  ${v}\n`);
}
