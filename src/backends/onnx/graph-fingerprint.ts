/**
 * What a cached graph's files looked like when they were built, so a later load can tell a damaged entry
 * (a weights file overwritten, truncated, zero-filled by a crashed disk) from a good one before ONNX Runtime
 * silently computes wrong log-likelihoods from it.
 *
 * A full SHA-256 of a large model's external data costs seconds per load (1.5 s for the 405 MiB medium model,
 * minutes for tens of GiB), so every load checks the size and a sampled hash (64 blocks of 64 KiB at offsets
 * fixed by the file's size: a few MiB read whatever the model), and the full hash is recomputed only when the
 * file's mtime moved since the build, i.e. when something wrote to it. A same-size overwrite that restores the
 * mtime is still caught by the sample unless it misses all 64 blocks.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createRandom } from '../../core/random.js';

const BLOCK = 64 * 1024;
const BLOCKS = 64;

export interface FileFingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  /** SHA-256 of the sampled blocks (the whole file when it is at most BLOCKS blocks long). */
  readonly sampledSha256: string;
  readonly sha256: string;
}

export type GraphFingerprint = { readonly [file: string]: FileFingerprint };

/** Block offsets for a file of `size` bytes: the first and last block always, the rest seeded by the size. */
export function sampleOffsets(size: number): number[] {
  const blocks = Math.ceil(size / BLOCK);
  if (blocks <= BLOCKS) return Array.from({ length: blocks }, (_, i) => i * BLOCK);
  const random = createRandom(size % 0x1_0000_0000 ^ Math.floor(size / 0x1_0000_0000));
  const chosen = new Set<number>([0, blocks - 1]);
  while (chosen.size < BLOCKS) chosen.add(Math.floor(random() * blocks));
  return [...chosen].sort((a, b) => a - b).map((b) => b * BLOCK);
}

export async function sampledSha256(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(BLOCK);
    for (const offset of sampleOffsets(size)) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(BLOCK, size - offset), offset);
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

export async function fullSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every file of a freshly built graph folder except `skip` (the marker written after it). */
export async function fingerprintGraph(dir: string, skip: string): Promise<GraphFingerprint> {
  const result: { [file: string]: FileFingerprint } = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name === skip) continue;
    const file = path.join(dir, name);
    const info = await stat(file);
    if (!info.isFile()) continue;
    result[name] = { size: info.size, mtimeMs: info.mtimeMs, sampledSha256: await sampledSha256(file, info.size), sha256: await fullSha256(file) };
  }
  return result;
}

/** Why the folder no longer matches its fingerprint, or null when it does. */
export async function fingerprintMismatch(dir: string, fingerprint: GraphFingerprint): Promise<string | null> {
  for (const [name, expected] of Object.entries(fingerprint)) {
    const file = path.join(dir, name);
    let info;
    try {
      info = await stat(file);
    } catch {
      return `${name} is missing`;
    }
    if (info.size !== expected.size) return `${name} is ${info.size} bytes, ${expected.size} when built`;
    if ((await sampledSha256(file, info.size)) !== expected.sampledSha256) return `${name}'s content differs from what was built (sampled hash)`;
    // Written to since the build: the sample may have missed the change, so check every byte.
    if (info.mtimeMs !== expected.mtimeMs && (await fullSha256(file)) !== expected.sha256) return `${name}'s content differs from what was built (modified after the build)`;
  }
  return null;
}
