import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';

/**
 * Writes `data` to `path` so that readers see either the old file or the complete new one: the bytes go to a
 * temporary file in the same directory (same file system, so the rename is atomic), are flushed, then renamed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** {@link writeFileAtomic} for a JSON value, pretty-printed with a trailing newline. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * Writes several files into `dir` so that a crash leaves no half-written set: every file is written atomically, in
 * the given order, so list the file that makes the set usable (e.g. `model.json`) last.
 */
export async function writeFilesAtomic(
  dir: string,
  files: ReadonlyArray<readonly [name: string, data: string | Uint8Array]>,
): Promise<void> {
  for (const [name, data] of files) await writeFileAtomic(join(dir, name), data);
}
