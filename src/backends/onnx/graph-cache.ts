/**
 * Built ONNX graphs are cached by what determines them: the weights' hash, the model config, the build
 * settings (which plugins change) and the builder's version. An entry is built in a temporary directory and
 * renamed into place, so a build killed half-way never looks complete.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildSettings, JsonValue } from '../../core/backend.js';
import { canonicalJson } from '../../core/canonical-json.js';

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
): Promise<CachedGraph> {
  const dir = path.join(cacheDir, 'onnx', key.slice(0, 24));
  const marker = path.join(dir, 'build.json');
  try {
    await access(marker);
    const facts = (JSON.parse(await readFile(marker, 'utf8')) as { facts: { [key: string]: JsonValue } }).facts;
    return { modelFile: path.join(dir, 'model.onnx'), key, hit: true, facts };
  } catch {
    // Not cached (or damaged): build it.
  }
  const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(temp, { recursive: true });
  try {
    const built = await buildInto(temp);
    await writeFile(path.join(temp, 'build.json'), `${JSON.stringify({ key, facts: built.facts }, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(temp, dir);
    return { modelFile: path.join(dir, path.basename(built.modelFile)), key, hit: false, facts: built.facts };
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
