/**
 * The MatMul peak sampled several times in one benchmark (before, between and after the interleaved rounds),
 * each sample with the load average and the steal share since the previous one: a peak that moves, or steal
 * that appears, shows the machine changed under the runs.
 */
import { readCpuTimes, readLoadAverage, stealShare, type CpuTimes, type PeakSample } from './contention.js';
import type { MicroOptions } from './micro.js';
import { measureMatmulPeak, type Peak } from './peak.js';

/**
 * Every sample gets at least this budget whatever `--micro-time`/`--micro-samples` say: a peak taken from one
 * or two calls would move between samples by chance alone and mark quiet runs noisy.
 */
export const PEAK_SAMPLE_FLOOR: MicroOptions = { timeMs: 250, minSamples: 10 };

export class PeakSampler {
  readonly peaks: Peak[] = [];
  readonly samples: PeakSample[] = [];

  private constructor(
    private readonly session: { executionProvider: 'cpu' | 'cuda'; intraOpThreads: number },
    private readonly options: MicroOptions,
    private cpu: CpuTimes | null,
  ) {}

  /** Starts counting steal from now. */
  static async start(session: { executionProvider: 'cpu' | 'cuda'; intraOpThreads: number }, options: MicroOptions): Promise<PeakSampler> {
    const budget = { timeMs: Math.max(options.timeMs, PEAK_SAMPLE_FLOOR.timeMs), minSamples: Math.max(options.minSamples, PEAK_SAMPLE_FLOOR.minSamples) };
    return new PeakSampler(session, budget, await readCpuTimes());
  }

  async sample(roundsDone: number, rounds: number): Promise<PeakSample> {
    const peak = await measureMatmulPeak(this.session, this.options);
    const cpu = await readCpuTimes();
    const sample: PeakSample = {
      at: roundsDone === 0 ? 'before' : roundsDone >= rounds ? 'after' : 'between',
      roundsDone,
      time: new Date().toISOString(),
      gflopsPerSecond: peak.gflopsPerSecond,
      p50GflopsPerSecond: peak.p50GflopsPerSecond ?? peak.flops / (peak.latency.p50Ms / 1000) / 1e9,
      samples: peak.latency.samples,
      loadAverage: await readLoadAverage(),
      stealShare: stealShare(this.cpu, cpu),
    };
    this.cpu = cpu;
    this.peaks.push(peak);
    this.samples.push(sample);
    return sample;
  }

  /** The highest sample: the peak the figures of peak are against. */
  best(): Peak {
    if (this.peaks.length === 0) throw new Error('no peak was sampled');
    return this.peaks.reduce((a, b) => (b.gflopsPerSecond > a.gflopsPerSecond ? b : a));
  }
}
