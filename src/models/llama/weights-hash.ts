/**
 * The identity of a model's weights: sha256 over every weight file. Hashing 65 GB takes minutes, so each
 * file's digest is remembered in the cache, keyed by path, size, inode and modification time; any change
 * to the file changes one of those and forces a new hash.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

interface HashCacheEntry {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function readCache(cacheFile: string): Promise<Record<string, HashCacheEntry>> {
  try {
    return JSON.parse(await readFile(cacheFile, 'utf8')) as Record<string, HashCacheEntry>;
  } catch {
    // A missing or damaged cache only costs a re-hash.
    return {};
  }
}

export async function weightsSha256(files: readonly string[], cacheDir: string): Promise<string> {
  const cacheFile = path.join(cacheDir, 'weight-hashes.json');
  const cache = await readCache(cacheFile);
  let changed = false;
  const combined = createHash('sha256');
  for (const file of files) {
    const absolute = path.resolve(file);
    const info = await stat(absolute);
    let entry = cache[absolute];
    if (!entry || entry.size !== info.size || entry.mtimeMs !== info.mtimeMs || entry.ino !== info.ino) {
      entry = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, sha256: await sha256File(absolute) };
      cache[absolute] = entry;
      changed = true;
    }
    combined.update(`${path.basename(file)}\0${entry.sha256}\n`);
  }
  if (changed) {
    await mkdir(cacheDir, { recursive: true });
    const temp = `${cacheFile}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(cache, null, 1));
    await rename(temp, cacheFile);
  }
  return combined.digest('hex');
}
