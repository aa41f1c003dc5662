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

/**
 * A latency distribution as optimum-benchmark reports one (its `Latency.from_values`): count, total, mean,
 * percentiles by linear interpolation between closest ranks (numpy's default `np.percentile`), and the
 * population standard deviation (`np.std`, ddof 0), also as a percentage of the mean. Null for no values.
 */
export interface LatencySummary {
  count: number;
  totalMs: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  stdevMs: number;
  stdevPercent: number;
}

/** The q-th percentile (0..100) of `sorted` (ascending), interpolated linearly between closest ranks. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (rank - lo) * (sorted[hi]! - sorted[lo]!);
}

export function latencySummary(values: readonly number[]): LatencySummary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const total = values.reduce((sum, v) => sum + v, 0);
  const mean = total / values.length;
  // optimum-benchmark reports a stdev of 0 for a single value rather than NaN.
  const stdev = values.length > 1 ? Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length) : 0;
  return {
    count: values.length,
    totalMs: total,
    meanMs: mean,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    stdevMs: stdev,
    stdevPercent: mean !== 0 ? (stdev / Math.abs(mean)) * 100 : 0,
  };
}
