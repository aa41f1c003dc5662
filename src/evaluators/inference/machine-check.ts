/**
 * Is this machine quiet enough to benchmark on? The MatMul peak sampled again and again with pauses between,
 * each sample with the load average and steal, judged by the bench's own peak and load rules. A bench that
 * comes out noisy says so after the fact; this says it before the hours are spent, and shows how far a shared
 * VM's peak wanders by itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DEFAULT_NOISE, judgeNoise, ownThreads, noiseSchema, peakSampleSchema, peakSpread, type PeakSample } from './contention.js';
import { PEAK_SAMPLE_FLOOR, PeakSampler } from './peak-samples.js';
import { PEAK_SHAPE, measureMatmulPeak } from './peak.js';

export const MACHINE_CHECK_SCHEMA_ID = 'optibench/machine-check';
export const MACHINE_CHECK_VERSION = 1;

export const machineCheckSchema = z.object({
  schema: z.literal(MACHINE_CHECK_SCHEMA_ID),
  version: z.literal(MACHINE_CHECK_VERSION),
  shape: z.object({ m: z.number().int(), k: z.number().int(), n: z.number().int() }),
  /** The session's intra-op threads; 0 = ONNX Runtime's default, as a run with no --threads. */
  intraOpThreads: z.number().int().nonnegative(),
  /** The pause between two samples, in ms (the CPUs are left idle in it). */
  gapMs: z.number().nonnegative(),
  /** Samples asked for; `samples` holds fewer when the check was stopped. */
  samplesRequested: z.number().int(),
  /**
   * One sample taken first and not judged: a process's first MatMuls run slower (its thread pool and pages are
   * new), which would read as the machine moving. A bench's first sample comes after its models warmed up.
   */
  warmUpGflopsPerSecond: z.number(),
  samples: z.array(peakSampleSchema),
  /** (highest - lowest) / highest of the samples' GFLOP/s: what the bench's peak rule holds against its tolerance. */
  spread: z.number(),
  noise: noiseSchema,
});
export type MachineCheck = z.infer<typeof machineCheckSchema>;

export interface MachineCheckInput {
  readonly samples: number;
  readonly gapMs: number;
  readonly intraOpThreads: number;
  readonly peakTolerance?: number;
  readonly maxLoadExcess?: number;
  readonly onSample?: (sample: PeakSample, index: number) => void;
  readonly signal?: AbortSignal;
}

export async function checkMachine(input: MachineCheckInput): Promise<MachineCheck> {
  if (!Number.isInteger(input.samples) || input.samples < 2) throw new RangeError('a machine check needs at least 2 samples');
  const session = { executionProvider: 'cpu', intraOpThreads: input.intraOpThreads } as const;
  // Every sample at the bench's floor budget, the warm-up too.
  const warmUp = await measureMatmulPeak(session, PEAK_SAMPLE_FLOOR);
  const sampler = await PeakSampler.start(session, PEAK_SAMPLE_FLOOR);
  for (let i = 0; i < input.samples; i++) {
    if (i > 0 && input.gapMs > 0) {
      try {
        await sleep(input.gapMs, undefined, input.signal ? { signal: input.signal } : {});
      } catch (error) {
        if (!input.signal?.aborted) throw error;
      }
    }
    // Stopping keeps what was sampled: the verdict is judged on it.
    if (input.signal?.aborted) break;
    input.onSample?.(await sampler.sample(i, input.samples - 1), i);
  }
  const peaks = sampler.samples.map((s) => s.gflopsPerSecond);
  const thresholds = { peakTolerance: input.peakTolerance ?? DEFAULT_NOISE.peakTolerance, maxCv: DEFAULT_NOISE.maxCv, maxLoadExcess: input.maxLoadExcess ?? DEFAULT_NOISE.maxLoadExcess };
  const noise = judgeNoise({
    peaks,
    ofPeak: [],
    cv: [],
    load: { averages: sampler.samples.map((s) => s.loadAverage?.[0] ?? null), ownThreads: ownThreads(input.intraOpThreads) },
    thresholds,
  });
  return machineCheckSchema.parse({
    schema: MACHINE_CHECK_SCHEMA_ID,
    version: MACHINE_CHECK_VERSION,
    shape: { ...PEAK_SHAPE },
    intraOpThreads: input.intraOpThreads,
    gapMs: input.gapMs,
    samplesRequested: input.samples,
    warmUpGflopsPerSecond: warmUp.gflopsPerSecond,
    samples: sampler.samples,
    spread: peakSpread(peaks),
    noise,
  });
}

/** The human summary: one line per sample was printed as it came; this is the verdict. */
export function machineCheckSummary(check: MachineCheck): string {
  const peaks = check.samples.map((s) => s.gflopsPerSecond);
  const loads = check.samples.map((s) => s.loadAverage?.[0]).filter((v): v is number => v !== undefined);
  const t = check.noise.thresholds;
  const lines = [
    `MatMul peak over ${check.samples.length} samples ([${check.shape.m},${check.shape.k}]x[${check.shape.k},${check.shape.n}] fp32, ${check.intraOpThreads || 'default'} threads, ${(check.gapMs / 1000).toFixed(1)} s apart, after one warm-up sample${check.samples.length < check.samplesRequested ? `; stopped after ${check.samples.length} of ${check.samplesRequested}` : ''}): ${Math.min(...peaks).toFixed(1)} to ${Math.max(...peaks).toFixed(1)} GFLOP/s, spread ${(100 * check.spread).toFixed(1)} %`,
  ];
  if (loads.length) lines.push(`1-minute load average ${Math.min(...loads).toFixed(2)} to ${Math.max(...loads).toFixed(2)}`);
  const rules = `peak within ${(100 * t.peakTolerance).toFixed(0)} %${t.maxLoadExcess === undefined ? '' : `, load average at most the threads + ${t.maxLoadExcess}`}`;
  if (check.noise.noisy) {
    lines.push(`NOISY: a bench here now would be flagged (${rules}):`);
    for (const r of check.noise.reasons) lines.push(`  ${r.rule}: ${r.message}`);
  } else {
    lines.push(`quiet: ${rules}; a bench's own rules also judge its CVs and figures of peak`);
  }
  return `${lines.join('\n')}\n`;
}
