import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Environment variables that steer where datasets are looked for (defaults to `process.env`). */
export type DataEnvironment = Readonly<Record<string, string | undefined>>;

/** Where to look for a named dataset; every field is optional and defaults to the real environment. */
export interface DatasetSearchOptions {
  /** A directory given explicitly (the CLI's `--data DIR`); searched first, as is `DIR/<name>`. */
  readonly dir?: string;
  /** Environment holding `BAYESCOMP_DATA`, `XDG_CACHE_HOME`, `HOME`. Default: `process.env`. */
  readonly env?: DataEnvironment;
  /** System-wide dataset roots holding `<name>/` folders. Default: `['/usr/share/datasets']` (Debian). */
  readonly systemDirs?: readonly string[];
  /** The user cache root; default `$XDG_CACHE_HOME/bayescomp` or `~/.cache/bayescomp`. */
  readonly cacheDir?: string;
}

/** A directory that may hold a dataset, with how it came to be searched (for error messages). */
export interface CandidateDir {
  readonly dir: string;
  readonly origin: 'explicit' | 'env' | 'cache' | 'system' | 'embedded';
}

/** Debian's `dataset-*` packages install here. */
export const SYSTEM_DATASET_DIRS: readonly string[] = ['/usr/share/datasets'];

/**
 * The package's own `data/` folder with the embedded subsets. Located from this module's URL: the module sits at
 * `src/data/` under tsx and at `dist/data/` when built, both two levels below the package root.
 */
export function embeddedDataDir(): string {
  return fileURLToPath(new URL('../../data/', import.meta.url));
}

/** The per-user cache root for downloaded datasets. */
export function userCacheDir(options: Pick<DatasetSearchOptions, 'env' | 'cacheDir'> = {}): string {
  if (options.cacheDir) return options.cacheDir;
  const env = options.env ?? process.env;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'bayescomp');
  return join(env.HOME || homedir(), '.cache', 'bayescomp');
}

/**
 * The directories searched for a downloadable dataset `name`, in order: the explicit directory (and its `<name>/`),
 * `$BAYESCOMP_DATA/<name>` and `$BAYESCOMP_DATA`, the user cache, then each system root's `<name>/`.
 */
export function datasetSearchDirs(name: string, options: DatasetSearchOptions = {}): CandidateDir[] {
  const env = options.env ?? process.env;
  const out: CandidateDir[] = [];
  if (options.dir) out.push({ dir: options.dir, origin: 'explicit' }, { dir: join(options.dir, name), origin: 'explicit' });
  if (env.BAYESCOMP_DATA) {
    out.push({ dir: join(env.BAYESCOMP_DATA, name), origin: 'env' }, { dir: env.BAYESCOMP_DATA, origin: 'env' });
  }
  out.push({ dir: join(userCacheDir(options), name), origin: 'cache' });
  for (const root of options.systemDirs ?? SYSTEM_DATASET_DIRS) out.push({ dir: join(root, name), origin: 'system' });
  return out;
}

/** The directories searched for an embedded dataset: an explicit directory first, then the package's `data/<name>`. */
export function embeddedSearchDirs(name: string, options: DatasetSearchOptions = {}): CandidateDir[] {
  const out: CandidateDir[] = [];
  if (options.dir) out.push({ dir: options.dir, origin: 'explicit' }, { dir: join(options.dir, name), origin: 'explicit' });
  out.push({ dir: join(embeddedDataDir(), name), origin: 'embedded' });
  return out;
}
