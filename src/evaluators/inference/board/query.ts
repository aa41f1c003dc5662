/**
 * Reads each team's standing from the results database (src/store/schema.ts): its last submission and what
 * the organizer's re-run of that submission produced. Read-only; the leaderboard never writes the database.
 *
 * The competition's rules decide the shape: only the *last* submission counts (by `submitted_at`, then `id`),
 * even when an earlier one was faster, and only `rerun` runs (made by the organizers on their machine) stand
 * for a submission. A team's own `run`s or `canary` runs never reach the board.
 */
import { OptibenchError } from '../../../core/errors.js';
import type { StoreDatabase } from '../../../store/schema.js';

export interface MetricValue {
  readonly value: number;
  readonly stderr: number | null;
}

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

/**
 * - `judged`: a complete re-run with a gate verdict and an inference time; ranked if the gate passed.
 * - `unjudged`: a complete re-run the board cannot place yet (no gate row, or no time); `note` says why.
 * - `pending`: no re-run of the last submission has completed and none has failed (none started, or one runs).
 * - `failed`: the last submission's latest re-run failed and none completed.
 */
export type StandingState = 'judged' | 'unjudged' | 'pending' | 'failed';

export interface TeamStanding {
  readonly teamId: number;
  readonly team: string;
  readonly submissionId: number;
  /** How many submissions the team made in all (the board shows the last). */
  readonly submissions: number;
  readonly round: number;
  readonly commitSha: string;
  readonly submittedAt: string;
  readonly state: StandingState;
  /** Why an `unjudged` or `pending` row is not placed, or the failed run's error. */
  readonly note: string | null;
  readonly runId: string | null;
  readonly runFinishedAt: string | null;
  readonly inferenceMs: number | null;
  /** Baseline median over this run's median: the gate's stored figure, else computed from the baseline run. */
  readonly speedup: number | null;
  readonly acc: MetricValue | null;
  readonly accNorm: MetricValue | null;
  readonly gate: GateView | null;
  /** True: measured on the reference server; false: on another machine; null: not checked. */
  readonly referenceMatch: boolean | null;
  /** `runs.report_path` as stored (the site turns it into a link). */
  readonly reportPath: string | null;
}

export interface QueryOptions {
  /** Only submissions of this round count (default: every round). */
  readonly round?: number;
}

interface SubmissionRow {
  id: number;
  team_id: number;
  team_name: string;
  round: number;
  commit_sha: string;
  submitted_at: string;
}

interface RunRow {
  id: string;
  status: 'running' | 'complete' | 'failed';
  started_at: string;
  finished_at: string | null;
  reference_match: number | null;
  inference_median_ms: number | null;
  report_path: string | null;
  error: string | null;
}

interface GateRow {
  baseline_run_id: string;
  metric: string;
  baseline_value: number;
  value: number;
  drop_points: number;
  max_drop_points: number;
  passed: number;
  full_set: number;
  reason: string;
  speedup: number | null;
  baseline_median_ms: number | null;
  baseline_status: string | null;
}

/** ISO-8601 with a date, a time and a UTC offset: anything looser would make "last" depend on string luck. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function timeOf(value: string, where: string, file: string): number {
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new OptibenchError(`${where} is "${value}", expected an ISO-8601 time such as 2025-03-04T05:06:07Z`, { file });
  return ms;
}

/** Newest first by time, then by id: the order "last" means everywhere on the board. */
function newestFirst<T extends { readonly id: number | string }>(rows: readonly T[], time: (row: T) => number): T[] {
  return [...rows].sort((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function queryStandings(db: StoreDatabase, options: QueryOptions = {}): TeamStanding[] {
  const file = db.name;
  const submissions = db
    .prepare<[], SubmissionRow>(
      `SELECT s.id, s.team_id, t.name AS team_name, s.round, s.commit_sha, s.submitted_at
         FROM submissions s JOIN teams t ON t.id = s.team_id`,
    )
    .all()
    .filter((s) => options.round === undefined || s.round === options.round);
  const byTeam = new Map<number, SubmissionRow[]>();
  for (const s of submissions) {
    timeOf(s.submitted_at, `submissions id ${s.id}: submitted_at`, file);
    byTeam.set(s.team_id, [...(byTeam.get(s.team_id) ?? []), s]);
  }
  const reruns = db.prepare<[number], RunRow>(
    `SELECT id, status, started_at, finished_at, reference_match, inference_median_ms, report_path, error
       FROM runs WHERE submission_id = ? AND kind = 'rerun'`,
  );
  const metrics = db.prepare<[string], { name: string; value: number; stderr: number | null }>(
    `SELECT name, value, stderr FROM run_metrics WHERE run_id = ? AND name IN ('acc', 'acc_norm')`,
  );
  const gates = db.prepare<[string], GateRow>(
    `SELECT g.baseline_run_id, g.metric, g.baseline_value, g.value, g.drop_points, g.max_drop_points, g.passed,
            g.full_set, g.reason, g.speedup, b.inference_median_ms AS baseline_median_ms, b.status AS baseline_status
       FROM gates g LEFT JOIN runs b ON b.id = g.baseline_run_id WHERE g.run_id = ?`,
  );

  const standings: TeamStanding[] = [];
  for (const teamSubmissions of byTeam.values()) {
    const last = newestFirst(teamSubmissions, (s) => Date.parse(s.submitted_at))[0]!;
    const runs = newestFirst(reruns.all(last.id), (r) => timeOf(r.started_at, `runs id ${r.id}: started_at`, file));
    const complete = runs.find((r) => r.status === 'complete');
    const latest = runs[0];
    const base = {
      teamId: last.team_id,
      team: last.team_name,
      submissionId: last.id,
      submissions: teamSubmissions.length,
      round: last.round,
      commitSha: last.commit_sha,
      submittedAt: last.submitted_at,
    };
    if (!complete) {
      const failed = latest?.status === 'failed';
      standings.push({
        ...base,
        state: failed ? 'failed' : 'pending',
        note: failed ? (latest.error ?? 'no error recorded') : latest ? 'the re-run is under way' : 'not re-run yet',
        runId: latest?.id ?? null,
        runFinishedAt: latest?.finished_at ?? null,
        inferenceMs: null,
        speedup: null,
        acc: null,
        accNorm: null,
        gate: null,
        referenceMatch: null,
        reportPath: latest?.report_path ?? null,
      });
      continue;
    }
    const values = new Map(metrics.all(complete.id).map((m) => [m.name, { value: m.value, stderr: m.stderr }]));
    const gateRow = gates.get(complete.id);
    const gate = gateRow ? gateView(gateRow) : null;
    const state = gate && complete.inference_median_ms !== null ? 'judged' : 'unjudged';
    standings.push({
      ...base,
      state,
      note: state === 'judged' ? null : !gate ? 'no accuracy-gate verdict recorded yet' : 'the run recorded no inference time',
      runId: complete.id,
      runFinishedAt: complete.finished_at,
      inferenceMs: complete.inference_median_ms,
      speedup: speedupOf(gateRow, complete.inference_median_ms),
      acc: values.get('acc') ?? null,
      accNorm: values.get('acc_norm') ?? null,
      gate,
      referenceMatch: complete.reference_match === null ? null : complete.reference_match === 1,
      reportPath: complete.report_path,
    });
  }
  return standings;
}

function gateView(row: GateRow): GateView {
  return {
    passed: row.passed === 1,
    metric: row.metric,
    baselineRunId: row.baseline_run_id,
    baselineValue: row.baseline_value,
    value: row.value,
    dropPoints: row.drop_points,
    maxDropPoints: row.max_drop_points,
    fullSet: row.full_set === 1,
    reason: row.reason,
  };
}

/** The gate's own figure when it stored one; otherwise the baseline run's median over this run's, if both exist. */
function speedupOf(gate: GateRow | undefined, medianMs: number | null): number | null {
  if (!gate) return null;
  if (gate.speedup !== null) return gate.speedup;
  if (gate.baseline_status !== 'complete' || gate.baseline_median_ms === null || medianMs === null || medianMs <= 0) return null;
  return gate.baseline_median_ms / medianMs;
}
