/**
 * Speedups from interleaved passes: in round k the baseline and a configuration ran back to back, so the
 * ratio baseline_k / config_k cancels whatever the machine was doing in that round. The speedup is the median
 * of the per-round ratios; its interval is a percentile bootstrap over rounds (resampled with replacement,
 * from a fixed seed, so the same passes always give the same interval).
 */
import { z } from 'zod';
import { createRandom } from '../../core/random.js';
import { median } from '../../core/timing.js';

export const BOOTSTRAP = {
  method: 'percentile bootstrap of the median of per-round ratios (rounds resampled with replacement, mulberry32)',
  resamples: 2000,
  seed: 20240613,
  level: 0.95,
} as const;

export const bootstrapSchema = z.object({ method: z.string(), resamples: z.number().int().positive(), seed: z.number().int(), level: z.number().gt(0).lt(1) });
export type BootstrapSettings = z.infer<typeof bootstrapSchema>;

export const intervalSchema = z.object({ low: z.number(), high: z.number() });
export type Interval = z.infer<typeof intervalSchema>;

/** baseline_k / config_k for every round both ran (rounds are matched by position). */
export function pairedRatios(baselineMs: readonly number[], configMs: readonly number[]): number[] {
  const n = Math.min(baselineMs.length, configMs.length);
  return Array.from({ length: n }, (_, k) => baselineMs[k]! / configMs[k]!);
}

/**
 * The `quantile` (0..1) of sorted values, linear between neighbours (type 7, numpy's and R's default).
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * The percentile-bootstrap interval of the median of `ratios`: `resamples` times, draw n rounds with
 * replacement (index = floor(u * n) with u from mulberry32(seed)) and take their median; the interval is the
 * (1 - level)/2 and (1 + level)/2 quantiles of those medians. Null with no ratio.
 */
export function bootstrapMedianInterval(ratios: readonly number[], settings: BootstrapSettings = BOOTSTRAP): Interval | null {
  const n = ratios.length;
  if (n === 0) return null;
  const random = createRandom(settings.seed);
  const medians: number[] = [];
  const sample = new Array<number>(n);
  for (let b = 0; b < settings.resamples; b++) {
    for (let j = 0; j < n; j++) sample[j] = ratios[Math.floor(random() * n)]!;
    medians.push(median(sample));
  }
  medians.sort((a, b) => a - b);
  return { low: quantile(medians, (1 - settings.level) / 2), high: quantile(medians, (1 + settings.level) / 2) };
}

/** Sample standard deviation (n - 1) over the mean; null with fewer than two values. */
export function coefficientOfVariation(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1);
  return Math.sqrt(variance) / mean;
}

export interface PairedSpeedup {
  /** Median of the per-round ratios. */
  readonly speedup: number;
  readonly ratios: number[];
  readonly interval: Interval | null;
}

export function pairedSpeedup(baselineMs: readonly number[], configMs: readonly number[], settings: BootstrapSettings = BOOTSTRAP): PairedSpeedup | null {
  const ratios = pairedRatios(baselineMs, configMs);
  if (ratios.length === 0) return null;
  return { speedup: median(ratios), ratios, interval: bootstrapMedianInterval(ratios, settings) };
}
