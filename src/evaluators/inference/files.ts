/** Atomic writes for the evaluators' JSON and HTML files: a reader never sees half a file. */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

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

export function writeJsonAtomic(target: string, value: unknown): Promise<string> {
  return writeFileAtomic(target, `${JSON.stringify(value, null, 1)}\n`);
}

/** A link from one report to another file, relative so a copied or archived folder keeps working. */
export function relativeLink(fromDir: string, target: string): string {
  return path.relative(fromDir, target).split(path.sep).join('/');
}
