import type { Command } from 'commander';
import { initBackend, type BackendInfo, type BackendName } from '../runtime/backend.js';

/** Adds the dataset-lookup options every data-reading command shares: `--data-dir`, `--no-download`. */
export function withDataOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'directory to look for datasets in first')
    .option('--no-download', 'never download a missing dataset');
}

/** Adds `--json` and `--config` (a JSON file of option values; flags override it). */
export function withOutputOptions(command: Command, config = true): Command {
  command.option('--json', 'print one JSON object');
  return config
    ? command.option('--config <file>', 'JSON file of option values (flags override it)')
    : command;
}

/** Starts the backend chosen by the global `--backend` option (or `$BAYESCOMP_BACKEND`, or automatically). */
export function startBackend(program: Command): Promise<BackendInfo> {
  return initBackend({ backend: program.opts<{ backend?: BackendName | 'auto' }>().backend });
}
