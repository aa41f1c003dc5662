/**
 * `optibench machine-check` through the built command: real MatMul peak samples, judged by the bench's rules.
 * The machine's speed is whatever it is, so the verdict is checked against the printed samples with the rule
 * recomputed here by hand, never against a fixed answer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { machineCheckSchema } from '../../src/evaluators/inference/machine-check.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
let work: string;

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(work, 'cache') } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-machine-check-'));
});

describe('optibench machine-check', () => {
  it('samples the peak, the load and steal, and its verdict and exit status follow the rules on those samples', () => {
    // Tolerance 0: any two samples that differ make it noisy; a huge load allowance keeps the load rule out.
    const run = optibench(['machine-check', '--samples', '3', '--gap', '0.2', '--threads', '1', '--peak-tolerance', '0', '--max-load-excess', '1000', '--json']);
    const check = machineCheckSchema.parse(JSON.parse(run.stdout));
    expect(check.samples).toHaveLength(3);
    expect(run.stderr.match(/^optibench: sample \d of 3: [\d.]+ GFLOP\/s/gm)).toHaveLength(3);
    const peaks = check.samples.map((s) => s.gflopsPerSecond);
    for (const s of check.samples) {
      // fastest of the timed calls: FLOPs of [384,768]x[768,2048] over a real latency, never above the p50 figure.
      expect(s.gflopsPerSecond).toBeGreaterThan(0.1);
      expect(s.gflopsPerSecond).toBeGreaterThanOrEqual(s.p50GflopsPerSecond);
      expect(s.samples).toBeGreaterThanOrEqual(10);
    }
    const proc = readFileSync('/proc/loadavg', 'utf8').trim().split(/\s+/).slice(0, 3).map(Number);
    expect(check.samples.every((s) => s.loadAverage !== null && s.loadAverage.length === 3)).toBe(true);
    // The 15-minute average barely moves within seconds: the sampled one is /proc's.
    expect(Math.abs(check.samples.at(-1)!.loadAverage![2] - proc[2]!)).toBeLessThan(1);
    const spread = (Math.max(...peaks) - Math.min(...peaks)) / Math.max(...peaks);
    expect(check.spread).toBeCloseTo(spread, 12);
    expect(check.noise.noisy).toBe(spread > 0);
    expect(run.code).toBe(spread > 0 ? 4 : 0);
    expect(check.shape).toEqual({ m: 384, k: 768, n: 2048 });
    expect(check.intraOpThreads).toBe(1);
    expect(check.gapMs).toBe(200);
    expect(check.samplesRequested).toBe(3);
    // The warm-up sample is reported but not judged: the spread above is of the three samples only.
    expect(check.warmUpGflopsPerSecond).toBeGreaterThan(0.1);
  }, 120_000);

  it('a tolerance no two samples can exceed and a load no machine reaches give "quiet" and exit 0, in words', () => {
    const run = optibench(['machine-check', '--samples', '2', '--gap', '0', '--threads', '1', '--peak-tolerance', '100', '--max-load-excess', '100000']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^MatMul peak over 2 samples \(\[384,768\]x\[768,2048\] fp32, 1 threads, 0\.0 s apart, after one warm-up sample\): [\d.]+ to [\d.]+ GFLOP\/s, spread [\d.]+ %$/m);
    expect(run.stdout).toMatch(/^quiet: peak within 100 %/m);
  }, 120_000);

  it('says what is wrong with bad flags and exits 2 without sampling', () => {
    for (const [args, message] of [
      [['--samples', '1'], /--samples.*at least 2 samples/],
      [['--samples', 'x'], /--samples.*positive integer/],
      [['--gap', '-1'], /--gap.*number >= 0/],
      [['--gap', 'NaN'], /--gap.*number >= 0/],
      [['--samples', '100000', '--gap', '3600'], /over 24 hours/],
      // 0.25 s a sample with no gap: 400,000 samples are 27.8 hours.
      [['--samples', '400000', '--gap', '0'], /over 24 hours/],
    ] as const) {
      const run = optibench(['machine-check', ...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/optibench: sample/);
    }
  });

  it('its JSON Schema is exported', () => {
    const run = optibench(['schema', 'machine-check']);
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['schema', 'version', 'samples', 'spread', 'noise']));
  });
});
