/**
 * Is the machine the benchmark ran on busy? The MatMul peak sampled before, between and after the rounds,
 * the load average and the CPU time stolen by the hypervisor at each sample, and the rules that mark a
 * benchmark "noisy": any figure of peak above 100 % (the peak itself was measured while slowed), a peak that
 * moved by more than a tolerance (the machine changed under the runs), a configuration whose pass times
 * vary more than a threshold, or a 1-minute load average above the benchmark's own threads by more than a
 * margin (a steady load slows every sample alike, so the peak does not move: only the load shows it).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { z } from 'zod';

export const DEFAULT_NOISE = { peakTolerance: 0.15, maxCv: 0.1, maxLoadExcess: 1 } as const;
export const noiseThresholdsSchema = z.object({
  /** Largest allowed (highest - lowest) / highest of the peak samples. */
  peakTolerance: z.number().nonnegative(),
  /** Largest allowed coefficient of variation of a configuration's pass times. */
  maxCv: z.number().nonnegative(),
  /**
   * Largest allowed 1-minute load average at a peak sample beyond the benchmark's own threads (the runs take
   * turns, so their own load is about their thread count). Absent in files written before it (no such rule).
   */
  maxLoadExcess: z.number().nonnegative().optional(),
});
export type NoiseThresholds = z.infer<typeof noiseThresholdsSchema>;

export const peakSampleSchema = z.object({
  /** before the first round, between two rounds, or after the last. */
  at: z.enum(['before', 'between', 'after']),
  roundsDone: z.number().int().nonnegative(),
  time: z.string(),
  /** FLOPs over the fastest call's latency, as `peak`. */
  gflopsPerSecond: z.number(),
  p50GflopsPerSecond: z.number(),
  samples: z.number().int(),
  /** /proc/loadavg's 1, 5 and 15 minute averages when sampled; null where there is no /proc. */
  loadAverage: z.tuple([z.number(), z.number(), z.number()]).nullable(),
  /**
   * Share of all CPU time that was steal (/proc/stat) since the previous sample (for the first: since the
   * benchmark started); null where there is no /proc or no time passed.
   */
  stealShare: z.number().nullable(),
});
export type PeakSample = z.infer<typeof peakSampleSchema>;

export const noiseReasonSchema = z.object({
  rule: z.enum(['of-peak', 'peak-moved', 'cv', 'load']),
  /** The configuration the reason is about; null for the peak's own movement. */
  configuration: z.string().nullable(),
  value: z.number(),
  threshold: z.number(),
  message: z.string(),
});
export const noiseSchema = z.object({ noisy: z.boolean(), thresholds: noiseThresholdsSchema, reasons: z.array(noiseReasonSchema) });
export type Noise = z.infer<typeof noiseSchema>;
export type NoiseReason = z.infer<typeof noiseReasonSchema>;

/** The three load averages of /proc/loadavg ("0.52 0.58 0.59 1/467 12345"); null when the text is not that. */
export function parseLoadAverage(text: string): [number, number, number] | null {
  const fields = text.trim().split(/\s+/).slice(0, 3).map(Number);
  if (fields.length !== 3 || !fields.every((v) => Number.isFinite(v) && v >= 0)) return null;
  return fields as [number, number, number];
}

export interface CpuTimes {
  /** user + nice + system + idle + iowait + irq + softirq + steal, in clock ticks (guest time is inside user). */
  readonly total: number;
  readonly steal: number;
}

/** The aggregate `cpu` line of /proc/stat; null when there is none or it has fewer than the eight first columns. */
export function parseCpuTimes(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) return null;
  const columns = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (columns.length < 8 || !columns.every((v) => Number.isInteger(v) && v >= 0)) return null;
  return { total: columns.reduce((a, b) => a + b, 0), steal: columns[7]! };
}

/** Steal over all CPU time between two readings; null when either is missing or no time passed. */
export function stealShare(before: CpuTimes | null, after: CpuTimes | null): number | null {
  if (!before || !after || after.total <= before.total) return null;
  return (after.steal - before.steal) / (after.total - before.total);
}

async function readProc(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

export async function readLoadAverage(): Promise<[number, number, number] | null> {
  const text = await readProc('/proc/loadavg');
  return text === null ? null : parseLoadAverage(text);
}

export async function readCpuTimes(): Promise<CpuTimes | null> {
  const text = await readProc('/proc/stat');
  return text === null ? null : parseCpuTimes(text);
}

export interface NoiseInput {
  /** GFLOP/s of each peak sample, in order. */
  readonly peaks: readonly number[];
  /** Each configuration's achieved GFLOP/s over the peak (a fraction). */
  readonly ofPeak: readonly { label: string; fraction: number }[];
  /** Each configuration's coefficient of variation of its pass times (null with one pass). */
  readonly cv: readonly { label: string; cv: number | null }[];
  /** What the CVs are of, for the message: `pass times` unless the passes were segmented. */
  readonly cvOf?: string;
  /** The 1-minute load average at each peak sample (null where unknown), and the threads the runs use. */
  readonly load?: { readonly averages: readonly (number | null)[]; readonly ownThreads: number };
  readonly thresholds: NoiseThresholds;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The threads a run's own work keeps busy, which the load rule allows for: its intra-op threads, or one per core for 0. */
export function ownThreads(intraOpThreads: number): number {
  return intraOpThreads || os.availableParallelism();
}

/** How far the peak samples moved: (highest - lowest) / highest, what the peak rule holds against its tolerance. */
export function peakSpread(peaks: readonly number[]): number {
  if (peaks.length === 0) return 0;
  const high = Math.max(...peaks);
  return (high - Math.min(...peaks)) / high;
}

export function judgeNoise(input: NoiseInput): Noise {
  const { thresholds } = input;
  const reasons: NoiseReason[] = [];
  for (const { label, fraction } of input.ofPeak) {
    if (fraction > 1) {
      reasons.push({ rule: 'of-peak', configuration: label, value: fraction, threshold: 1, message: `${label} ran at ${pct(fraction)} of the MatMul peak: the peak was measured while the machine was slowed` });
    }
  }
  if (input.peaks.length > 1) {
    const high = Math.max(...input.peaks);
    const low = Math.min(...input.peaks);
    const moved = peakSpread(input.peaks);
    if (moved > thresholds.peakTolerance) {
      reasons.push({
        rule: 'peak-moved',
        configuration: null,
        value: moved,
        threshold: thresholds.peakTolerance,
        message: `the MatMul peak moved by ${pct(moved)} between samples (${low.toFixed(1)} to ${high.toFixed(1)} GFLOP/s; tolerance ${pct(thresholds.peakTolerance)})`,
      });
    }
  }
  for (const { label, cv } of input.cv) {
    if (cv !== null && cv > thresholds.maxCv) {
      reasons.push({ rule: 'cv', configuration: label, value: cv, threshold: thresholds.maxCv, message: `${label}'s ${input.cvOf ?? 'pass times'} vary by ${pct(cv)} (CV; threshold ${pct(thresholds.maxCv)})` });
    }
  }
  const known = (input.load?.averages ?? []).filter((v): v is number => v !== null);
  if (input.load && thresholds.maxLoadExcess !== undefined && known.length) {
    const highest = Math.max(...known);
    const limit = input.load.ownThreads + thresholds.maxLoadExcess;
    if (highest > limit) {
      reasons.push({
        rule: 'load',
        configuration: null,
        value: highest,
        threshold: limit,
        message: `the 1-minute load average reached ${highest.toFixed(2)} with the benchmark's own ${input.load.ownThreads} thread${input.load.ownThreads === 1 ? '' : 's'} (limit ${limit.toFixed(2)}: other work shared the CPUs)`,
      });
    }
  }
  return { noisy: reasons.length > 0, thresholds: { ...thresholds }, reasons };
}
