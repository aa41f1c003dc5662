/**
 * `--limit N`: a deterministic subset of a task's documents, the same for every task. The documents are
 * chosen by a seeded Fisher-Yates permutation of all indices and kept in dataset order; taking a prefix of
 * one permutation makes the subset for N a subset of the one for N + 1 (same seed), so growing a quick run
 * keeps the items already looked at.
 */
import { OptibenchError } from './errors.js';
import { seededPermutation } from './random.js';

export function selectSubset<T>(docs: readonly T[], limit: number | null | undefined, seed: number): T[] {
  if (limit !== null && limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new OptibenchError(`expected a positive integer, got ${String(limit)}`, { key: 'limit' });
  }
  if (!Number.isSafeInteger(seed)) throw new OptibenchError(`expected an integer, got ${String(seed)}`, { key: 'seed' });
  if (limit === null || limit === undefined || limit >= docs.length) return [...docs];
  return seededPermutation(docs.length, seed)
    .slice(0, limit)
    .sort((a, b) => a - b)
    .map((i) => docs[i]!);
}
