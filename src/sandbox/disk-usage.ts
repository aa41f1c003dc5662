/** Bytes a directory tree occupies on disk (allocated blocks, so sparse files count as what they use). */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const pending = [dir];
  while (pending.length) {
    const current = pending.pop()!;
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      const full = path.join(current, entry.name);
      try {
        const stat = await lstat(full);
        total += stat.blocks * 512;
        if (entry.isDirectory()) pending.push(full);
      } catch {
        // Removed while walking.
      }
    }
  }
  return total;
}
