/**
 * The accuracy gate: an optimized run (the candidate) may lose at most a fixed number of points of a metric
 * against the unoptimized run (the baseline) on the same items. The rule judges the point estimate (the
 * competition's rule); the paired test says how much of the difference could be chance.
 */
import { OptibenchError } from '../../core/errors.js';
import type { InferenceResult } from './results.js';
import { formatInt } from '../../report/filters.js';
import { mcnemarExactP, pairedDifference, pairedTable, type PairedTable } from './paired-test.js';

export const DEFAULT_GATE_METRIC = 'acc_norm';
export const DEFAULT_MAX_DROP_POINTS = 0.5;

export interface GateOptions {
  /** The metric the gate judges (a key of the items' predictions). */
  readonly metric: string;
  /** Largest allowed drop in points (percentage points); candidate - baseline >= -maxDropPoints passes. */
  readonly maxDropPoints: number;
}

export interface MetricComparison {
  readonly name: string;
  readonly baseline: number;
  readonly candidate: number;
  /** (candidate - baseline) x 100. */
  readonly differencePoints: number;
  /** Standard error of the paired difference, in points; null below two items. */
  readonly pairedStderrPoints: number | null;
  readonly table: PairedTable;
  /** McNemar's exact two-sided p-value on the discordant pairs. */
  readonly mcnemarP: number;
}

export interface Verdict {
  readonly pass: boolean;
  /** One sentence: pass or fail and why. */
  readonly reason: string;
  /** Set when the items were a subset: the verdict is then indicative only. */
  readonly subsetNote: string | null;
}

export interface GateResult {
  readonly items: { readonly count: number; readonly totalDocs: number; readonly datasetSha256: string; readonly datasetPath: string };
  readonly gate: GateOptions;
  readonly metrics: readonly MetricComparison[];
  readonly verdict: Verdict;
  /** Differences worth a look that do not invalidate the comparison (e.g. other model weights). */
  readonly warnings: readonly string[];
}

/** Refuses pairs of results that were not scored on the same items: a paired test on other items means nothing. */
export function checkSameItems(baseline: InferenceResult, candidate: InferenceResult, names = { baseline: 'baseline', candidate: 'candidate' }): void {
  for (const [name, r] of [[names.baseline, baseline], [names.candidate, candidate]] as const) {
    if (r.status !== 'complete') throw new OptibenchError(`the ${name} run is incomplete (${r.error ?? 'no error recorded'}): only complete runs can be judged`);
  }
  if (baseline.payload.task.name !== candidate.payload.task.name) {
    throw new OptibenchError(`the runs scored different tasks: ${baseline.payload.task.name} and ${candidate.payload.task.name}`);
  }
  const a = baseline.payload.task.dataset;
  const b = candidate.payload.task.dataset;
  if (a.sha256 !== b.sha256) {
    throw new OptibenchError(`the runs scored different datasets (sha256 ${a.sha256.slice(0, 12)}… and ${b.sha256.slice(0, 12)}…): compare runs on the same file`);
  }
  const x = baseline.payload.items;
  const y = candidate.payload.items;
  const mismatch = x.findIndex((item, i) => y[i]?.index !== item.index);
  if (x.length !== y.length || mismatch !== -1) {
    const where =
      x.length !== y.length
        ? `${x.length} items in the ${names.baseline} and ${y.length} in the ${names.candidate}`
        : `item ${mismatch} is dataset index ${x[mismatch]!.index} in the ${names.baseline} and ${y[mismatch]!.index} in the ${names.candidate}`;
    throw new OptibenchError(`the runs did not score the same items in the same order (${where}): use the same --limit and --seed`);
  }
  if (x.length === 0) throw new OptibenchError('the runs scored no items');
}

function correctness(results: InferenceResult, metric: string, name: string): boolean[] {
  return results.payload.items.map((item) => {
    const pick = item.predictions[metric];
    if (pick === undefined) {
      const known = Object.keys(item.predictions).join(', ');
      throw new OptibenchError(`metric "${metric}" is not in the ${name}'s predictions (it has ${known || 'none'})`);
    }
    return pick === item.gold;
  });
}

export function compareMetric(baseline: InferenceResult, candidate: InferenceResult, metric: string): MetricComparison {
  const base = correctness(baseline, metric, 'baseline');
  const cand = correctness(candidate, metric, 'candidate');
  const n = base.length;
  const table = pairedTable(base, cand);
  const diff = pairedDifference(base, cand);
  const baseCorrect = table.bothCorrect + table.baselineOnly;
  const candCorrect = table.bothCorrect + table.candidateOnly;
  return {
    name: metric,
    baseline: baseCorrect / n,
    candidate: candCorrect / n,
    // From the counts, so a drop of exactly one item in 200 is exactly -0.5 points, not -0.5000000000000001.
    differencePoints: (100 * (candCorrect - baseCorrect)) / n,
    pairedStderrPoints: diff.stderr === null ? null : 100 * diff.stderr,
    table,
    mcnemarP: mcnemarExactP(table.baselineOnly, table.candidateOnly),
  };
}

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
const points = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)} points`;
/** Three decimals, or two significant digits below 0.001 (so a tiny p never reads as 0.000). */
export const formatP = (p: number): string => (p >= 0.001 ? p.toFixed(3) : p.toExponential(1));

/** The gate's decision on one metric comparison: inclusive at the bound (a drop of exactly maxDrop passes). */
export function decide(m: MetricComparison, gate: GateOptions, subsetNote: string | null): Verdict {
  const pass = m.differencePoints >= -gate.maxDropPoints;
  const change = `${m.name} ${pct(m.baseline)} -> ${pct(m.candidate)} (${points(m.differencePoints)}, McNemar p = ${formatP(m.mcnemarP)})`;
  const reason = pass
    ? `PASS: ${change} is within the allowed drop of ${gate.maxDropPoints.toFixed(2)} points.`
    : `FAIL: ${change} drops more than the allowed ${gate.maxDropPoints.toFixed(2)} points.`;
  return { pass, reason, subsetNote };
}

export function subsetNote(count: number, totalDocs: number): string | null {
  if (count >= totalDocs) return null;
  return `scored on ${formatInt(count)} of ${formatInt(totalDocs)} items: indicative only; a submission is judged on the full set`;
}

/** Compares every metric both runs predicted and applies the gate to `gate.metric`. */
export function judge(baseline: InferenceResult, candidate: InferenceResult, gate: GateOptions): GateResult {
  if (!(Number.isFinite(gate.maxDropPoints) && gate.maxDropPoints >= 0)) {
    throw new OptibenchError(`the allowed drop must be a number of points >= 0, got ${gate.maxDropPoints}`, { key: 'max-drop' });
  }
  checkSameItems(baseline, candidate);
  const names = Object.keys(baseline.payload.items[0]!.predictions).filter((name) => name in candidate.payload.items[0]!.predictions);
  if (!names.includes(gate.metric)) names.push(gate.metric); // correctness() then names what the results do have
  const metrics = names.map((name) => compareMetric(baseline, candidate, name));
  const judged = metrics.find((m) => m.name === gate.metric)!;
  const ds = candidate.payload.task.dataset;
  const warnings: string[] = [];
  if (baseline.payload.model.weightsSha256 !== candidate.payload.model.weightsSha256) {
    warnings.push(`the runs used different model weights (sha256 ${baseline.payload.model.weightsSha256.slice(0, 12)}… and ${candidate.payload.model.weightsSha256.slice(0, 12)}…)`);
  }
  return {
    items: { count: candidate.payload.items.length, totalDocs: ds.totalDocs, datasetSha256: ds.sha256, datasetPath: ds.path },
    gate,
    metrics,
    verdict: decide(judged, gate, subsetNote(candidate.payload.items.length, ds.totalDocs)),
    warnings,
  };
}
