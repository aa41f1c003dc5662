/**
 * A run's output and cache folders are checked before anything is computed (core/output-dir.ts): a run that
 * cannot write its results must fail in its first second, not after the whole pass.
 */
import { defaultCacheDir } from '../../core/paths.js';
import { ensureWritableDir } from '../../core/output-dir.js';
import type { RunConfig } from './config.js';

export async function ensureRunFolders(configs: readonly RunConfig[]): Promise<void> {
  const seen = new Set<string>();
  for (const config of configs) {
    for (const [dir, flag] of [
      [config.outputDir, '--output'],
      [config.cacheDir ?? defaultCacheDir(), '--cache-dir'],
    ] as const) {
      if (seen.has(dir)) continue;
      seen.add(dir);
      await ensureWritableDir(dir, flag);
    }
  }
}
