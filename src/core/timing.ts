/**
 * Summaries of repeated measurements. The runner reads the clock; backends never do.
 */
export interface RepeatStats {
  repeats: number[];
  /** Null when nothing was measured (a run that failed before its first repeat finished). */
  medianMs: number | null;
  minMs: number | null;
  maxMs: number | null;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function repeatStats(repeats: readonly number[]): RepeatStats {
  if (repeats.length === 0) return { repeats: [], medianMs: null, minMs: null, maxMs: null };
  return { repeats: [...repeats], medianMs: median(repeats), minMs: Math.min(...repeats), maxMs: Math.max(...repeats) };
}
