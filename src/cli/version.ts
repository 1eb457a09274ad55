import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** The installed bayescomp version, read from the package's own package.json (works from `src/` and `dist/`). */
export function packageVersion(): string {
  if (cached === undefined) {
    const path = fileURLToPath(new URL('../../package.json', import.meta.url));
    cached = (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  }
  return cached;
}
