/**
 * Paired statistics for two systems scored on the same items: each item is right or wrong under both, so
 * the comparison uses the per-item pairs rather than two independent proportions (which would ignore that
 * most items agree and overstate the uncertainty of the difference).
 */

/** How the two systems' per-item correctness pairs up. */
export interface PairedTable {
  readonly bothCorrect: number;
  /** Right under the baseline, wrong under the candidate (McNemar's b). */
  readonly baselineOnly: number;
  /** Wrong under the baseline, right under the candidate (McNemar's c). */
  readonly candidateOnly: number;
  readonly neitherCorrect: number;
}

export function pairedTable(baseline: readonly boolean[], candidate: readonly boolean[]): PairedTable {
  if (baseline.length !== candidate.length) throw new RangeError(`paired samples differ in length: ${baseline.length} and ${candidate.length}`);
  let bothCorrect = 0;
  let baselineOnly = 0;
  let candidateOnly = 0;
  let neitherCorrect = 0;
  baseline.forEach((b, i) => {
    const c = candidate[i]!;
    if (b && c) bothCorrect++;
    else if (b) baselineOnly++;
    else if (c) candidateOnly++;
    else neitherCorrect++;
  });
  return { bothCorrect, baselineOnly, candidateOnly, neitherCorrect };
}

/**
 * McNemar's exact test: under "no difference" each discordant pair is equally likely to fall either way, so
 * min(b, c) is Binomial(b + c, 1/2); the two-sided p-value doubles the smaller tail (capped at 1). No
 * discordant pairs means no evidence of a difference: p = 1.
 */
export function mcnemarExactP(b: number, c: number): number {
  if (!Number.isInteger(b) || !Number.isInteger(c) || b < 0 || c < 0) throw new RangeError(`McNemar counts must be integers >= 0, got ${b} and ${c}`);
  const n = b + c;
  if (n === 0) return 1;
  const k = Math.min(b, c);
  // Exact integer arithmetic: the tail of a 10,042-pair table lies far below what doubles can sum term by term.
  const bigN = BigInt(n);
  let term = 1n;
  let tail = 1n;
  for (let i = 0n; i < BigInt(k); i++) {
    term = (term * (bigN - i)) / (i + 1n);
    tail += term;
  }
  return Math.min(1, ratioToPowerOfTwo(2n * tail, n));
}

/** x / 2^n as a double, for x far beyond the double range: the leading 62 bits of x carry all the precision a double keeps. */
function ratioToPowerOfTwo(x: bigint, n: number): number {
  const bits = x.toString(2).length;
  const drop = Math.max(0, bits - 62);
  const mantissa = Number(x >> BigInt(drop));
  const exponent = drop - n;
  // Two steps, so that 2^exponent alone may underflow or overflow while the product does not.
  const half = Math.trunc(exponent / 2);
  return mantissa * 2 ** half * 2 ** (exponent - half);
}

/** The paired difference of per-item scores (candidate minus baseline, each 0 or 1). */
export interface PairedDifference {
  readonly n: number;
  /** Mean of the per-item differences: the candidate's accuracy minus the baseline's. */
  readonly mean: number;
  /** Sample standard deviation of the per-item differences over sqrt(n); null when n < 2 (undefined). */
  readonly stderr: number | null;
}

export function pairedDifference(baseline: readonly boolean[], candidate: readonly boolean[]): PairedDifference {
  const t = pairedTable(baseline, candidate);
  const n = baseline.length;
  if (n === 0) return { n, mean: 0, stderr: null };
  // Differences are +1 (c of them), -1 (b of them) or 0, so the sums follow from the table exactly.
  const sum = t.candidateOnly - t.baselineOnly;
  const sumSquares = t.candidateOnly + t.baselineOnly;
  const mean = sum / n;
  if (n < 2) return { n, mean, stderr: null };
  const variance = Math.max(0, (sumSquares - sum * mean) / (n - 1));
  return { n, mean, stderr: Math.sqrt(variance / n) };
}
