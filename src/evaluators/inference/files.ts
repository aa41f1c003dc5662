/** The evaluators' JSON files, written atomically, and links between their reports. */
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';

export function writeJsonAtomic(target: string, value: unknown): Promise<string> {
  return writeFileAtomic(target, `${JSON.stringify(value, null, 1)}\n`);
}

/** A link from one report to another file, relative so a copied or archived folder keeps working. */
export function relativeLink(fromDir: string, target: string): string {
  return path.relative(fromDir, target).split(path.sep).join('/');
}
