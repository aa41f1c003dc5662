/**
 * The compression competition's scores (issue 11, "Scoring"), computed by the evaluator outside every sandbox,
 * in float64. Two profiles:
 *
 * - `default`: raw = (timeBudget - task_time) + similarityWeight * similarity + ratioWeight * ratio, with
 *   similarity = cosine * norm_similarity, norm_similarity = 1 - ||a - b|| / ||a||; normalised with
 *   1 / (1 + exp(-slope * (raw / scale - center))).
 * - `lossless`: clip((1 - c) * (1 - task_time / (timeScale + timeSlack)), 0, 1) with c = compressed / original,
 *   0 unless the round trip is bit-exact; already in [0, 1], so its normalised score is itself.
 *
 * A round's score is the mean of the per-sample raw scores, normalised after.
 */
import { bf16ToFloat32 } from './npy.js';

export interface DefaultProfile {
  readonly name: 'default';
  readonly timeBudgetSeconds: number;
  readonly similarityWeight: number;
  readonly ratioWeight: number;
  readonly sigmoidSlope: number;
  readonly sigmoidScale: number;
  readonly sigmoidCenter: number;
  /**
   * norm_similarity is clipped at 0 (default true). Without it the formula rewards b = -k·a: cosine -1 times
   * norm_similarity 1 - (k + 1) = -k gives similarity k, unbounded, for a reconstruction that is pure garbage.
   */
  readonly clipNormSimilarity: boolean;
}

export interface LosslessProfile {
  readonly name: 'lossless';
  readonly timeScale: number;
  readonly timeSlack: number;
}

export type ScoringProfile = DefaultProfile | LosslessProfile;

export const DEFAULT_PROFILE: DefaultProfile = { name: 'default', timeBudgetSeconds: 30, similarityWeight: 1000, ratioWeight: 1_000_000, sigmoidSlope: 0.003, sigmoidScale: 1000, sigmoidCenter: 2000, clipNormSimilarity: true };
export const LOSSLESS_PROFILE: LosslessProfile = { name: 'lossless', timeScale: 1, timeSlack: 0.012 };

/** What the scores of one sample are computed from, all measured or checked outside the sandbox. */
export interface SampleMeasurement {
  readonly originalBytes: number;
  readonly compressedBytes: number;
  /** compression + decompression seconds, timed by the evaluator. */
  readonly taskSeconds: number;
  readonly similarity: number;
  readonly bitExact: boolean;
}

export interface SampleScore {
  readonly ratio: number;
  readonly raw: number;
  readonly normalized: number;
}

/**
 * cosine * (1 - ||a - b|| / ||a||) over the bfloat16 values, in float64. ||a|| = 0: 1 if ||b|| = 0, else 0.
 * ||b|| = 0 with ||a|| > 0 has no cosine; its norm_similarity is 0, so the similarity is 0. Anything not finite
 * (a NaN or infinity in the reconstruction) is no similarity: 0. A bit-exact round trip is 1, the formula's
 * exact value, so rounding in the sums cannot cost an exact solution.
 */
export function similarity(original: Uint16Array, reconstructed: Uint16Array, clipNorm = true): number {
  if (original.length !== reconstructed.length) throw new Error(`similarity of ${original.length} and ${reconstructed.length} values`);
  if (bitExact(original, reconstructed)) return 1;
  const a = bf16ToFloat32(original);
  const b = bf16ToFloat32(reconstructed);
  let aa = 0;
  let bb = 0;
  let ab = 0;
  let dd = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    aa += x * x;
    bb += y * y;
    ab += x * y;
    dd += (x - y) * (x - y);
  }
  return similarityFromSums(aa, bb, ab, dd, clipNorm);
}

/** The similarity from Σa², Σb², Σab and Σ(a-b)² (separate so the rules can be checked on hand-made sums). */
export function similarityFromSums(aa: number, bb: number, ab: number, dd: number, clipNorm = true): number {
  if (![aa, bb, ab, dd].every(Number.isFinite)) return 0;
  const normA = Math.sqrt(aa);
  const normB = Math.sqrt(bb);
  if (normA === 0) return normB === 0 ? 1 : 0;
  if (normB === 0) return 0;
  const cosine = ab / (normA * normB);
  const normSimilarity = 1 - Math.sqrt(dd) / normA;
  const s = cosine * (clipNorm ? Math.max(0, normSimilarity) : normSimilarity);
  // + 0: a -0 product (cosine -1 times a clipped 0) is reported as 0.
  return Number.isFinite(s) ? s + 0 : 0;
}

export function bitExact(a: Uint16Array, b: Uint16Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function normalize(raw: number, profile: ScoringProfile): number {
  if (profile.name === 'lossless') return raw;
  return 1 / (1 + Math.exp(-profile.sigmoidSlope * (raw / profile.sigmoidScale - profile.sigmoidCenter)));
}

export function scoreSample(m: SampleMeasurement, profile: ScoringProfile): SampleScore {
  const ratio = m.originalBytes / m.compressedBytes;
  let raw: number;
  if (profile.name === 'lossless') {
    const c = m.compressedBytes / m.originalBytes;
    raw = m.bitExact ? Math.min(1, Math.max(0, (1 - c) * (1 - m.taskSeconds / (profile.timeScale + profile.timeSlack)))) : 0;
  } else {
    raw = profile.timeBudgetSeconds - m.taskSeconds + profile.similarityWeight * m.similarity + profile.ratioWeight * ratio;
  }
  return { ratio, raw, normalized: normalize(raw, profile) };
}

/** A sample whose call failed (timeout, crash, wrong bytes, a limit): 0, and so is its normalised score. */
export const FAILED_SAMPLE_SCORE = { raw: 0, normalized: 0 } as const;

export interface RoundScore {
  readonly raw: number;
  readonly normalized: number;
}

/** The mean of the per-sample raw scores (failed samples count as 0), then normalised. */
export function roundScore(raws: readonly number[], profile: ScoringProfile): RoundScore {
  const raw = raws.length === 0 ? 0 : raws.reduce((s, x) => s + x, 0) / raws.length;
  return { raw, normalized: normalize(raw, profile) };
}

/**
 * The challenge rule: an entry takes the top only with a raw score at least `margin` (1%) above the current
 * top's, or above the baseline's when there is no winner yet; null when there is neither (anything takes it).
 */
export function scoreToBeat(top: number | null, baseline: number | null, margin: number): number | null {
  const against = top ?? baseline;
  return against === null ? null : against + Math.abs(against) * margin;
}
