/**
 * Interleaved measurement and contention detection, without a clock: the round-robin order of passes, the
 * bootstrap interval against an independent Python implementation, the noise rules on hand-made figures,
 * and /proc parsing on hand-made text.
 */
import { describe, expect, it } from 'vitest';
import { interleave, type Pacer } from '../../src/evaluators/inference/interleave.js';
import { bootstrapMedianInterval, coefficientOfVariation, pairedSpeedup, BOOTSTRAP } from '../../src/evaluators/inference/paired-speedup.js';
import { judgeNoise, parseCpuTimes, parseLoadAverage, stealShare } from '../../src/evaluators/inference/contention.js';
import { pythonJson } from '../helpers/python.js';

/** A run as the runner drives its pacer: load, `passes` measured passes, then the after-inference work. */
function scriptedRun(label: string, passes: number, log: string[], options: { failInPass?: number } = {}) {
  return {
    label,
    start: async (pacer: Pacer) => {
      log.push(`load ${label}`);
      await Promise.resolve();
      log.push(`loaded ${label}`);
      for (let r = 0; r < passes; r++) {
        try {
          await pacer.beforeTurn(r);
        } catch (error) {
          log.push(`stopped ${label}`);
          throw error;
        }
        log.push(`${label}${r}`);
        // A pass takes a few turns of the event loop, as a real one awaits the backend per batch.
        for (let k = 0; k < 3; k++) await new Promise((resolve) => setImmediate(resolve));
        if (options.failInPass === r) throw new Error(`${label} broke`);
        pacer.afterTurn(r, 10 * (r + 1));
      }
      await pacer.beforeFinish();
      log.push(`finish ${label}`);
      await Promise.resolve();
      log.push(`closed ${label}`);
      return label.toLowerCase();
    },
  };
}

describe('interleave: round-robin passes', () => {
  it('loads one configuration after another, runs the passes A B C A B C, then finishes one at a time', async () => {
    const log: string[] = [];
    const boundaries: number[] = [];
    const { values, passes } = await interleave([scriptedRun('A', 2, log), scriptedRun('B', 2, log), scriptedRun('C', 2, log)], 2, {
      atBoundary: async (done) => {
        boundaries.push(done);
        log.push(`peak ${done}`);
      },
    });
    expect(values).toEqual(['a', 'b', 'c']);
    expect(log).toEqual([
      'load A', 'loaded A', 'load B', 'loaded B', 'load C', 'loaded C',
      'peak 0', 'A0', 'B0', 'C0', 'peak 1', 'A1', 'B1', 'C1', 'peak 2',
      'finish A', 'closed A', 'finish B', 'closed B', 'finish C', 'closed C',
    ]);
    expect(passes.map((p) => `${p.label}${p.round}:${p.ms}`)).toEqual(['A0:10', 'B0:10', 'C0:10', 'A1:20', 'B1:20', 'C1:20']);
    expect(boundaries).toEqual([0, 1, 2]);
  });

  it('a configuration with fewer passes sits out the later rounds', async () => {
    const log: string[] = [];
    const { passes } = await interleave([scriptedRun('A', 3, log), scriptedRun('B', 1, log)], 3);
    expect(passes.map((p) => `${p.label}${p.round}`)).toEqual(['A0', 'B0', 'A1', 'A2']);
  });

  it('a failing configuration stops the others at their next turn and its error is thrown', async () => {
    const log: string[] = [];
    await expect(interleave([scriptedRun('A', 3, log), scriptedRun('B', 3, log, { failInPass: 1 }), scriptedRun('C', 3, log)], 3)).rejects.toThrow('B broke');
    expect(log.filter((l) => /^[ABC]\d$/.test(l))).toEqual(['A0', 'B0', 'C0', 'A1', 'B1']);
    expect(log.filter((l) => l.startsWith('stopped')).sort()).toEqual(['stopped A', 'stopped C']);
    expect(log.filter((l) => l.startsWith('finish'))).toEqual([]);
  });
});

/** mulberry32 and the bootstrap of the median, written again in Python from their definitions. */
function pythonInterval(ratios: number[], resamples: number, seed: number, level: number): { low: number; high: number } {
  return pythonJson(`
import json, statistics
M = 0xffffffff
def imul(a, b): return (a * b) & M
def mulberry32(seed):
    state = seed & M
    def nxt():
        nonlocal state
        state = (state + 0x6d2b79f5) & M
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & M)) & M
        return ((t ^ (t >> 14)) & M) / 4294967296
    return nxt
def q7(xs, q):
    h = (len(xs) - 1) * q
    lo = int(h // 1); hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])
ratios = ${JSON.stringify(ratios)}
rnd = mulberry32(${seed})
n = len(ratios)
meds = sorted(statistics.median([ratios[int(rnd() * n)] for _ in range(n)]) for _ in range(${resamples}))
print(json.dumps({"low": q7(meds, (1 - ${level}) / 2), "high": q7(meds, (1 + ${level}) / 2)}))
`);
}

describe('paired speedup and its bootstrap interval', () => {
  it('pairs rounds: the median of baseline_k / config_k', () => {
    // Round 2 was slow for both: its ratio is still 2, and the median ignores round 3's outlier ratio.
    const s = pairedSpeedup([100, 300, 100, 90], [50, 150, 25, 45])!;
    expect(s.ratios).toEqual([2, 2, 4, 2]);
    expect(s.speedup).toBe(2);
  });

  it('matches an independent Python implementation (same generator, seed and quantiles)', () => {
    const ratios = [1.52, 1.47, 1.61, 1.39, 1.55, 1.5, 1.71];
    const settings = { ...BOOTSTRAP, resamples: 500, seed: 7 };
    const ours = bootstrapMedianInterval(ratios, settings)!;
    const theirs = pythonInterval(ratios, 500, 7, 0.95);
    expect(ours.low).toBeCloseTo(theirs.low, 12);
    expect(ours.high).toBeCloseTo(theirs.high, 12);
    const defaults = bootstrapMedianInterval(ratios)!;
    const python = pythonInterval(ratios, BOOTSTRAP.resamples, BOOTSTRAP.seed, BOOTSTRAP.level);
    expect(defaults.low).toBeCloseTo(python.low, 12);
    expect(defaults.high).toBeCloseTo(python.high, 12);
  });

  it('hand cases: one round or equal ratios give a point; two rounds span both ratios', () => {
    expect(bootstrapMedianInterval([1.3])).toEqual({ low: 1.3, high: 1.3 });
    expect(bootstrapMedianInterval([2, 2, 2])).toEqual({ low: 2, high: 2 });
    // Resampling two rounds gives a,a (1/4), b,b (1/4) or a mix (median (a+b)/2): the 2.5 % and 97.5 %
    // quantiles of 2000 such medians are a and b.
    expect(bootstrapMedianInterval([1, 3])).toEqual({ low: 1, high: 3 });
    expect(bootstrapMedianInterval([])).toBeNull();
  });

  it('coefficient of variation: sample standard deviation over the mean', () => {
    // mean 10, deviations -2, 0, 2: variance 8 / 2 = 4, sd 2.
    expect(coefficientOfVariation([8, 10, 12])).toBeCloseTo(0.2, 12);
    expect(coefficientOfVariation([5])).toBeNull();
  });
});

describe('noise rules', () => {
  const thresholds = { peakTolerance: 0.15, maxCv: 0.1 };
  const clean = { peaks: [80, 78, 82], ofPeak: [{ label: 'baseline', fraction: 0.6 }], cv: [{ label: 'baseline', cv: 0.03 }], thresholds };

  it('a clean set is quiet', () => {
    expect(judgeNoise(clean)).toEqual({ noisy: false, thresholds, reasons: [] });
  });

  it('120 % of peak is noisy, naming the configuration', () => {
    const noise = judgeNoise({ ...clean, ofPeak: [{ label: 'baseline', fraction: 0.6 }, { label: 'all', fraction: 1.2 }] });
    expect(noise.noisy).toBe(true);
    expect(noise.reasons).toEqual([{ rule: 'of-peak', configuration: 'all', value: 1.2, threshold: 1, message: expect.stringContaining('120.0 % of the MatMul peak') }]);
  });

  it('a peak that moved 30 % is noisy', () => {
    const noise = judgeNoise({ ...clean, peaks: [100, 70, 95] });
    expect(noise.noisy).toBe(true);
    expect(noise.reasons).toHaveLength(1);
    expect(noise.reasons[0]).toMatchObject({ rule: 'peak-moved', configuration: null, threshold: 0.15 });
    expect(noise.reasons[0]!.value).toBeCloseTo(0.3, 12);
    expect(noise.reasons[0]!.message).toContain('30.0 %');
  });

  it('a load average above the own threads + the margin is noisy; at the limit, or unknown, it is not', () => {
    const limits = { ...thresholds, maxLoadExcess: 1 };
    // The loaded bench of the README: two busy loops beside a 2-thread bench, 1-minute load 3.37 to 4.42.
    const loaded = judgeNoise({ ...clean, thresholds: limits, load: { averages: [3.37, 3.91, null, 4.42], ownThreads: 2 } });
    expect(loaded.reasons).toEqual([{ rule: 'load', configuration: null, value: 4.42, threshold: 3, message: expect.stringContaining('reached 4.42 with the benchmark\'s own 2 threads (limit 3.00') }]);
    expect(judgeNoise({ ...clean, thresholds: limits, load: { averages: [2.0, 3.0], ownThreads: 2 } }).noisy).toBe(false);
    expect(judgeNoise({ ...clean, thresholds: limits, load: { averages: [null, null], ownThreads: 2 } }).noisy).toBe(false);
    // A file written before the rule has no margin: no load rule.
    expect(judgeNoise({ ...clean, load: { averages: [9], ownThreads: 2 } }).noisy).toBe(false);
  });

  it('a CV of 25 % is noisy; one pass (no CV) is not', () => {
    const noise = judgeNoise({ ...clean, cv: [{ label: 'baseline', cv: 0.25 }, { label: 'quantization', cv: null }] });
    expect(noise.reasons).toEqual([{ rule: 'cv', configuration: 'baseline', value: 0.25, threshold: 0.1, message: expect.stringContaining('25.0 %') }]);
  });

  it('thresholds are the caller’s', () => {
    expect(judgeNoise({ ...clean, peaks: [100, 70], thresholds: { peakTolerance: 0.35, maxCv: 0.1 } }).noisy).toBe(false);
  });
});

describe('/proc parsing', () => {
  it('load average: the first three fields of /proc/loadavg', () => {
    expect(parseLoadAverage('3.78 3.15 2.31 1/92 22983\n')).toEqual([3.78, 3.15, 2.31]);
    expect(parseLoadAverage('')).toBeNull();
    expect(parseLoadAverage('high load')).toBeNull();
  });

  it('steal: its share of all CPU time between two readings of /proc/stat', () => {
    const before = parseCpuTimes('cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\nintr 1\n');
    // user nice system idle iowait irq softirq steal = 1000 ticks, 35 of them steal (guest columns are inside user).
    expect(before).toEqual({ total: 1000, steal: 35 });
    const after = parseCpuTimes('cpu  300 0 100 1300 10 0 5 85 40 0\n');
    expect(after).toEqual({ total: 1800, steal: 85 });
    // 800 ticks passed, 50 of them stolen.
    expect(stealShare(before, after)).toBeCloseTo(50 / 800, 12);
    expect(stealShare(after, after)).toBeNull();
    expect(stealShare(null, after)).toBeNull();
    expect(parseCpuTimes('cpu0 1 2 3\n')).toBeNull();
    expect(parseCpuTimes('cpu  1 2 3\n')).toBeNull();
  });
});
