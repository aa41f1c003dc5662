/**
 * Canonical JSON, the one optibench uses wherever JSON is hashed: object keys sorted at every level (by UTF-16
 * code units, as Python's `sort_keys` does for these keys), no whitespace, values as JSON.stringify writes them
 * (undefined members dropped). Two configs that mean the same thing serialize to the same text whatever order
 * their keys were written in, so their sha256 identifies what a run used (results, the results database), and
 * equal build settings give equal graph-cache keys.
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

export function canonicalSha256(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}

/**
 * The identity of a run config: the sha256 of its canonical JSON without `outputDir` and `cacheDir`, which say
 * where a run writes, not what it runs. The same config run into another folder or on another machine's cache
 * has the same identity.
 */
export function configSha256(config: object): string {
  const { outputDir: _outputDir, cacheDir: _cacheDir, ...identity } = config as Record<string, unknown>;
  return canonicalSha256(identity);
}
