/**
 * Built ONNX graphs are cached by what determines them: the weights' hash, the model config, the build
 * settings (which plugins change) and the builder's version. An entry is built in a temporary directory and
 * renamed into place, so a build killed half-way never looks complete. Its files' fingerprint is recorded in
 * the marker and checked on every hit (graph-fingerprint.ts): a damaged entry is rebuilt, not used.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildSettings, JsonValue } from '../../core/backend.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { fingerprintGraph, fingerprintMismatch, type GraphFingerprint } from './graph-fingerprint.js';

export interface CachedGraph {
  readonly modelFile: string;
  readonly key: string;
  readonly hit: boolean;
  readonly facts: { [key: string]: JsonValue };
}

export function graphCacheKey(parts: { builderVersion: number; weightsSha256: string; modelConfig: unknown; build: BuildSettings }): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex');
}

export async function cachedGraph(
  cacheDir: string,
  key: string,
  buildInto: (dir: string) => Promise<{ modelFile: string; facts: { [key: string]: JsonValue } }>,
  /** Told why a cached entry is rebuilt rather than used. */
  onRebuild?: (reason: string) => void,
): Promise<CachedGraph> {
  const dir = path.join(cacheDir, 'onnx', key.slice(0, 24));
  const marker = path.join(dir, 'build.json');
  let found = false;
  try {
    await access(marker);
    found = true;
    const recorded = JSON.parse(await readFile(marker, 'utf8')) as { facts: { [key: string]: JsonValue }; files?: GraphFingerprint };
    // An entry from before fingerprints cannot be checked: rebuilt once rather than trusted.
    const mismatch = recorded.files ? await fingerprintMismatch(dir, recorded.files) : 'it was built without a fingerprint to check it against';
    if (mismatch === null) return { modelFile: path.join(dir, 'model.onnx'), key, hit: true, facts: recorded.facts };
    onRebuild?.(`the cached graph in ${dir} cannot be used (${mismatch}): rebuilding it`);
  } catch (error) {
    // No marker: not cached. An unreadable one: damaged, so rebuilt like any other damage.
    if (found) onRebuild?.(`the cached graph in ${dir} is unreadable (${(error as Error).message}): rebuilding it`);
  }
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(temp, { recursive: true });
  try {
    const built = await buildInto(temp);
    const files = await fingerprintGraph(temp, 'build.json');
    await writeFile(path.join(temp, 'build.json'), `${JSON.stringify({ key, facts: built.facts, files }, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(temp, dir);
    return { modelFile: path.join(dir, path.basename(built.modelFile)), key, hit: false, facts: built.facts };
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
