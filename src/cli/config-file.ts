import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { BayescompError } from '../util/errors.js';

/**
 * Merges a JSON config file into a command's options: `--config run.json` holding `{"epochs": 20, "batchSize":
 * 100}` is the same as `--epochs 20 --batch-size 100`. Keys are the options' camelCase names; flags given on the
 * command line win over the file, and the file wins over defaults.
 */
export async function applyConfigFile<T extends object>(command: Command, options: T): Promise<T> {
  const path = (options as Record<string, unknown>).config;
  if (typeof path !== 'string') return options;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BayescompError('not-found', 'config file not found', { file: path });
    throw new BayescompError('bad-format', `config file is not valid JSON (${(err as Error).message})`, {
      file: path,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BayescompError('bad-format', 'config file must hold a JSON object of option names to values', {
      file: path,
    });
  }
  const known = new Set(command.options.map((o) => o.attributeName()));
  const merged: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const [key, value] of Object.entries(parsed)) {
    if (!known.has(key)) {
      throw new BayescompError(
        'bad-config',
        `config file sets unknown option '${key}' for '${command.name()}'`,
        { file: path },
      );
    }
    const source = command.getOptionValueSource(key);
    if (source === 'cli' || source === 'env') continue;
    merged[key] = value;
  }
  return merged as T;
}

/**
 * Checks that options required by a command were given by a flag or the config file (commander's own
 * `requiredOption` would reject them before the config file is read).
 */
export function requireOptions<T extends object>(options: T, names: readonly (keyof T & string)[]): void {
  const missing = names.filter((n) => options[n] === undefined);
  if (missing.length) {
    const flags = missing.map((n) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    throw new BayescompError(
      'bad-config',
      `missing required option${missing.length > 1 ? 's' : ''} ${flags.join(', ')}`,
    );
  }
}
