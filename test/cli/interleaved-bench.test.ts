/**
 * `optibench bench` and `optibench compare` measure interleaved, end to end: the built CLI on the embedded tiny
 * model, 2 configurations, 3 rounds. No figure is asserted against a clock: the passes' order, the pairing of
 * the speedups with each run's own results.json, the peak samples and the noise verdict's consistency with
 * the figures it was drawn from.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inferenceResultSchema } from '../../src/evaluators/inference/results.js';
import { benchFileSchema, type BenchFile } from '../../src/evaluators/inference/bench-schema.js';
import { fp32FloatWork } from '../../src/evaluators/inference/bench.js';
import { compareFileSchema } from '../../src/evaluators/inference/compare-schema.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
let work: string;

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: path.join(work, 'cache') } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function onlyDir(parent: string): Promise<string> {
  const entries = await readdir(parent);
  expect(entries).toHaveLength(1);
  return path.join(parent, entries[0]!);
}

const readJson = async (file: string): Promise<unknown> => JSON.parse(await readFile(file, 'utf8'));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-interleaved-'));
});

describe('optibench bench, interleaved: baseline and head-pruning, 6 items, 3 rounds', () => {
  let dir: string;
  let bench: BenchFile;
  let stdout: string;

  beforeAll(async () => {
    // --max-cv 0: any spread of pass times at all marks the run noisy, so the verdict is known beforehand.
    const run = optibench(['bench', '--plugins', 'head-pruning', '--limit', '6', '--repeats', '3', '--micro-time', '10', '--max-cv', '0', '-o', 'bench']);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    stdout = run.stdout;
    dir = await onlyDir(path.join(work, 'bench'));
    bench = benchFileSchema.parse(await readJson(path.join(dir, 'bench.json')));
  });

  it('ran the passes round-robin, each pass the one its run recorded', async () => {
    expect(bench.version).toBe(2);
    expect(bench.passes.map((p) => `${p.configuration}:${p.round}`)).toEqual([
      'baseline:0', 'head-pruning:0', 'baseline:1', 'head-pruning:1', 'baseline:2', 'head-pruning:2',
    ]);
    for (const c of bench.configurations) {
      const results = inferenceResultSchema.parse(await readJson(path.join(dir, c.resultsFile)));
      expect(bench.passes.filter((p) => p.configuration === c.label).map((p) => p.ms)).toEqual(results.timings.inference.repeats);
    }
  });

  it('pairs the speedup by round and gives its interval and CV', async () => {
    const [base, pruning] = bench.configurations;
    const b = bench.passes.filter((p) => p.configuration === 'baseline').map((p) => p.ms);
    const h = bench.passes.filter((p) => p.configuration === 'head-pruning').map((p) => p.ms);
    const ratios = b.map((ms, k) => ms / h[k]!);
    expect(pruning!.pairedRatios).toEqual(ratios);
    expect(pruning!.speedup).toBeCloseTo(median(ratios), 12);
    // The median of 3 resampled ratios is one of them: the interval's ends lie within their range.
    expect(pruning!.speedupInterval!.low).toBeGreaterThanOrEqual(Math.min(...ratios) - 1e-12);
    expect(pruning!.speedupInterval!.high).toBeLessThanOrEqual(Math.max(...ratios) + 1e-12);
    expect(pruning!.speedupInterval!.low).toBeLessThanOrEqual(pruning!.speedup);
    expect(base!.speedup).toBe(1);
    const mean = h.reduce((x, y) => x + y, 0) / 3;
    expect(pruning!.cv).toBeCloseTo(Math.sqrt(h.reduce((a, v) => a + (v - mean) ** 2, 0) / 2) / mean, 12);
    expect(bench.bootstrap).toMatchObject({ resamples: 2000, level: 0.95 });
  });

  it('sampled the peak before, between and after the rounds, with the load average', () => {
    expect(bench.peakSamples.map((s) => [s.at, s.roundsDone])).toEqual([['before', 0], ['between', 1], ['between', 2], ['after', 3]]);
    for (const s of bench.peakSamples) {
      // --micro-time 10 with 5 samples would make a chance peak: each sample keeps its floor of 10 calls.
      expect(s.samples).toBeGreaterThanOrEqual(10);
      expect(s.loadAverage).toHaveLength(3);
      expect(s.stealShare).toBeGreaterThanOrEqual(0);
      expect(s.stealShare).toBeLessThanOrEqual(1);
    }
    expect(bench.peak.gflopsPerSecond).toBe(Math.max(...bench.peakSamples.map((s) => s.gflopsPerSecond)));
  });

  it('the noise verdict follows from the figures, on screen, in bench.json and in the report', async () => {
    expect(bench.noise.thresholds).toEqual({ peakTolerance: 0.15, maxCv: 0, maxLoadExcess: 1 });
    const peaks = bench.peakSamples.map((s) => s.gflopsPerSecond);
    // The runs use one thread per CPU (--threads left at 0): the load rule's limit is that + 1.
    const highestLoad = Math.max(...bench.peakSamples.map((s) => s.loadAverage![0]));
    const expected = [
      ...bench.configurations.filter((c) => c.flops.fractionOfPeak > 1).map((c) => `of-peak ${c.label}`),
      ...((Math.max(...peaks) - Math.min(...peaks)) / Math.max(...peaks) > 0.15 ? ['peak-moved null'] : []),
      ...bench.configurations.filter((c) => c.cv! > 0).map((c) => `cv ${c.label}`),
      ...(highestLoad > os.availableParallelism() + 1 ? ['load null'] : []),
    ];
    expect(bench.noise.reasons.map((r) => `${r.rule} ${r.configuration}`)).toEqual(expected);
    expect(expected).toContain('cv baseline');
    expect(bench.noise.noisy).toBe(true);
    expect(stdout).toMatch(/^NOISY: the machine was busy/m);
    expect(stdout).toMatch(/^ {2}cv: baseline's pass times vary by \d+\.\d %/m);
    // The hint to check the machine alone comes with the machine-level reasons only.
    expect(stdout.includes('optibench machine-check')).toBe(expected.includes('peak-moved null') || expected.includes('load null'));
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('Interleaving and noise');
    expect(html).toContain('Noisy: the machine was busy');
  });
});

describe('optibench bench --full: every item, baseline and the plugins together, interleaved segment by segment', () => {
  let dir: string;
  let bench: BenchFile;
  let stdout: string;

  beforeAll(async () => {
    const run = optibench(['bench', '--full', '--segments', '3', '--plugins', 'prefix-sharing,head-pruning,quantization', '-b', '4', '-o', 'full']);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    stdout = run.stdout;
    dir = await onlyDir(path.join(work, 'full'));
    bench = benchFileSchema.parse(await readJson(path.join(dir, 'bench.json')));
  });

  it('scores every item once per configuration, only the baseline and the plugins together', () => {
    expect(bench.configurations.map((c) => c.label)).toEqual(['baseline', 'all']);
    expect(bench.items.count).toBe(40); // datasets/tiny-hellaswag has 40 items
    expect(bench.items.totalDocs).toBe(40);
    expect(bench.items.subsetNote).toBeNull();
    expect(bench.repeats).toBe(1);
    expect(bench.segments).toBe(3);
    for (const c of bench.configurations) expect(c.micro).toEqual([]);
  });

  it('took turns segment by segment over the same slices, and a pass is the sum of its segments', async () => {
    expect(bench.passes.map((p) => `${p.configuration}:${p.round}`)).toEqual(['baseline:0', 'all:0', 'baseline:1', 'all:1', 'baseline:2', 'all:2']);
    const segments = [];
    for (const c of bench.configurations) {
      const results = inferenceResultSchema.parse(await readJson(path.join(dir, c.resultsFile)));
      const seg = results.timings.segments!;
      // 40 items in 3 contiguous slices: floor(s * 40 / 3) bounds.
      expect(seg.items).toEqual([13, 13, 14]);
      expect(seg.passesMs).toHaveLength(1);
      expect(bench.passes.filter((p) => p.configuration === c.label).map((p) => p.ms)).toEqual(seg.passesMs[0]);
      expect(results.timings.inference.repeats[0]).toBeCloseTo(seg.passesMs[0]!.reduce((a, b) => a + b, 0), 9);
      segments.push(seg.passesMs[0]!);
    }
    const [b, a] = segments as [number[], number[]];
    const ratios = b.map((ms, k) => ms / a[k]!);
    const all = bench.configurations[1]!;
    expect(all.pairedRatios).toEqual(ratios);
    expect(all.speedup).toBeCloseTo(median(ratios), 12);
    expect(all.wholeSpeedup).toBeCloseTo(b.reduce((x, y) => x + y, 0) / a.reduce((x, y) => x + y, 0), 12);
    const mean = ratios.reduce((x, y) => x + y, 0) / 3;
    expect(all.cv).toBeCloseTo(Math.sqrt(ratios.reduce((acc, r) => acc + (r - mean) ** 2, 0) / 2) / mean, 12);
    expect(bench.configurations[0]!.cv).toBeNull();
    expect(stdout).toMatch(/^whole passes \(sum of every turn\): baseline \d+\.\d s, all \d+\.\d s \(\d+\.\d\dx\)$/m);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('each pass ran in 3 segments');
    expect(html).toContain('<th>per-segment ratios</th><th>CV of those ratios</th><th>whole pass</th><th>whole-pass ratio</th>');
    expect(html).toContain(`<td>${all.wholeSpeedup!.toFixed(2)}x</td>`);
    expect(html).toContain('None: the full-set run (<code>bench --full</code>) skips them.');
    for (const r of bench.noise.reasons.filter((x) => x.rule === 'cv')) expect(r.message).toMatch(/per-segment ratios to the baseline vary by/);
  });

  it('holds only float32 work against the fp32 MatMul peak: the quantized configuration is not judged by it', async () => {
    const [base, all] = await Promise.all(bench.configurations.map(async (c) => inferenceResultSchema.parse(await readJson(path.join(dir, c.resultsFile)))));
    expect(fp32FloatWork(base!)).toBe(true);
    expect(fp32FloatWork(all!)).toBe(false);
    expect(bench.noise.reasons.filter((r) => r.rule === 'of-peak' && r.configuration === 'all')).toEqual([]);
    expect(stdout).toMatch(/^of peak: .*integer work is counted as fp32 FLOPs/m);
  });

  it('segments change the batches, not the answers: the baseline matches an unsegmented run item by item', async () => {
    const run = optibench(['run', '-b', '4', '-o', 'plain']);
    expect(run.code).toBe(0);
    const plain = inferenceResultSchema.parse(await readJson(path.join(await onlyDir(path.join(work, 'plain')), 'results.json')));
    const segmented = inferenceResultSchema.parse(await readJson(path.join(dir, bench.configurations[0]!.resultsFile)));
    expect(segmented.payload.items.map((i) => i.index)).toEqual(plain.payload.items.map((i) => i.index));
    let worst = 0;
    segmented.payload.items.forEach((item, k) => {
      expect(item.predictions).toEqual(plain.payload.items[k]!.predictions);
      item.loglikelihoods.forEach((ll, e) => (worst = Math.max(worst, Math.abs(ll - plain.payload.items[k]!.loglikelihoods[e]!))));
    });
    // Other batch neighbours change only the padding: fp32 sums in another order.
    expect(worst).toBeLessThan(1e-3);
    expect(segmented.metrics).toEqual(plain.metrics);
  });

  it('samples the peak at most 16 times between turns however many segments there are', async () => {
    // 40 items in 40 segments: 40 turns; a sample every third turn, plus the first and the last.
    const run = optibench(['bench', '--full', '--segments', '40', '--plugins', 'head-pruning', '-b', '4', '-o', 'many']);
    expect(run.code).toBe(0);
    const many = benchFileSchema.parse(await readJson(path.join(await onlyDir(path.join(work, 'many')), 'bench.json')));
    expect(many.passes).toHaveLength(80);
    expect(many.peakSamples.map((x) => x.roundsDone)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 40]);
  });

  it('refuses more segments than items before any model loads: an empty segment would be paired as a measured turn', async () => {
    // The embedded set has 40 items: 41 segments would leave one turn with nothing in it.
    const run = optibench(['bench', '--segments', '41', '--plugins', 'head-pruning', '-o', 'too-many']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/41 segments for 40 items: each segment needs at least one item \(pass --segments 40 or fewer\)/);
    expect(run.stderr).not.toMatch(/creating ONNX Runtime session/);
    expect(existsSync(path.join(work, 'too-many')) ? await readdir(path.join(work, 'too-many'), { recursive: true }) : []).toEqual([]);
  });

  it('refuses --full with --limit, before computing anything', () => {
    const run = optibench(['bench', '--full', '--limit', '5', '-o', 'refused']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/--full scores every item: leave out --limit and --samples/);
    expect(existsSync(path.join(work, 'refused'))).toBe(false);
  });
});

describe('optibench compare, interleaved', () => {
  it('alternates baseline and candidate passes and pairs the speedup by round', async () => {
    const { code, stdout, stderr } = optibench(['compare', '--plugin', 'head-pruning', '--limit', '6', '--repeats', '3', '-o', 'cmp']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const dir = await onlyDir(path.join(work, 'cmp'));
    const c = compareFileSchema.parse(await readJson(path.join(dir, 'compare.json')));
    expect(c.timing!.passes.map((p) => `${p.side}:${p.round}`)).toEqual(['baseline:0', 'candidate:0', 'baseline:1', 'candidate:1', 'baseline:2', 'candidate:2']);
    const base = inferenceResultSchema.parse(await readJson(path.join(dir, 'baseline', 'results.json'))).timings.inference.repeats;
    const cand = inferenceResultSchema.parse(await readJson(path.join(dir, 'candidate', 'results.json'))).timings.inference.repeats;
    const ratios = base.map((ms, k) => ms / cand[k]!);
    expect(c.timing!.pairedRatios).toEqual(ratios);
    expect(c.speedup).toBeCloseTo(median(ratios), 12);
    expect(c.timing!.speedupInterval).not.toBeNull();
    expect(stdout).toMatch(/\(95 % interval \d+\.\d\d-\d+\.\d\dx, paired over 3 interleaved rounds\)/);
    expect(stdout).toMatch(/CV of pass times: baseline \d+\.\d %, candidate \d+\.\d %/);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toMatch(/95 % interval \d+\.\d\d–\d+\.\d\dx; CV of pass times: baseline \d+\.\d %, candidate \d+\.\d %\): the median over interleaved rounds/);
  });
});
