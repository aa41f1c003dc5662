/**
 * `optibench compare` and `optibench bench` as a user runs them: the built CLI in a child process on the
 * embedded tiny model, real files, schemas and exit codes. Timings are noisy: no test asserts a speedup,
 * only that the figures exist and agree with each other. `npm test` builds dist/ first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inferenceResultSchema, type InferenceResult } from '../../src/evaluators/inference/results.js';
import { benchFileSchema, type BenchFile } from '../../src/evaluators/inference/bench-schema.js';
import { compareFileSchema, type CompareFile } from '../../src/evaluators/inference/compare-schema.js';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
let work: string;
let cacheDir: string;

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function onlyDir(parent: string): Promise<string> {
  const entries = await readdir(parent);
  expect(entries).toHaveLength(1);
  return path.join(parent, entries[0]!);
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8'));
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-compare-bench-'));
  cacheDir = path.join(work, 'cache');
});

describe('optibench compare: head-pruning against the baseline, 12 items', () => {
  let dir: string;
  let compare: CompareFile;
  let baseline: InferenceResult;
  let candidate: InferenceResult;

  beforeAll(async () => {
    const { code, stdout, stderr } = optibench(['compare', '--plugin', 'head-pruning', '--limit', '12', '-o', 'cmp']);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}PASS: acc_norm \d+\.\d\d % -> \d+\.\d\d % \(\+0\.00 points, McNemar p = 1\.000\) is within the allowed drop of 0\.50 points\.$/m);
    expect(stdout).toContain('note: scored on 12 of 40 items: indicative only; a submission is judged on the full set');
    expect(stderr).toContain('optibench: [baseline] ');
    expect(stderr).toContain('optibench: [candidate] ');
    dir = await onlyDir(path.join(work, 'cmp'));
    compare = compareFileSchema.parse(await readJson(path.join(dir, 'compare.json')));
    baseline = inferenceResultSchema.parse(await readJson(path.join(dir, 'baseline', 'results.json')));
    candidate = inferenceResultSchema.parse(await readJson(path.join(dir, 'candidate', 'results.json')));
  });

  it('writes compare.json, both runs and the comparison page', async () => {
    expect((await readdir(dir)).sort()).toEqual(['baseline', 'candidate', 'compare.json', 'index.html']);
    for (const side of ['baseline', 'candidate']) expect((await readdir(path.join(dir, side))).sort()).toEqual(['index.html', 'results.json']);
    expect(compare).toMatchObject({ schema: 'optibench/compare', version: 1, mode: 'runs', submission: false, gate: { metric: 'acc_norm', maxDropPoints: 0.5 } });
    expect(compare.id).toBe(path.basename(dir));
    expect(compare.command).toEqual(['optibench', 'compare', '--plugin', 'head-pruning', '--limit', '12', '-o', 'cmp']);
  });

  it('the baseline has no plugins, the candidate head-pruning, on the same 12 items', () => {
    expect(baseline.plugins).toEqual([]);
    expect(candidate.plugins.map((p) => p.name)).toEqual(['head-pruning']);
    expect(candidate.payload.items.map((i) => i.index)).toEqual(baseline.payload.items.map((i) => i.index));
    expect(compare.items).toMatchObject({ count: 12, totalDocs: 40, datasetSha256: baseline.payload.task.dataset.sha256 });
    expect(compare.baseline).toMatchObject({ runId: baseline.runId, resultsFile: 'baseline/results.json', report: 'baseline/index.html', plugins: [] });
    expect(compare.candidate).toMatchObject({ runId: candidate.runId, resultsFile: 'candidate/results.json', report: 'candidate/index.html', plugins: ['head-pruning'] });
  });

  it('identical predictions: every difference 0, McNemar p = 1, PASS', () => {
    expect(compare.metrics.map((m) => m.name).sort()).toEqual(['acc', 'acc_norm']);
    for (const m of compare.metrics) {
      expect(m).toMatchObject({ differencePoints: 0, pairedStderrPoints: 0, mcnemarP: 1 });
      expect(m.table.baselineOnly + m.table.candidateOnly).toBe(0);
      expect(m.baseline).toBe(baseline.metrics[m.name]!.value);
    }
    expect(compare.verdict.pass).toBe(true);
    expect(compare.verdict.subsetNote).toBe('scored on 12 of 40 items: indicative only; a submission is judged on the full set');
  });

  it('the speedup is the median of the per-round ratios baseline / candidate from the same invocation', () => {
    const b = baseline.timings.inference.repeats;
    const ratios = candidate.timings.inference.repeats.map((ms, k) => b[k]! / ms).sort((x, y) => x - y);
    const mid = ratios.length >> 1;
    expect(compare.speedup).toBeCloseTo(ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2, 12);
    expect(compare.baseline.inferenceMedianMs).toBe(baseline.timings.inference.medianMs);
  });

  it('the page says PASS and why, and links both run reports', async () => {
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    expect(html).toContain('<strong class="status-complete">PASS</strong>');
    expect(html).toContain('is within the allowed drop of 0.50 points.');
    expect(html).toContain('href="baseline/index.html"');
    expect(html).toContain('href="candidate/index.html"');
    expect(html).toContain('scored on 12 of 40 items');
  });

  describe('--results: the gate on existing files', () => {
    it('the same pair passes, exit 0, and claims no speedup', async () => {
      const { code, stdout } = optibench(['compare', '--results', path.join(dir, 'baseline/results.json'), path.join(dir, 'candidate/results.json'), '-o', 'files']);
      expect(code).toBe(0);
      expect(stdout).toContain('PASS: acc_norm');
      const c = compareFileSchema.parse(await readJson(path.join(await onlyDir(path.join(work, 'files')), 'compare.json')));
      expect(c.mode).toBe('results');
      expect(c.speedup).toBeNull();
      expect(c.metrics).toEqual(compare.metrics);
    });

    it('a candidate whose correct acc_norm picks were flipped fails, exit 5', async () => {
      const edited = structuredClone(candidate);
      let flipped = 0;
      for (const item of edited.payload.items) {
        if (item.predictions.acc_norm === item.gold) {
          item.predictions.acc_norm = (item.gold + 1) % item.loglikelihoods.length;
          flipped++;
        }
      }
      expect(flipped).toBeGreaterThan(0);
      const file = path.join(work, 'flipped.json');
      await writeFile(file, JSON.stringify(edited));
      const { code, stdout } = optibench(['compare', '--results', path.join(dir, 'baseline/results.json'), file, '-o', 'flipped']);
      expect(code).toBe(5);
      const points = ((100 * flipped) / 12).toFixed(2);
      expect(stdout).toMatch(new RegExp(`FAIL: acc_norm \\d+\\.\\d\\d % -> 0\\.00 % \\(-${points} points, McNemar p = [0-9.e-]+\\) drops more than the allowed 0\\.50 points\\.`));
      const c = compareFileSchema.parse(await readJson(path.join(await onlyDir(path.join(work, 'flipped')), 'compare.json')));
      const m = c.metrics.find((x) => x.name === 'acc_norm')!;
      expect(m.table).toMatchObject({ baselineOnly: flipped, candidateOnly: 0 });
      // McNemar with b = flipped, c = 0: p = 2 / 2^flipped (capped at 1).
      expect(m.mcnemarP).toBe(Math.min(1, 2 / 2 ** flipped));
      expect(c.verdict.pass).toBe(false);
      const html = await readFile(path.join(await onlyDir(path.join(work, 'flipped')), 'index.html'), 'utf8');
      expect(html).toContain('<strong class="status-incomplete">FAIL</strong>');
      // A generous bound lets the same pair pass.
      expect(optibench(['compare', '--results', path.join(dir, 'baseline/results.json'), file, '--max-drop', '50', '-o', 'flipped2']).code).toBe(0);
    });

    it('results of other items are refused, exit 1', () => {
      expect(optibench(['run', '--limit', '12', '--seed', '7', '-o', 'other']).code).toBe(0);
      const other = path.join(work, 'other', spawnSync('ls', [path.join(work, 'other')], { encoding: 'utf8' }).stdout.trim(), 'results.json');
      const { code, stdout, stderr } = optibench(['compare', '--results', path.join(dir, 'baseline/results.json'), other, '-o', 'mismatch']);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toMatch(/^optibench: error: the runs did not score the same items in the same order \(item \d+ is dataset index \d+ in the baseline and \d+ in the candidate\): use the same --limit and --seed$/m);
      expect(nothingWritten(path.join(work, 'mismatch'))).toBe(true);
    });

    it('--submission refuses subset results, exit 1', () => {
      const { code, stderr } = optibench(['compare', '--submission', '--results', path.join(dir, 'baseline/results.json'), path.join(dir, 'candidate/results.json')]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/--submission judges the full set, and this run scored 12 of 40 items/);
    });
  });
});

describe('optibench compare: bad input and usage', () => {
  it('--submission refuses --limit before running anything, exit 1', () => {
    const { code, stdout, stderr } = optibench(['compare', '--submission', '--plugin', 'head-pruning', '--limit', '5', '-o', 'sub']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe(`optibench: error: limit: --submission judges the full set: remove the limit of 5 items (--limit or the config's "limit")`);
    expect(existsSync(path.join(work, 'sub'))).toBe(false);
  });

  it('an unknown candidate plugin is refused before the baseline runs, exit 1', () => {
    const { code, stderr } = optibench(['compare', '--plugin', 'warp-drive', '--limit', '5', '-o', 'unknown']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^optibench: error: (plugins\[0\]: )?the candidate configuration: unknown plugin "warp-drive"/m);
    expect(nothingWritten(path.join(work, 'unknown'))).toBe(true);
  });

  it('a baseline config scoring other items is refused, exit 1', async () => {
    const file = path.join(work, 'baseline.yaml');
    await writeFile(file, 'seed: 99\n');
    const { code, stderr } = optibench(['compare', '--baseline', file, '--plugin', 'head-pruning', '--limit', '5', '-o', 'seed']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/the baseline and the candidate would score different items: seed is 99 and 1234/);
  });

  it('a metric the task does not have is refused before running, exit 1', () => {
    const { code, stderr } = optibench(['compare', '--metric', 'f1', '--limit', '5', '-o', 'metric']);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe(`optibench: error: metric: "f1" is not one of hellaswag's metrics (acc, acc_norm)`);
    expect(existsSync(path.join(work, 'metric'))).toBe(false);
  });

  it('usage errors exit 2', () => {
    expect(optibench(['compare', '--results', 'only-one.json']).code).toBe(2);
    expect(optibench(['compare', '--max-drop', 'half']).code).toBe(2);
    expect(optibench(['compare', '--max-drop', '-1']).code).toBe(2);
  });
});

describe('optibench bench: head-pruning and prefix-sharing, 12 items, 2 repeats', () => {
  let dir: string;
  let bench: BenchFile;
  let stdout: string;

  beforeAll(async () => {
    const run = optibench(['bench', '--plugins', 'head-pruning,prefix-sharing', '--limit', '12', '--repeats', '2', '--micro-time', '20', '-o', 'bench']);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    stdout = run.stdout;
    dir = await onlyDir(path.join(work, 'bench'));
    bench = benchFileSchema.parse(await readJson(path.join(dir, 'bench.json')));
  });

  it('runs the baseline, each plugin alone and all together, each with its own results.json', async () => {
    expect(bench.configurations.map((c) => [c.label, c.plugins])).toEqual([
      ['baseline', []],
      ['head-pruning', ['head-pruning']],
      ['prefix-sharing', ['prefix-sharing']],
      ['all', ['head-pruning', 'prefix-sharing']],
    ]);
    expect((await readdir(dir)).sort()).toEqual(['0-baseline', '1-head-pruning', '2-prefix-sharing', '3-all', 'bench.json', 'index.html']);
    const indices = new Set<string>();
    const seeds = new Set<number | undefined>();
    for (const c of bench.configurations) {
      const results = inferenceResultSchema.parse(await readJson(path.join(dir, c.resultsFile)));
      expect(results.runId).toBe(c.runId);
      expect(results.timings.inference.repeats).toHaveLength(2);
      expect(c.inference.medianMs).toBe(results.timings.inference.medianMs);
      expect(c.tokensThroughModel).toBe(results.payload.throughput.tokensThroughModel);
      indices.add(JSON.stringify(results.payload.items.map((i) => i.index)));
      seeds.add(results.payload.shuffleSeed);
    }
    expect(indices.size).toBe(1);
    // Every configuration issued the items in one shuffled order.
    expect(seeds.size).toBe(1);
    expect([...seeds][0]).toEqual(expect.any(Number));
    expect(bench).toMatchObject({ schema: 'optibench/bench', version: 2, repeats: 2, task: 'hellaswag', items: { count: 12, totalDocs: 40, limit: 12 } });
    expect(bench.environment.versions.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(bench.command.slice(0, 2)).toEqual(['optibench', 'bench']);
  });

  it('the figures agree with each other', () => {
    const base = bench.configurations[0]!;
    for (const c of bench.configurations) {
      const seconds = c.inference.medianMs / 1000;
      // Two interleaved rounds: the median of two per-round ratios is their mean.
      const ratios = c.inference.repeats.map((ms, k) => base.inference.repeats[k]! / ms);
      expect(c.speedup).toBeCloseTo((ratios[0]! + ratios[1]!) / 2, 12);
      expect(c.tokensPerSecond).toBeCloseTo(c.tokensThroughModel / seconds, 6);
      expect(c.pairwiseTokensPerSecond).toBeCloseTo(c.pairwiseTokens / seconds, 6);
      expect(c.pairwiseTokens).toBe(base.pairwiseTokens);
      expect(c.paddedTokens).toBeGreaterThanOrEqual(c.tokensThroughModel);
      expect(c.flops.gflopsPerSecond).toBeCloseTo(c.flops.flops / seconds / 1e9, 9);
      expect(c.flops.fractionOfPeak).toBeCloseTo(c.flops.gflopsPerSecond / bench.peak.gflopsPerSecond, 12);
      expect(bench.peak.gflopsPerSecond).toBe(Math.max(...bench.peakSamples.map((s) => s.gflopsPerSecond)));
      expect(c.micro.length).toBeGreaterThanOrEqual(1);
      for (const m of c.micro) {
        expect(m.latency.samples).toBeGreaterThanOrEqual(5);
        expect(m.latency.p99Ms).toBeGreaterThanOrEqual(m.latency.p50Ms);
      }
    }
    expect(base.speedup).toBe(1);
    expect(base.gate).toBeNull();
    // Sharing prefixes computes fewer positions than lm-eval's pairwise count.
    expect(bench.configurations[2]!.tokensThroughModel).toBeLessThan(base.tokensThroughModel);
    expect(bench.configurations[1]!.tokensThroughModel).toBe(base.tokensThroughModel);
  });

  it('the gate against the baseline: head-pruning keeps the predictions', () => {
    const pruning = bench.configurations[1]!;
    expect(pruning.gate).toMatchObject({ pass: true, differencePoints: 0, mcnemarP: 1 });
    for (const c of bench.configurations.slice(1)) expect(c.gate).not.toBeNull();
  });

  it('measures the MatMul peak in the same invocation', () => {
    expect(bench.peak).toMatchObject({ op: 'MatMul', shape: { m: 384, k: 768, n: 2048 }, executionProvider: 'cpu', flops: 2 * 384 * 768 * 2048 });
    expect(bench.peak.gflopsPerSecond).toBeCloseTo(bench.peak.flops / (bench.peak.latency.minMs / 1000) / 1e9, 9);
    expect(bench.peak.p50GflopsPerSecond).toBeCloseTo(bench.peak.flops / (bench.peak.latency.p50Ms / 1000) / 1e9, 9);
    expect(bench.formula).toMatch(/^FLOPs per pass = 2 x L x/);
  });

  it('prints the table and writes the HTML page linking every run', async () => {
    for (const label of ['configuration', 'baseline', 'head-pruning', 'prefix-sharing', 'all', 'speedup', 'lm-eval tok/s']) expect(stdout).toContain(label);
    expect(stdout).toMatch(/^MatMul peak: \d+\.\d\d GFLOP\/s/m);
    const html = await readFile(path.join(dir, 'index.html'), 'utf8');
    for (const c of bench.configurations) expect(html).toContain(`href="${c.report}"`);
    expect(html).toContain('Micro-benchmarks (tinybench)');
  });

  it('an unknown plugin is refused before anything runs, exit 1', () => {
    const { code, stderr } = optibench(['bench', '--plugins', 'head-pruning,warp-drive', '--limit', '5', '-o', 'bench-bad']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^optibench: error: (plugins\[0\]: )?the warp-drive configuration: unknown plugin "warp-drive"/m);
    expect(nothingWritten(path.join(work, 'bench-bad'))).toBe(true);
  });
});

describe('optibench bench --reference pytorch: the same items the lm-eval way on PyTorch eager', () => {
  it('adds the reference row, compares every throughput with it, and reports the harness overhead', async () => {
    const run = optibench(['bench', '--plugins', 'prefix-sharing', '--reference', 'pytorch', '--limit', '8', '--repeats', '2', '--micro-time', '10', '-o', 'bench-ref']);
    expect(run.stderr).not.toMatch(/error/);
    expect(run.code).toBe(0);
    const dir = await onlyDir(path.join(work, 'bench-ref'));
    const b = benchFileSchema.parse(await readJson(path.join(dir, 'bench.json')));
    expect(b.configurations.map((c) => [c.label, c.backend, c.reference ?? false])).toEqual([
      ['baseline', 'onnx', false],
      ['prefix-sharing', 'onnx', false],
      ['pytorch eager (lm-eval way)', 'pytorch', true],
    ]);
    const reference = b.configurations[2]!;
    for (const c of b.configurations) {
      // Paired by interleaved round: the median of two ratios reference_k / config_k is their mean.
      const ratios = c.inference.repeats.map((ms, k) => reference.inference.repeats[k]! / ms);
      expect(c.vsReference).toBeCloseTo((ratios[0]! + ratios[1]!) / 2, 12);
      expect(c.pairwiseTokens).toBe(reference.pairwiseTokens);
      expect(c.harnessOverhead).toBeGreaterThanOrEqual(0);
      expect(c.harnessOverhead).toBeLessThan(1);
      const results = inferenceResultSchema.parse(await readJson(path.join(dir, c.resultsFile)));
      expect(c.harnessOverhead).toBe(results.timings.harnessOverhead);
    }
    // The same weights on both backends: the gate sees the same answers.
    expect(reference.gate).toMatchObject({ pass: true, differencePoints: 0 });
    expect(run.stdout).toMatch(/^vs ref: lm-eval-equivalent tokens\/s over pytorch eager \(lm-eval way\)'s/m);
    expect(run.stdout).toContain('overhead');
  });

  it('refuses the benchmarked backend as its own reference', () => {
    const { code, stderr } = optibench(['bench', '--reference', 'onnx', '--limit', '4', '-o', 'bench-ref-bad']);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('optibench: error: reference: the reference backend must differ from the benchmarked one (onnx)');
  });
});

describe('help', () => {
  it('lists compare and bench with their flags', () => {
    const top = optibench(['--help']);
    expect(top.stdout).toContain('compare');
    expect(top.stdout).toContain('bench');
    const compare = optibench(['compare', '--help']).stdout;
    for (const flag of ['--baseline', '--metric', '--max-drop', '--submission', '--results', '--limit']) expect(compare).toContain(flag);
    const bench = optibench(['bench', '--help']).stdout;
    for (const flag of ['--plugins', '--repeats', '--micro-time']) expect(bench).toContain(flag);
  });
});

/** Refused before computing: the output folder (checked to be writable first) holds no run. */
function nothingWritten(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}
