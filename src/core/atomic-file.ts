/** Atomic file writes: a temp file in the target's folder, then a rename, so a reader never sees half a file. */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes `text` to `target` (creating its folder) and returns `target`. */
export async function writeFileAtomic(target: string, text: string): Promise<string> {
  const dir = path.dirname(target);
  await mkdir(dir, { recursive: true });
  // Same directory as the target: rename is only atomic within one file system.
  const temp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, 'utf8');
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return target;
}
