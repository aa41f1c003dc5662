/**
 * The accuracy gate on results of real tiny-model runs, with per-item correctness set by hand where the
 * test needs a particular table: the boundary at exactly -0.5 points, refusals of mismatched items, the
 * verdict sentence and the subset note.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { OptibenchError } from '../../src/core/errors.js';
import { checkSameItems, compareMetric, judge, subsetNote } from '../../src/evaluators/inference/gate.js';
import { firstRight, tinyRun, withCorrectness } from './tiny-run.js';

let plain: InferenceResult;
let pruned: InferenceResult;

beforeAll(async () => {
  plain = await tinyRun({ limit: 12 });
  pruned = await tinyRun({ limit: 12, plugins: ['head-pruning'] });
});

const DEFAULT_GATE = { metric: 'acc_norm', maxDropPoints: 0.5 };

describe('two real runs: head-pruning gives the same predictions', () => {
  it('passes with difference 0, paired stderr 0 and McNemar p = 1', () => {
    const result = judge(plain, pruned, DEFAULT_GATE);
    expect(result.verdict.pass).toBe(true);
    expect(result.metrics.map((m) => m.name).sort()).toEqual(['acc', 'acc_norm']);
    for (const m of result.metrics) {
      expect(m.differencePoints).toBe(0);
      expect(m.pairedStderrPoints).toBe(0);
      expect(m.mcnemarP).toBe(1);
      expect(m.baseline).toBe(plain.metrics[m.name]!.value);
      expect(m.candidate).toBe(pruned.metrics[m.name]!.value);
    }
    expect(result.items).toMatchObject({ count: 12, totalDocs: 40, datasetSha256: plain.payload.task.dataset.sha256 });
    expect(result.verdict.subsetNote).toBe('scored on 12 of 40 items: indicative only; a submission is judged on the full set');
    expect(result.warnings).toEqual([]);
  });
});

describe('the gate boundary (200 items: one item is 0.5 points)', () => {
  // Baseline: 100 of 200 right. Candidate: the first `right` of 200.
  const judgeWith = (right: number, gate = DEFAULT_GATE) =>
    judge(withCorrectness(plain, firstRight(200, 100)), withCorrectness(plain, firstRight(200, right)), gate);

  it('a drop of exactly 0.5 points passes (the bound is inclusive)', () => {
    const r = judgeWith(99);
    const m = r.metrics.find((x) => x.name === 'acc_norm')!;
    expect(m.differencePoints).toBe(-0.5);
    expect(m.table).toEqual({ bothCorrect: 99, baselineOnly: 1, candidateOnly: 0, neitherCorrect: 100 });
    expect(m.mcnemarP).toBe(1);
    // d_i: one -1, 199 zeros: mean -1/200, variance (1 - 1/200) / 199 = 1/200, stderr sqrt(1/200/200) = 1/200.
    expect(m.pairedStderrPoints).toBeCloseTo(0.5, 12);
    expect(r.verdict.pass).toBe(true);
    expect(r.verdict.reason).toBe('PASS: acc_norm 50.00 % -> 49.50 % (-0.50 points, McNemar p = 1.000) is within the allowed drop of 0.50 points.');
  });

  it('a drop of 1.0 points fails, saying why in one sentence', () => {
    const r = judgeWith(98);
    expect(r.verdict.pass).toBe(false);
    // b = 2, c = 0: p = 2 x 1/4 = 0.5.
    expect(r.verdict.reason).toBe('FAIL: acc_norm 50.00 % -> 49.00 % (-1.00 points, McNemar p = 0.500) drops more than the allowed 0.50 points.');
    expect(r.verdict.reason.split('. ')).toHaveLength(1);
  });

  it('a gain passes; the bound and the metric are configurable', () => {
    expect(judgeWith(107).verdict.pass).toBe(true);
    expect(judgeWith(98, { metric: 'acc', maxDropPoints: 1 }).verdict.pass).toBe(true);
    expect(judgeWith(97, { metric: 'acc', maxDropPoints: 1 }).verdict.pass).toBe(false);
    expect(judgeWith(100, { metric: 'acc', maxDropPoints: 0 }).verdict.pass).toBe(true);
    expect(judgeWith(99, { metric: 'acc', maxDropPoints: 0 }).verdict.pass).toBe(false);
  });

  it('discordant pairs both ways: b=1, c=6 gives p = 0.125 on the real table', () => {
    // Baseline right on items 0-9; candidate wrong on item 0, right on 1-9 and on the 6 items 10-15.
    const base = withCorrectness(plain, firstRight(40, 10));
    const cand = withCorrectness(plain, Array.from({ length: 40 }, (_, i) => i >= 1 && i < 16));
    const m = compareMetric(base, cand, 'acc_norm');
    expect(m.table).toEqual({ bothCorrect: 9, baselineOnly: 1, candidateOnly: 6, neitherCorrect: 24 });
    expect(m.mcnemarP).toBe(0.125);
    expect(m.differencePoints).toBe(12.5);
  });
});

describe('refusals: only the same items, complete, can be compared', () => {
  const refused = (a: InferenceResult, b: InferenceResult, pattern: RegExp) => {
    expect(() => judge(a, b, DEFAULT_GATE)).toThrow(OptibenchError);
    expect(() => judge(a, b, DEFAULT_GATE)).toThrow(pattern);
  };

  it('another subset (other item indices)', async () => {
    const other = await tinyRun({ limit: 12, seed: 99 });
    refused(plain, other, /did not score the same items in the same order \(item \d+ is dataset index \d+ in the baseline and \d+ in the candidate\)/);
  });

  it('the same items in another order', () => {
    const shuffled = structuredClone(pruned);
    shuffled.payload.items.reverse();
    refused(plain, shuffled, /did not score the same items in the same order/);
  });

  it('fewer items', () => {
    const fewer = structuredClone(pruned);
    fewer.payload.items.pop();
    refused(plain, fewer, /did not score the same items in the same order \(12 items in the baseline and 11 in the candidate\)/);
  });

  it('another dataset file', () => {
    const other = structuredClone(pruned);
    other.payload.task.dataset.sha256 = 'f'.repeat(64);
    refused(plain, other, /different datasets \(sha256 [0-9a-f]{12}… and ffffffffffff…\)/);
  });

  it('an incomplete run', () => {
    const partial: InferenceResult = { ...structuredClone(pruned), status: 'incomplete', error: 'interrupted by the user' };
    refused(plain, partial, /the candidate run is incomplete \(interrupted by the user\)/);
  });

  it('a metric the results do not have', () => {
    expect(() => judge(plain, pruned, { metric: 'f1', maxDropPoints: 0.5 })).toThrow(/metric "f1" is not in the baseline's predictions \(it has acc, acc_norm\)/);
  });

  it('a negative bound', () => {
    expect(() => judge(plain, pruned, { metric: 'acc_norm', maxDropPoints: -1 })).toThrow(/allowed drop must be a number of points >= 0/);
  });

  it('checkSameItems accepts the real pair', () => {
    expect(() => checkSameItems(plain, pruned)).not.toThrow();
  });
});

describe('the subset note', () => {
  it('names the counts with thousands separators', () => {
    expect(subsetNote(500, 10042)).toBe('scored on 500 of 10,042 items: indicative only; a submission is judged on the full set');
  });

  it('is absent on the full set', () => {
    expect(subsetNote(10042, 10042)).toBeNull();
  });
});
