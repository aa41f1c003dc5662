/**
 * The inference challenge's standings: the store's standings rows (each team's last submission and the
 * organizer's re-run of it), with the figures this board shows: the median inference time, acc and acc_norm,
 * the accuracy gate's verdict with its figures, the speedup over the baseline and the baseline's own time.
 *
 * Times come from the store as they are: a baseline's time that is missing, zero, negative, infinite or not a
 * number at all (SQLite keeps text in a REAL column) is no measurement, and nothing is computed from it.
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

/** The baseline run a row's speedup is against, and its median inference time (null: not a measurement). */
export interface BaselineView {
  readonly runId: string;
  readonly medianMs: number | null;
}

export interface TeamStanding extends StandingRow {
  /** The organizer-measured median inference time (the row's score). */
  readonly inferenceMs: number | null;
  /** Baseline median over this run's median: the gate's stored figure, else computed from the baseline run. */
  readonly speedup: number | null;
  /** The run the verdict judged against; null without a verdict naming one. */
  readonly baseline: BaselineView | null;
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
    const baselineMs = row.verdict?.referenceStatus === 'complete' ? measured(row.verdict.referenceScore) : null;
    return {
      ...row,
      ...placed,
      inferenceMs: row.score,
      speedup: row.verdict ? (measured(figures?.speedup) ?? ratio(baselineMs, measured(row.score))) : null,
      baseline: row.verdict?.referenceRunId ? { runId: row.verdict.referenceRunId, medianMs: baselineMs } : null,
      acc: row.metrics.acc ?? null,
      accNorm: row.metrics.acc_norm ?? null,
      gate,
    };
  });
}

/** A time or a ratio that is a measurement: a finite number above zero, whatever type the column gave. */
function measured(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : null;
}

/** The baseline's median over the run's, when both are measurements. */
function ratio(baselineMs: number | null, runMs: number | null): number | null {
  return baselineMs !== null && runMs !== null ? baselineMs / runMs : null;
}
