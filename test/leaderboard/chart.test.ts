import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { niceScale, scatterChart, timeTicks } from '../../src/evaluators/inference/board/chart.js';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import { rankStandings } from '../../src/leaderboard/rank.js';
import { tempDir } from './db-fixture.js';
import { buildScenario } from './scenario.js';

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
