/**
 * Which documents a run scores. Three ways, one recorded in every result:
 *
 * - `seeded` (optibench's default for `--limit N`): a seeded Fisher-Yates permutation of all indices, the first
 *   N kept in dataset order. Taking a prefix of one permutation makes the subset for N a subset of the one for
 *   N + 1 (same seed), so growing a quick run keeps the items already looked at, and a subset spreads over
 *   the whole file (HellaSwag's file is grouped by source: the first items are all ActivityNet).
 * - `first` (lm-evaluation-harness's `--limit`): the first N documents of the file.
 * - `indices` (lm-evaluation-harness's `--samples`): exactly the listed dataset indices.
 *
 * A limit below 1 is a share of the dataset, rounded up as lm-eval's `get_sample_size` does.
 */
import { OptibenchError } from './errors.js';
import { seededPermutation } from './random.js';

export type LimitMode = 'seeded' | 'first';

export type DocSelection =
  | { readonly mode: 'seeded'; readonly limit: number | null; readonly seed: number }
  | { readonly mode: 'first'; readonly limit: number | null }
  | { readonly mode: 'indices'; readonly indices: readonly number[] };

/** A valid limit: a positive whole number of documents, or a share of them in (0, 1). */
export function isValidLimit(limit: number): boolean {
  return Number.isFinite(limit) && limit > 0 && (limit < 1 || Number.isSafeInteger(limit));
}

/** How many documents a limit means out of `total`: a share is `ceil(total * share)`, as lm-eval rounds it. */
export function limitCount(total: number, limit: number | null | undefined): number {
  if (limit === null || limit === undefined) return total;
  if (!isValidLimit(limit)) {
    throw new OptibenchError(`expected a positive integer or a fraction between 0 and 1, got ${String(limit)}`, { key: 'limit' });
  }
  return Math.min(total, limit < 1 ? Math.ceil(total * limit) : limit);
}

export function selectSubset<T>(docs: readonly T[], limit: number | null | undefined, seed: number): T[] {
  if (!Number.isSafeInteger(seed)) throw new OptibenchError(`expected an integer, got ${String(seed)}`, { key: 'seed' });
  const count = limitCount(docs.length, limit);
  if (count >= docs.length) return [...docs];
  return seededPermutation(docs.length, seed)
    .slice(0, count)
    .sort((a, b) => a - b)
    .map((i) => docs[i]!);
}

/** The documents a selection picks, in dataset order. Indices are positions in `docs` (the dataset file). */
export function selectDocs<T>(docs: readonly T[], selection: DocSelection): T[] {
  switch (selection.mode) {
    case 'seeded':
      return selectSubset(docs, selection.limit, selection.seed);
    case 'first':
      return docs.slice(0, limitCount(docs.length, selection.limit));
    case 'indices': {
      checkIndices(selection.indices);
      const outside = selection.indices.filter((i) => i >= docs.length);
      if (outside.length > 0) {
        throw new OptibenchError(
          `the dataset has ${docs.length} items (indices 0-${docs.length - 1}), so ${outside.length === 1 ? 'index' : 'indices'} ${formatIndexList(outside)} ${outside.length === 1 ? 'does' : 'do'} not exist`,
          { key: 'samples' },
        );
      }
      return [...selection.indices].sort((a, b) => a - b).map((i) => docs[i]!);
    }
  }
}

/** Refuses what an index list must not hold: negatives, non-integers, repeats (each is scored once). */
export function checkIndices(indices: readonly number[]): void {
  if (indices.length === 0) throw new OptibenchError('expected at least one item index', { key: 'samples' });
  const seen = new Set<number>();
  for (const i of indices) {
    if (!Number.isSafeInteger(i) || i < 0) throw new OptibenchError(`expected item indices >= 0, got ${String(i)}`, { key: 'samples' });
    if (seen.has(i)) throw new OptibenchError(`item index ${i} is listed twice`, { key: 'samples' });
    seen.add(i);
  }
}

/**
 * `0,5,7-9` -> [0, 5, 7, 8, 9]: comma-separated indices and inclusive ranges, sorted. The message of a bad list
 * names the part that is wrong.
 */
export function parseIndexList(text: string): number[] {
  const indices: number[] = [];
  const parts = text.split(',').map((part) => part.trim());
  for (const part of parts) {
    if (part === '') throw new OptibenchError(`expected indices like 0,5,7-9, got an empty entry in "${text}"`, { key: 'samples' });
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (range) {
      const from = Number(range[1]);
      const to = Number(range[2]);
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw new OptibenchError(`"${part}" is out of range`, { key: 'samples' });
      if (from > to) throw new OptibenchError(`the range "${part}" runs backwards (write ${to}-${from})`, { key: 'samples' });
      for (let i = from; i <= to; i++) indices.push(i);
    } else if (/^\d+$/.test(part)) {
      const i = Number(part);
      if (!Number.isSafeInteger(i)) throw new OptibenchError(`"${part}" is out of range`, { key: 'samples' });
      indices.push(i);
    } else {
      throw new OptibenchError(`expected an index (a whole number >= 0) or a range like 7-9, got "${part}"`, { key: 'samples' });
    }
  }
  checkIndices(indices);
  return indices.sort((a, b) => a - b);
}

/** Sorted indices written back compactly: [0, 5, 7, 8, 9] -> "0,5,7-9". */
export function formatIndexList(indices: readonly number[]): string {
  const sorted = [...indices].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : j === i + 1 ? `${sorted[i]},${sorted[j]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * One phrase for the run summary and the report: which items, and how they were chosen
 * ("12 of 40 items (seeded subset: limit 12, seed 1234)"). `count` formats the numbers (the report groups digits).
 */
export function describeSelection(selection: DocSelection, selected: number, total: number, count: (n: number) => string = String): string {
  const items = `${count(selected)} of ${count(total)} items`;
  switch (selection.mode) {
    case 'seeded':
      return selected >= total ? items : `${items} (seeded subset: limit ${selection.limit}, seed ${selection.seed})`;
    case 'first':
      return selected >= total ? items : `${items} (the first ones: limit ${selection.limit}, as lm-eval's --limit)`;
    case 'indices': {
      const list = formatIndexList(selection.indices);
      return `${items} (indices ${list.length > 60 ? `${list.slice(0, 57)}...` : list}, as lm-eval's --samples)`;
    }
  }
}
