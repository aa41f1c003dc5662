/**
 * The inference challenge's standings: the store's standings rows (each team's last submission and the
 * organizer's re-run of it), with the figures this board shows: the median inference time, acc and acc_norm,
 * the accuracy gate's verdict with its figures, and the speedup over the baseline.
 */
import type { MetricValue } from '../../../core/result.js';
import type { ResultsStore, StandingRow, StandingsQuery, StandingsSpec } from '../../../core/store.js';
import { INFERENCE_EVALUATOR_ID } from '../hooks.js';
import { INFERENCE_HEADLINE } from '../results.js';
import { readGateFigures } from '../store/runs.js';

export interface GateView {
  readonly passed: boolean;
  readonly metric: string;
  readonly baselineRunId: string;
  readonly baselineValue: number;
  readonly value: number;
  readonly dropPoints: number;
  readonly maxDropPoints: number;
  /** False when the gate judged a subset of the items: indicative only. */
  readonly fullSet: boolean;
  readonly reason: string;
}

export interface TeamStanding extends StandingRow {
  /** The organizer-measured median inference time (the row's score). */
  readonly inferenceMs: number | null;
  /** Baseline median over this run's median: the gate's stored figure, else computed from the baseline run. */
  readonly speedup: number | null;
  readonly acc: MetricValue | null;
  readonly accNorm: MetricValue | null;
  readonly gate: GateView | null;
}

export const INFERENCE_STANDINGS: StandingsSpec = {
  evaluator: INFERENCE_EVALUATOR_ID,
  direction: INFERENCE_HEADLINE.direction,
  scoreLabel: INFERENCE_HEADLINE.label,
  positiveScore: INFERENCE_HEADLINE.positive ?? false,
  verdictLabel: 'accuracy-gate',
};

export function queryStandings(store: ResultsStore, options: StandingsQuery = {}): TeamStanding[] {
  return teamStandings(store, store.standings(INFERENCE_STANDINGS, options));
}

/** The store's rows with this board's figures. */
export function teamStandings(store: ResultsStore, rows: readonly StandingRow[]): TeamStanding[] {
  return rows.map((row) => {
    const figures = row.verdict && row.runId !== null ? readGateFigures(store, row.runId) : undefined;
    const gate: GateView | null =
      row.verdict && figures
        ? {
            passed: row.verdict.passed,
            metric: figures.metric,
            baselineRunId: row.verdict.referenceRunId ?? '',
            baselineValue: figures.baselineValue,
            value: figures.value,
            dropPoints: figures.dropPoints,
            maxDropPoints: figures.maxDropPoints,
            fullSet: figures.fullSet,
            reason: row.verdict.reason,
          }
        : null;
    // A verdict recorded by other means than the gate (no figures to show) is not placed: the board says why.
    const placed = row.verdict && !figures ? { state: 'unjudged' as const, note: 'the accuracy-gate verdict was recorded without its figures' } : {};
    return {
      ...row,
      ...placed,
      inferenceMs: row.score,
      speedup: speedupOf(row, figures?.speedup ?? null),
      acc: row.metrics.acc ?? null,
      accNorm: row.metrics.acc_norm ?? null,
      gate,
    };
  });
}

/** The gate's own figure when it stored one; otherwise the baseline run's median over this run's, if both exist. */
function speedupOf(row: StandingRow, stored: number | null): number | null {
  const verdict = row.verdict;
  if (!verdict) return null;
  if (stored !== null) return stored;
  if (verdict.referenceStatus !== 'complete' || verdict.referenceScore === null || row.score === null || row.score <= 0) return null;
  return verdict.referenceScore / row.score;
}
