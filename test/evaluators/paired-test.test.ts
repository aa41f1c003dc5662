/**
 * McNemar's exact test and the paired standard error against values worked out by hand, and against
 * Python's exact integer arithmetic (math.comb, fractions) for tables too large to work by hand.
 */
import { describe, expect, it } from 'vitest';
import { mcnemarExactP, pairedDifference, pairedTable } from '../../src/evaluators/inference/paired-test.js';
import { pythonJson } from '../helpers/python.js';

const bools = (bits: string) => [...bits].map((b) => b === '1');

describe("McNemar's exact test (two-sided binomial on the discordant pairs)", () => {
  it('b=1, c=6: p = 2 (C(7,0) + C(7,1)) / 2^7 = 2 x 8 / 128 = 0.125', () => {
    expect(mcnemarExactP(1, 6)).toBe(0.125);
    expect(mcnemarExactP(6, 1)).toBe(0.125);
  });

  it('b=0, c=5: p = 2 / 32 = 0.0625; b=0, c=1: p = 2 / 2 = 1', () => {
    expect(mcnemarExactP(0, 5)).toBe(0.0625);
    expect(mcnemarExactP(0, 1)).toBe(1);
  });

  it('b=2, c=10: p = 2 (1 + 12 + 66) / 4096 = 158 / 4096', () => {
    expect(mcnemarExactP(2, 10)).toBe(158 / 4096);
  });

  it('b=3, c=3: the doubled tail 2 x 42/64 exceeds 1 and is capped at 1', () => {
    expect(mcnemarExactP(3, 3)).toBe(1);
  });

  it('no discordant pairs: p = 1', () => {
    expect(mcnemarExactP(0, 0)).toBe(1);
  });

  it('a full-set-sized table agrees with exact rational arithmetic in Python', () => {
    const cases: [number, number][] = [
      [480, 560],
      [4950, 5092],
      [120, 300],
      [0, 1500],
    ];
    const expected = pythonJson<number[]>(
      `import json, math\nfrom fractions import Fraction\n` +
        `def p(b, c):\n  n = b + c\n  k = min(b, c)\n  return min(1.0, float(Fraction(2 * sum(math.comb(n, i) for i in range(k + 1)), 2 ** n)))\n` +
        `print(json.dumps([p(b, c) for b, c in ${JSON.stringify(cases)}]))`,
    );
    cases.forEach(([b, c], i) => {
      const want = expected[i]!;
      if (want === 0) expect(mcnemarExactP(b, c)).toBe(0);
      else expect(Math.abs(mcnemarExactP(b, c) - want) / want).toBeLessThan(1e-14);
    });
  });

  it('refuses negative or fractional counts', () => {
    expect(() => mcnemarExactP(-1, 2)).toThrow(RangeError);
    expect(() => mcnemarExactP(1.5, 2)).toThrow(RangeError);
  });
});

describe('the paired table and the paired difference', () => {
  // baseline 1 1 0 0 1 0, candidate 1 0 1 1 1 0: both right 2, baseline only 1, candidate only 2, neither 1.
  const baseline = bools('110010');
  const candidate = bools('101110');

  it('counts the four cells', () => {
    expect(pairedTable(baseline, candidate)).toEqual({ bothCorrect: 2, baselineOnly: 1, candidateOnly: 2, neitherCorrect: 1 });
  });

  it('differences 0 -1 +1 +1 0 0: mean 1/6, variance (3 - 1/6) / 5 = 17/30, stderr sqrt(17/30 / 6)', () => {
    // The sum of squares of the differences is 3 and their sum 1: variance = (3 - 1^2/6) / (6 - 1).
    const d = pairedDifference(baseline, candidate);
    expect(d.n).toBe(6);
    expect(d.mean).toBeCloseTo(1 / 6, 15);
    expect(d.stderr).toBeCloseTo(Math.sqrt(17 / 30 / 6), 15);
  });

  it('five items, differences 0 -1 +1 +1 0: variance 2.8/4 = 0.7, stderr sqrt(0.7/5) = 0.3741657…', () => {
    const d = pairedDifference(bools('11001'), bools('10111'));
    expect(d.mean).toBeCloseTo(0.2, 15);
    expect(d.stderr).toBeCloseTo(0.37416573867739417, 14);
  });

  it('identical correctness: difference 0 with stderr 0; one item: stderr undefined (null)', () => {
    expect(pairedDifference(bools('1010'), bools('1010'))).toEqual({ n: 4, mean: 0, stderr: 0 });
    expect(pairedDifference(bools('1'), bools('0'))).toEqual({ n: 1, mean: -1, stderr: null });
  });

  it('refuses samples of different lengths', () => {
    expect(() => pairedTable(bools('10'), bools('1'))).toThrow(/differ in length/);
  });
});
