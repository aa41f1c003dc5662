import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { niceScale, scatterChart, timeTicks } from '../../src/evaluators/inference/board/chart.js';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import { rankStandings } from '../../src/leaderboard/rank.js';
import { dejavuBox } from '../helpers/dejavu-widths.js';
import { tempDir } from './db-fixture.js';
import { buildScenario, HOSTILE } from './scenario.js';

describe('niceScale', () => {
  it('steps by 1, 2 or 5 times a power of ten and widens the domain to whole steps', () => {
    // span 950 / 5 = 190 -> step 200; 950 rounds up to 1000.
    expect(niceScale(0, 950)).toEqual({ min: 0, max: 1000, step: 200, ticks: [0, 200, 400, 600, 800, 1000], decimals: 0 });
    // span 3.2 / 5 = 0.64 -> step 1 (0.5 is too small).
    expect(niceScale(37.5, 40.7)).toMatchObject({ min: 37, max: 41, step: 1, ticks: [37, 38, 39, 40, 41] });
    // span 0.37 / 5 = 0.074 -> step 0.1, one decimal, no 0.30000000000000004.
    expect(niceScale(0, 0.37)).toEqual({ min: 0, max: 0.4, step: 0.1, ticks: [0, 0.1, 0.2, 0.3, 0.4], decimals: 1 });
    // One value: a one-step domain rather than a division by zero.
    expect(niceScale(5, 5)).toMatchObject({ min: 5, max: 6, ticks: [5, 6] });
  });

  it('labels a time axis in one unit: ms up to a second, then seconds', () => {
    expect(timeTicks(niceScale(0, 950)).map((t) => t.label)).toEqual(['0 ms', '200 ms', '400 ms', '600 ms', '800 ms', '1000 ms']);
    // 12345 / 5 = 2469 -> step 5000.
    expect(timeTicks(niceScale(0, 12345)).map((t) => t.label)).toEqual(['0 s', '5 s', '10 s', '15 s']);
    expect(timeTicks(niceScale(0, 1800)).map((t) => t.label)).toEqual(['0.0 s', '0.5 s', '1.0 s', '1.5 s', '2.0 s']);
  });
});

describe('the scenario chart', () => {
  const fixture = buildScenario(path.join(tempDir('leaderboard-chart'), 'results.sqlite'));
  const board = rankStandings(queryStandings(fixture.store), 3);
  fixture.close();
  const chart = scatterChart(board.ranked, board.rejected)!;

  // Plot area x 64..684 for 0..1000 ms; y 328..18 for 37..41 %. toFixed(1) may round a .x5 either way.
  const near = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(0.0501);

  it('has one point per ranked team, with its rank, and a hollow one per failing team', () => {
    expect(chart.points.map((p) => [p.kind, p.label])).toEqual([
      ['ranked', '1'],
      ['ranked', '1'],
      ['ranked', '3'],
      ['ranked', '4'],
      ['ranked', '5'],
      ['gate-failed', ''],
    ]);
    expect(chart.unplotted).toBe(0);
  });

  it('places points on a time axis from zero and an accuracy axis around the points and the gate', () => {
    expect(chart.xTicks.map((t) => t.label)).toEqual(['0 ms', '200 ms', '400 ms', '600 ms', '800 ms', '1000 ms']);
    expect(chart.yTicks.map((t) => t.label)).toEqual(['37 %', '38 %', '39 %', '40 %', '41 %']);
    const [bravo, , , , hostile, delta] = chart.points;
    near(bravo!.cx, 64 + 0.4 * 620);
    near(bravo!.cy, 328 - ((40.1 - 37) / 4) * 310);
    near(hostile!.cx, 64 + 0.95 * 620);
    near(hostile!.cy, 328 - (3 / 4) * 310);
    near(delta!.cx, 64 + 0.2 * 620);
    near(delta!.cy, 328 - (1 / 4) * 310);
    // Every judged run had the same gate: 40.00 - 0.50 = 39.50 %.
    expect(chart.gateLine!.label).toBe('gate: acc_norm ≥ 39.50 %');
    near(chart.gateLine!.y, 328 - (2.5 / 4) * 310);
  });

  it('draws nothing without a judged team', () => {
    expect(scatterChart([], [])).toBeNull();
  });
});

describe('chart labels and the baseline point', () => {
  const fixture = buildScenario(path.join(tempDir('leaderboard-chart-labels'), 'results.sqlite'));
  const board = rankStandings(queryStandings(fixture.store), 3);
  fixture.close();
  const baseline = board.ranked[0]!.baseline!;
  const chart = scatterChart(board.ranked, board.rejected, baseline)!;
  const near = (actual: number, expected: number) => expect(Math.abs(actual - expected)).toBeLessThanOrEqual(0.0501);

  it('labels each point with its rank and team, cut to 24 characters, and the baseline as a hollow point at its time and accuracy', () => {
    expect(chart.points.map((p) => p.text?.value ?? null)).toEqual(['1 Bravo', '1 Alpha', '3 Charlie', '4 India', `5 ${[...HOSTILE].slice(0, 21).join('')}…`, 'Delta', 'baseline']);
    const base = chart.points.at(-1)!;
    expect(base.kind).toBe('baseline-point');
    // The baseline: 1000 ms, acc_norm 40.00 % (the gate's baseline value): x 684, y 328 - (3/4) * 310.
    near(base.cx, 684);
    near(base.cy, 328 - (3 / 4) * 310);
    expect(chart.unlabelled).toEqual([]);
  });

  it('places no label over another label, a point or the gate label (text boxes as chromium measures them)', () => {
    const boxes = chart.points.flatMap((p) => (p.text ? [dejavuBox(p.text.x, p.text.y, p.text.value)] : []));
    const dots = chart.points.map((p) => ({ x: p.cx - 6, y: p.cy - 6, width: 12, height: 12 }));
    const gate = dejavuBox(64 + 4, chart.gateLine!.y - 5, chart.gateLine!.label);
    const hit = (a: typeof gate, b: typeof gate) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    for (const a of boxes) {
      expect(hit(a, gate)).toBe(false);
      for (const b of [...boxes, ...dots]) if (a !== b) expect(hit(a, b)).toBe(false);
    }
  });

  it('never starts the accuracy axis below 0 %', () => {
    const low = board.ranked.map((r) => ({ ...r, accNorm: { value: 0.003, stderr: 0.001 }, gate: { ...r.gate!, baselineValue: 0.004, maxDropPoints: 0.5 } }));
    expect(Number.parseFloat(scatterChart(low, [])!.yTicks[0]!.label)).toBe(0);
  });
});
