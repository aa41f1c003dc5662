/**
 * The order items are issued in. Every run shuffles its documents with a recorded seed before the schedule
 * is built (MLPerf does the same), so a backend cannot key answers on an item's position, and a length-sorting
 * schedule keeps the shuffled order among requests of equal length (ties break by request id, which follows
 * the shuffled order).
 */
import { randomInt } from 'node:crypto';
import { OptibenchError } from './errors.js';
import { seededPermutation } from './random.js';

/** Seeds are 32-bit: the generator's state is, so larger seeds would repeat smaller ones' orders. */
export const MAX_SHUFFLE_SEED = 2 ** 32 - 1;

export function randomShuffleSeed(): number {
  return randomInt(0, MAX_SHUFFLE_SEED + 1);
}

export function checkShuffleSeed(seed: number): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SHUFFLE_SEED) {
    throw new OptibenchError(`expected an integer from 0 to ${MAX_SHUFFLE_SEED}, got ${String(seed)}`, { key: 'shuffleSeed' });
  }
  return seed;
}

export function shuffleItems<T>(items: readonly T[], seed: number): T[] {
  return seededPermutation(items.length, checkShuffleSeed(seed)).map((i) => items[i]!);
}
