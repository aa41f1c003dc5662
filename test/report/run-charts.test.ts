/**
 * Per-batch times in the results and the run report's charts, item texts and plain warnings, checked against
 * hand-computed values and against a real run of the embedded tiny model.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { latencySummary, percentile } from '../../src/core/timing.js';
import { summary } from '../../src/evaluators/inference/commands/run.js';
import { defaultDatasetPath, randomWeightModel, DEFAULT_MODEL_SEED } from '../../src/evaluators/inference/embedded-default.js';
import { renderRunReport, renderRunReportWithTexts } from '../../src/evaluators/inference/report/render-run.js';
import { medianPass, throughputPoints } from '../../src/evaluators/inference/report/run-charts.js';
import { readResultsFile } from '../../src/evaluators/inference/results-file.js';
import { inferenceEvaluator } from '../../src/evaluators/inference/index.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { histogramBins } from '../../src/report/svg-chart.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { tinyRun } from '../evaluators/tiny-run.js';

describe('latencySummary, as optimum-benchmark computes it', () => {
  it('gives numpy-style percentiles, the mean and the population standard deviation', () => {
    // Sorted 10 20 30 40 50. np.percentile: rank q/100 * (n-1), interpolated linearly.
    //   p50: rank 2 -> 30; p90: rank 3.6 -> 40 + .6*10 = 46; p95: 3.8 -> 48; p99: 3.96 -> 49.6.
    // np.std: sqrt(((-20)^2 + (-10)^2 + 0 + 10^2 + 20^2) / 5) = sqrt(200).
    const s = latencySummary([30, 10, 50, 20, 40])!;
    expect(s.count).toBe(5);
    expect(s.totalMs).toBe(150);
    expect(s.meanMs).toBe(30);
    expect(s.p50Ms).toBe(30);
    expect(s.p90Ms).toBeCloseTo(46, 12);
    expect(s.p95Ms).toBeCloseTo(48, 12);
    expect(s.p99Ms).toBeCloseTo(49.6, 12);
    expect(s.stdevMs).toBeCloseTo(Math.sqrt(200), 12);
    expect(s.stdevPercent).toBeCloseTo((Math.sqrt(200) / 30) * 100, 10);
  });

  it('interpolates between the two middle values of an even count, and reports a lone value with stdev 0', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    // rank .99 * 3 = 2.97 -> 3 + .97 * 1.
    expect(percentile([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 12);
    expect(latencySummary([7])).toEqual({ count: 1, totalMs: 7, meanMs: 7, p50Ms: 7, p90Ms: 7, p95Ms: 7, p99Ms: 7, stdevMs: 0, stdevPercent: 0 });
    expect(latencySummary([])).toBeNull();
  });
});

describe('chart arithmetic', () => {
  it('bins about √n equal-width bins', () => {
    // 0..9: ceil(√10) = 4 bins of 9/4 = 2.25: {0,1,2} {3,4} {5,6} {7,8,9}.
    expect(histogramBins([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).map((b) => b.count)).toEqual([3, 2, 2, 3]);
    // Equal values: ceil(√3) = 2 bins of width 1 from 5; all three in the first.
    expect(histogramBins([5, 5, 5]).map((b) => b.count)).toEqual([3, 0]);
  });

  it('puts each batch at the time into the pass it finished, at its own rate', () => {
    // 4 requests in 100 ms: 40/s, done at 100 ms; 8 in 200 ms: 40/s, done at 300 ms; 2 in 10 ms: 200/s at 310 ms.
    expect(throughputPoints([100, 200, 10], [4, 8, 2])).toEqual([
      { x: 100, y: 40 },
      { x: 300, y: 40 },
      { x: 310, y: 200 },
    ]);
  });

  it('shows the pass of median length', () => {
    // Totals 2, 5, 3: the median is 3, pass index 2.
    expect(medianPass([[1, 1], [5], [3]])).toBe(2);
    // Two passes: the shorter of the two middles.
    expect(medianPass([[9], [4]])).toBe(1);
    expect(medianPass([])).toBeNull();
  });
});

describe('a real run of the embedded tiny model', () => {
  let r: InferenceResult;
  beforeAll(async () => {
    r = await tinyRun({ limit: 12, repeats: 2, batchSize: 4 });
  }, 120_000);

  it('records every measured batch of every pass, in the results schema', () => {
    const b = r.timings.batches!;
    expect(b.passesMs).toHaveLength(2);
    expect(b.requests).toHaveLength(r.payload.throughput.batches);
    expect(b.requests.reduce((a, x) => a + x, 0)).toBe(r.payload.throughput.requests);
    for (const [i, pass] of b.passesMs.entries()) {
      expect(pass).toHaveLength(b.requests.length);
      // A batch's time is part of its pass's time.
      expect(pass.reduce((a, x) => a + x, 0)).toBeLessThanOrEqual(r.timings.inference.repeats[i]!);
    }
    const all = b.passesMs.flat().sort((x, y) => x - y);
    expect(b.latency!.count).toBe(all.length);
    // Independently: the nearest-rank median of an even count is the mean of the two middles.
    expect(b.latency!.p50Ms).toBeCloseTo((all[all.length / 2 - 1]! + all[all.length / 2]!) / 2, 9);
    expect(b.latency!.p99Ms).toBeLessThanOrEqual(all[all.length - 1]!);
  });

  it('draws one histogram bar per bin, one line vertex per batch and one bar per metric', () => {
    const html = renderRunReport(r);
    const n = r.timings.batches!.passesMs.flat().length;
    const histogram = html.slice(html.indexOf('<svg class="chart chart-histogram"'), html.indexOf('</svg>', html.indexOf('chart-histogram')));
    expect(histogram.match(/<rect class="bin"/g)).toHaveLength(Math.min(40, Math.ceil(Math.sqrt(n))));
    for (const p of ['p50', 'p90', 'p99']) expect(histogram).toContain(`>${p} `);
    const line = html.match(/<polyline class="line" points="([^"]+)"/)![1]!;
    expect(line.split(' ')).toHaveLength(r.payload.throughput.batches);
    const accuracy = html.slice(html.indexOf('id="chart-accuracy"'), html.indexOf('</figure>', html.indexOf('id="chart-accuracy"')));
    expect(accuracy.match(/<rect class="bar /g)).toHaveLength(Object.keys(r.metrics).length);
    expect(accuracy).toContain('chance 25 %');
    expect(html.replace(/<[^>]+>/g, '')).toMatch(/batch latencyp50 [\d.]+ m?s · p90 [\d.]+ m?s · p99/);
  });

  it('says on screen and in the report that the embedded model has random weights', () => {
    expect(randomWeightModel(r.payload.model.config)).toEqual({ embeddedDefault: true, seed: DEFAULT_MODEL_SEED });
    expect(renderRunReport(r)).toContain('The embedded tiny model, with random weights.');
    expect(summary(r, 'results.json', 'index.html')).toContain('the embedded tiny model has random weights: its accuracy is chance by construction');
    // generate-model's default seed is the embedded one: another shape with it is "a model optibench generated".
    const medium = { ...r.payload.model.config, hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 8 };
    expect(randomWeightModel(medium)).toEqual({ embeddedDefault: false, seed: DEFAULT_MODEL_SEED });
    // A Hugging Face config has no optibench_generator: no warning.
    const trained = structuredClone(r);
    delete (trained.payload.model.config as Record<string, unknown>).optibench_generator;
    expect(renderRunReport(trained)).not.toContain('random weights');
    expect(summary(trained, 'results.json', 'index.html')).not.toContain('random weights');
  });

  it("shows each item's context and endings from the dataset, collapsed, with the gold and the picks", async () => {
    const html = await renderRunReportWithTexts(r);
    // Read the dataset here, as plain JSON lines: the first scored item's endings must be on the page.
    const lines = (await readFile(defaultDatasetPath(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { endings: string[]; ctx_a: string });
    const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    // lm-eval's hellaswag preprocess (what the model saw), written out here: strip, " [title]" -> ". ",
    // drop [bracketed] tags, "  " -> " ".
    const preprocess = (t: string) => t.trim().replaceAll(' [title]', '. ').replace(/\[.*?\]/g, '').replaceAll('  ', ' ');
    for (const item of r.payload.items) {
      for (const ending of lines[item.index]!.endings) expect(html).toContain(`${escape(preprocess(ending))}`);
    }
    expect(html.match(/<td class="text"><details>/g)).toHaveLength(r.payload.items.length);
    expect(html.match(/<li class="gold">/g)).toHaveLength(r.payload.items.length);
    // Each metric names its pick once per item.
    expect(html.match(/<span class="picked">/g)!.length).toBeGreaterThanOrEqual(r.payload.items.length);
    // `optibench evaluate` renders through the evaluator contract: the same page, texts included.
    expect(await inferenceEvaluator.renderReport(r)).toBe(html);
    // A dataset that changed since the run: no text rather than the wrong text.
    const moved = structuredClone(r);
    moved.payload.task.dataset.sha256 = '0'.repeat(64);
    const without = await renderRunReportWithTexts(moved);
    expect(without).not.toContain('<td class="text">');
    expect(without).toContain('item texts are not shown');
  });

  it('says "not measured" for a run with no finished pass, not items/s 0.00', () => {
    const partial = structuredClone(r);
    partial.status = 'incomplete';
    partial.timings.inference = { repeats: [], medianMs: null, minMs: null, maxMs: null };
    partial.timings.batches = { requests: [], passesMs: [], latency: null };
    partial.payload.throughput = { ...partial.payload.throughput, itemsPerSecond: 0, tokensPerSecond: 0, pairwiseTokensPerSecond: 0 };
    const text = renderRunReport(partial).replace(/<[^>]+>/g, '');
    expect(text).toContain('items/s, tokens/snot measured');
    expect(text).not.toMatch(/items\/s0\.00/);
    expect(summary(partial, 'r.json', 'i.html')).not.toContain('items/s');
    expect(renderRunReport(partial)).not.toContain('chart-histogram');
  });
});

it('reads and renders a results file written before per-batch times existed', async () => {
  const old = await readResultsFile(path.join(REPO_ROOT, 'test/fixtures/v1/results-v1.json'));
  expect(old.timings.batches).toBeUndefined();
  const html = renderRunReport(old);
  expect(html).not.toContain('chart-histogram');
  expect(html).not.toContain('batch latency');
});
