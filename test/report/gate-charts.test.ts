/**
 * The bench and compare charts: marks counted against the configurations and metrics they stand for, the
 * interval against a hand-computed 1.96 standard errors, and labels that never overlap.
 */
import { describe, expect, it } from 'vitest';
import type { BenchFile } from '../../src/evaluators/inference/bench-schema.js';
import type { CompareFile } from '../../src/evaluators/inference/compare-schema.js';
import { benchCharts, compareCharts, differenceInterval, outcomeBars } from '../../src/evaluators/inference/report/gate-charts.js';
import { renderCompareReport } from '../../src/evaluators/inference/report/render.js';
import { placeLabels } from '../../src/report/svg-chart.js';
import { dejavuBox } from '../helpers/dejavu-widths.js';

type Config = BenchFile['configurations'][number];

/** Only the fields the charts read; the rest of a bench.json does not reach them. */
function config(label: string, medianMs: number, accNorm: number, speedup: number, gate: Config['gate']): Config {
  return { label, plugins: label === 'baseline' ? [] : [label], inference: { medianMs, minMs: medianMs, maxMs: medianMs, repeats: [medianMs] }, speedup, headlineMetric: 'acc_norm', metrics: { acc_norm: { value: accNorm, stderr: 0.01 } }, gate } as unknown as Config;
}
const pass = (differencePoints: number) => ({ pass: true, differencePoints, pairedStderrPoints: 0.1, mcnemarP: 1, reason: 'PASS: x' });
const fail = (differencePoints: number) => ({ pass: false, differencePoints, pairedStderrPoints: 0.1, mcnemarP: 0.01, reason: 'FAIL: x' });

// Four configurations at the same accuracy and close times: the case where labels would print over each other.
const bench = {
  gate: { metric: 'acc_norm', maxDropPoints: 0.5 },
  configurations: [
    config('baseline', 671, 0.4, 1, null),
    config('head-pruning', 456, 0.4, 1.47, pass(0)),
    config('kernel-fusion', 440, 0.4, 1.52, pass(0)),
    config('quantization', 380, 0.38, 1.77, fail(-2)),
    config('all', 430, 0.4, 1.56, pass(0)),
  ],
} as unknown as BenchFile;

describe('bench charts', () => {
  const charts = benchCharts(bench);

  it('has one speedup bar per configuration but the baseline, red for a failed gate, and the 1× line', () => {
    expect(charts.speedup!.match(/<rect class="bar /g)).toHaveLength(4);
    expect(charts.speedup!.match(/<rect class="bar bad"/g)).toHaveLength(1);
    expect(charts.speedup).toContain('1.77× (failed the gate)');
    expect(charts.speedup).toContain('>baseline 1×</text>');
  });

  it('has one point per configuration, the baseline hollow, and the gate line at baseline − allowed drop', () => {
    const svg = charts.accuracyTime!;
    expect(svg.match(/<circle /g)).toHaveLength(5);
    expect(svg.match(/<circle class="baseline-point"/g)).toHaveLength(1);
    expect(svg.match(/<circle class="fail"/g)).toHaveLength(1);
    // 40 % - 0.5 points.
    expect(svg).toContain('gate: acc_norm ≥ 39.50 %');
    expect(charts.unlabelled).toEqual([]);
    // Every label printed once, and no two label boxes overlap as chromium lays them out.
    const labels = [...svg.matchAll(/<text class="point-label" x="([\d.]+)" y="([\d.]+)">([^<]+)<\/text>/g)].map((m) => {
      const box = dejavuBox(Number(m[1]), Number(m[2]), m[3]!);
      return { x: box.x, y: box.y, w: box.width, h: box.height, text: m[3] };
    });
    expect(labels.map((l) => l.text).sort()).toEqual(['all', 'baseline', 'head-pruning', 'kernel-fusion', 'quantization']);
    for (const a of labels) for (const b of labels) if (a !== b) expect(a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h).toBe(false);
  });

  it('never takes the y axis below 0', () => {
    const low = { ...bench, configurations: [config('baseline', 100, 0.01, 1, null), config('x', 50, 0.002, 2, fail(-0.8))] } as unknown as BenchFile;
    const ticks = [...benchCharts(low).accuracyTime!.matchAll(/text-anchor="end">(-?[\d.]+) %</g)].map((m) => Number(m[1]));
    expect(Math.min(...ticks)).toBe(0);
  });
});

describe('placeLabels', () => {
  it('keeps 12 labels on one spot apart, or reports the ones with no room', () => {
    const points = Array.from({ length: 12 }, (_, i) => ({ cx: 200, cy: 100, text: `team-${i}` }));
    const placed = placeLabels(points, { x: 0, y: 0, width: 400, height: 200 });
    const boxes = placed.flatMap((p) => (p ? [p.box] : []));
    for (const a of boxes) for (const b of boxes) if (a !== b) expect(a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height).toBe(false);
    for (const b of boxes) expect(b.x >= 0 && b.y >= 0 && b.x + b.width <= 400 && b.y + b.height <= 200).toBe(true);
  });
});

const metric = (name: string, differencePoints: number, pairedStderrPoints: number | null, table: CompareFile['metrics'][number]['table']) => ({ name, baseline: 0.4, candidate: 0.4 + differencePoints / 100, differencePoints, pairedStderrPoints, table, mcnemarP: 0.5 });

describe('compare charts', () => {
  const compare = {
    gate: { metric: 'acc_norm', maxDropPoints: 0.5 },
    verdict: { pass: false, reason: 'FAIL: acc_norm 40.00 % -> 39.00 % (-1.00 points, McNemar p = 0.500) drops more than the allowed 0.50 points.', subsetNote: null },
    metrics: [metric('acc', 0.5, 0.25, { bothCorrect: 30, baselineOnly: 3, candidateOnly: 5, neitherCorrect: 62 }), metric('acc_norm', -1, 0.5, { bothCorrect: 35, baselineOnly: 4, candidateOnly: 3, neitherCorrect: 58 })],
  } as unknown as CompareFile;

  it('draws the four paired cells of the gate metric as bars of their counts', () => {
    expect(outcomeBars(compare.metrics[1]!.table).map((b) => [b.label, b.value])).toEqual([
      ['both right', 35],
      ['lost (baseline only)', 4],
      ['gained (candidate only)', 3],
      ['both wrong', 58],
    ]);
    const svg = compareCharts(compare).outcome!;
    expect(svg.match(/<rect class="bar /g)).toHaveLength(4);
    expect(svg).toContain('acc_norm, item by item');
  });

  it('draws each metric difference with ± 1.96 paired standard errors, and the gate line', () => {
    // -1 ± 1.96 * 0.5 = [-1.98, -0.02].
    const i = differenceInterval({ differencePoints: -1, pairedStderrPoints: 0.5 })!;
    expect(i.low).toBeCloseTo(-1.98, 2);
    expect(i.high).toBeCloseTo(-0.02, 2);
    expect(differenceInterval({ differencePoints: 1, pairedStderrPoints: null })).toBeNull();
    const svg = compareCharts(compare).difference!;
    expect(svg.match(/<circle class="dot /g)).toHaveLength(2);
    expect(svg.match(/<path class="whisker"/g)).toHaveLength(2);
    expect(svg).toContain('−1.00 [−1.98, −0.02]');
    expect(svg).toContain('gate: acc_norm ≥ −0.50');
  });

  it('says PASS or FAIL once in the banner', () => {
    const page = renderCompareReport({
      ...compare,
      id: 'cmp',
      createdAt: '2025-01-01T00:00:00Z',
      items: { count: 100, totalDocs: 100, datasetPath: 'd', datasetSha256: 'x' },
      warnings: [],
      submission: false,
      speedup: null,
      command: ['optibench'],
      baseline: { runId: 'b', resultsFile: 'b.json', report: null, plugins: [], inferenceMedianMs: null, tokensPerSecond: 0 },
      candidate: { runId: 'c', resultsFile: 'c.json', report: null, plugins: [], inferenceMedianMs: null, tokensPerSecond: 0 },
      schema: 'optibench/compare',
      version: 1,
    } as unknown as CompareFile);
    const start = page.indexOf('>', page.indexOf('class="banner')) + 1;
    const banner = page.slice(start, page.indexOf('</div>', start));
    expect(banner.replace(/<[^>]+>/g, '')).toMatch(/^FAIL\s+acc_norm 40\.00 %/);
    expect(banner).not.toMatch(/FAIL[^]*FAIL/);
  });
});
