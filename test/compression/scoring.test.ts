/**
 * The compression scores against values worked out by hand (the arithmetic is in the comments; the decimal
 * expansions were checked with Python's float64 math).
 */
import { describe, expect, it } from 'vitest';
import { float32ToBf16 } from '../../src/evaluators/compression/npy.js';
import { DEFAULT_PROFILE, LOSSLESS_PROFILE, normalize, roundScore, scoreSample, scoreToBeat, similarity, similarityFromSums } from '../../src/evaluators/compression/scoring.js';

const bf16 = (...values: number[]) => float32ToBf16(new Float32Array(values));

describe('similarity', () => {
  it('is 1 for a bit-exact round trip', () => {
    expect(similarity(bf16(1.5, -2, 0.25), bf16(1.5, -2, 0.25))).toBe(1);
  });

  it('a lossy reconstruction: a = (3, 4), b = (3, 2)', () => {
    // ||a|| = 5, ||b|| = sqrt(13), a·b = 9 + 8 = 17, cosine = 17 / (5 sqrt 13)
    // ||a - b|| = ||(0, 2)|| = 2, norm_similarity = 1 - 2/5 = 0.6
    // similarity = 0.6 * 17 / (5 sqrt 13) = 2.04 / sqrt 13 = 0.5657942001497337
    expect(similarity(bf16(3, 4), bf16(3, 2))).toBeCloseTo(0.5657942001497337, 15);
  });

  it('the zero-norm rule: ||a|| = 0 gives 1 when ||b|| = 0, else 0', () => {
    expect(similarity(bf16(0, 0, 0), bf16(0, -0, 0))).toBe(1); // -0 is not bit-exact, but both norms are 0
    expect(similarity(bf16(0, 0), bf16(0, 1e-3))).toBe(0);
    // ||b|| = 0 with ||a|| = 1: norm_similarity = 1 - 1/1 = 0, no cosine: 0
    expect(similarity(bf16(1, 0), bf16(0, 0))).toBe(0);
  });

  it('b = -a: cosine -1, norm_similarity 1 - 2 = -1; clipped at 0 (the default) it scores 0, unclipped the formula gives 1', () => {
    expect(similarity(bf16(3, 4), bf16(-3, -4))).toBe(0);
    // sums: aa = 25, bb = 25, ab = -25, dd = 100: cosine -1, norm_similarity 1 - 10/5 = -1, product 1
    expect(similarityFromSums(25, 25, -25, 100, false)).toBe(1);
    // b = -3a: bb = 225, ab = -75, dd = 16*25 = 400: cosine -1, norm 1 - 20/5 = -3, product 3 (> 1: why the clip)
    expect(similarityFromSums(25, 225, -75, 400, false)).toBe(3);
    expect(similarityFromSums(25, 225, -75, 400, true)).toBe(0);
  });

  it('a NaN in the reconstruction is no similarity', () => {
    expect(similarity(bf16(1, 2), bf16(1, Number.NaN))).toBe(0);
  });
});

describe('the default profile', () => {
  it('raw = (30 - t) + 1000 s + 1e6 ratio, normalised by the sigmoid', () => {
    // 4 original bytes in 2: ratio 2; t = 0.5 s; s = 0.5657942001497337 (above)
    // raw = 29.5 + 565.7942001497337 + 2,000,000 = 2,000,595.2942001498
    // normalized = 1 / (1 + exp(-0.003 * (2000.5952942 - 2000))) = 1 / (1 + exp(-0.00178588)) = 0.5004464705314488
    const s = similarity(bf16(3, 4), bf16(3, 2));
    const score = scoreSample({ originalBytes: 4, compressedBytes: 2, taskSeconds: 0.5, similarity: s, bitExact: false }, DEFAULT_PROFILE);
    expect(score.ratio).toBe(2);
    expect(score.raw).toBeCloseTo(2_000_595.2942001498, 8);
    expect(score.normalized).toBeCloseTo(0.5004464705314488, 14);
  });

  it('is 0.5 at raw 2,000,000 and 1/(1+e^6) at raw 0', () => {
    expect(normalize(2_000_000, DEFAULT_PROFILE)).toBe(0.5);
    // -0.003 * (0 - 2000) = 6
    expect(normalize(0, DEFAULT_PROFILE)).toBeCloseTo(1 / (1 + Math.exp(6)), 15);
    expect(normalize(0, DEFAULT_PROFILE)).toBeCloseTo(0.0024726231566347743, 15);
  });

  it('takes its constants from the config', () => {
    // budget 10, weights 1 and 10: raw = (10 - 2) + 1 * 1 + 10 * (8 / 4) = 8 + 1 + 20 = 29
    const profile = { ...DEFAULT_PROFILE, timeBudgetSeconds: 10, similarityWeight: 1, ratioWeight: 10 };
    expect(scoreSample({ originalBytes: 8, compressedBytes: 4, taskSeconds: 2, similarity: 1, bitExact: true }, profile).raw).toBe(29);
  });

  it("a round's score is the mean of the raw scores, normalised after", () => {
    // (2,000,000 + 2,200,000 + 0 + 2,200,000) / 4 = 1,600,000; normalized = 1/(1+exp(-0.003*(1600-2000))) = 1/(1+e^1.2)
    const round = roundScore([2_000_000, 2_200_000, 0, 2_200_000], DEFAULT_PROFILE);
    expect(round.raw).toBe(1_600_000);
    expect(round.normalized).toBeCloseTo(1 / (1 + Math.exp(1.2)), 15);
    // not the mean of the normalised scores: sigmoid(2.1e6 raw) = 0.574442516811659 for the mean of 2.0e6 and 2.2e6
    expect(roundScore([2_000_000, 2_200_000], DEFAULT_PROFILE).normalized).toBeCloseTo(0.574442516811659, 14);
  });
});

describe('the lossless profile', () => {
  it('clip((1 - c)(1 - t / 1.012), 0, 1) for a bit-exact round trip', () => {
    // c = 3000 / 4000 = 0.75; t = 0.253: 1 - 0.253 / 1.012 = 1 - 0.25 = 0.75; score = 0.25 * 0.75 = 0.1875
    const score = scoreSample({ originalBytes: 4000, compressedBytes: 3000, taskSeconds: 0.253, similarity: 1, bitExact: true }, LOSSLESS_PROFILE);
    expect(score.raw).toBeCloseTo(0.1875, 15);
    expect(score.normalized).toBe(score.raw);
    expect(score.ratio).toBeCloseTo(4 / 3, 15);
  });

  it('0 when the round trip is not bit-exact, however small', () => {
    expect(scoreSample({ originalBytes: 4000, compressedBytes: 10, taskSeconds: 0.01, similarity: 0.999999, bitExact: false }, LOSSLESS_PROFILE).raw).toBe(0);
  });

  it('clipped at 0: slower than 1.012 s, or larger than the original', () => {
    // (1 - 0.5) * (1 - 2.024 / 1.012) = 0.5 * -1 -> 0
    expect(scoreSample({ originalBytes: 4000, compressedBytes: 2000, taskSeconds: 2.024, similarity: 1, bitExact: true }, LOSSLESS_PROFILE).raw).toBe(0);
    // c = 2: (1 - 2) * (1 - 0) = -1 -> 0
    expect(scoreSample({ originalBytes: 4000, compressedBytes: 8000, taskSeconds: 0, similarity: 1, bitExact: true }, LOSSLESS_PROFILE).raw).toBe(0);
  });
});

describe('scoreToBeat', () => {
  it('1% above the current top, else above the baseline, else none', () => {
    // 2,000,000 * 1.01 = 2,020,000
    expect(scoreToBeat(2_000_000, 1_500_000, 0.01)).toBe(2_020_000);
    // no winner: 1,500,000 * 1.01 = 1,515,000
    expect(scoreToBeat(null, 1_500_000, 0.01)).toBe(1_515_000);
    expect(scoreToBeat(null, null, 0.01)).toBeNull();
    // lossless: 0.5 * 1.01 = 0.505
    expect(scoreToBeat(0.5, null, 0.01)).toBeCloseTo(0.505, 15);
  });
});
