/**
 * Paths into ../shared (beside the repository): real data that tests read but never copy. Tests that use
 * it fail loudly, not skip, when it is missing.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED_DIR = path.resolve(REPO_ROOT, '..', 'shared');

export function sharedFile(relative: string): string {
  const file = path.join(SHARED_DIR, relative);
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: the tests need ../shared beside the repository (see ../shared/README.md)`);
  }
  return file;
}

export const HELLASWAG_FULL = 'data/hellaswag/hellaswag_val_full.txt.bz2';
export const LLAMA_TOKENIZER_MODEL = 'models/llama-tokenizer/tokenizer.model';
