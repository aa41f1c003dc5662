/**
 * Each team's standing on one evaluator's board: its last submission to that evaluator and what the organizer's
 * run of it produced. Read-only.
 *
 * The competitions' rules decide the shape: only the *last* submission counts (by `submitted_at`, then `id`),
 * even when an earlier one scored better, and only `rerun` runs (made by the organizers on their machine) stand
 * for a submission. A team's own `run`s or `canary` runs never reach the board.
 */
import { environmentSchema, type Environment } from '../core/environment.js';
import { OptibenchError } from '../core/errors.js';
import type { MetricValue } from '../core/result.js';
import type { StandingRow, StandingsQuery, StandingsSpec } from '../core/store.js';
import type { RunRow } from './runs.js';
import type { StoreDatabase } from './schema.js';
import { readVerdict } from './verdicts.js';

interface SubmissionRow {
  id: number;
  team_id: number;
  team_name: string;
  team_members: string;
  round: number;
  commit_sha: string;
  submitted_at: string;
}

type RerunRow = Pick<RunRow, 'id' | 'kind' | 'status' | 'started_at' | 'finished_at' | 'machine' | 'reference_match' | 'score' | 'report_path' | 'error'>;

/** ISO-8601 with a date, a time and a UTC offset: anything looser would make "last" depend on string luck. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

function timeOf(value: string, where: string, file: string): number {
  const ms = ISO_TIME.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new OptibenchError(`${where} is "${value}", expected an ISO-8601 time such as 2025-03-04T05:06:07Z`, { file });
  return ms;
}

/** The members' names; whatever else the column holds shows no one rather than stopping the board. */
function memberNames(text: string): string[] {
  try {
    const members = JSON.parse(text) as unknown;
    return Array.isArray(members) ? members.flatMap((m) => (typeof (m as { name?: unknown })?.name === 'string' ? [(m as { name: string }).name] : [])) : [];
  } catch {
    return [];
  }
}

/** The recorded machine, when the column holds one (a board renders whatever the store holds). */
function machineOf(text: string | null): Environment | null {
  if (text === null) return null;
  try {
    const parsed = environmentSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Newest first by time, then by id: the order "last" means everywhere on the board. */
function newestFirst<T extends { readonly id: number | string }>(rows: readonly T[], time: (row: T) => number): T[] {
  return [...rows].sort((a, b) => time(b) - time(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function queryStandings(db: StoreDatabase, spec: StandingsSpec, query: StandingsQuery = {}): StandingRow[] {
  const file = db.name;
  const submissions = db
    .prepare<[string], SubmissionRow>(
      `SELECT s.id, s.team_id, t.name AS team_name, t.members AS team_members, s.round, s.commit_sha, s.submitted_at
         FROM submissions s JOIN teams t ON t.id = s.team_id WHERE s.evaluator = ?`,
    )
    .all(spec.evaluator)
    .filter((s) => query.round === undefined || s.round === query.round);
  const byTeam = new Map<number, SubmissionRow[]>();
  for (const s of submissions) {
    timeOf(s.submitted_at, `submissions id ${s.id}: submitted_at`, file);
    byTeam.set(s.team_id, [...(byTeam.get(s.team_id) ?? []), s]);
  }
  const reruns = db.prepare<[number, string], RerunRow>(
    `SELECT id, kind, status, started_at, finished_at, machine, reference_match, score, report_path, error
       FROM runs WHERE submission_id = ? AND kind = 'rerun' AND evaluator = ?`,
  );
  const metrics = db.prepare<[string], { name: string; value: number; stderr: number | null }>('SELECT name, value, stderr FROM run_metrics WHERE run_id = ? ORDER BY name');

  const standings: StandingRow[] = [];
  for (const teamSubmissions of byTeam.values()) {
    const last = newestFirst(teamSubmissions, (s) => Date.parse(s.submitted_at))[0]!;
    const runs = newestFirst(reruns.all(last.id, spec.evaluator), (r) => timeOf(r.started_at, `runs id ${r.id}: started_at`, file));
    const complete = runs.find((r) => r.status === 'complete');
    const latest = runs[0];
    const base = {
      teamId: last.team_id,
      team: last.team_name,
      members: memberNames(last.team_members),
      submissionId: last.id,
      submissions: teamSubmissions.length,
      round: last.round,
      commitSha: last.commit_sha,
      submittedAt: last.submitted_at,
      direction: spec.direction,
    };
    if (!complete) {
      const failed = latest?.status === 'failed';
      standings.push({
        ...base,
        state: failed ? 'failed' : 'pending',
        note: failed ? (latest.error ?? 'no error recorded') : latest ? 'the re-run is under way' : 'not re-run yet',
        runId: latest?.id ?? null,
        runKind: latest?.kind ?? null,
        runFinishedAt: latest?.finished_at ?? null,
        machine: machineOf(latest?.machine ?? null),
        score: null,
        verdict: null,
        metrics: {},
        referenceMatch: null,
        reportPath: latest?.report_path ?? null,
      });
      continue;
    }
    const values: Record<string, MetricValue> = {};
    for (const m of metrics.all(complete.id)) values[m.name] = { value: m.value, stderr: m.stderr };
    const verdict = readVerdict(db, complete.id) ?? null;
    const needsVerdict = spec.verdictLabel !== null;
    const score = complete.score;
    // Whatever the store holds, only a real measurement is placed: a negative or zero time, or an infinite
    // score, would top the board.
    const note =
      needsVerdict && !verdict
        ? `no ${spec.verdictLabel} verdict recorded yet`
        : score === null
          ? `the run recorded no ${spec.scoreLabel}`
          : !Number.isFinite(score) || (spec.positiveScore && score <= 0)
            ? `its ${spec.scoreLabel} (${score}) is not a measurement`
            : null;
    standings.push({
      ...base,
      state: note === null ? 'judged' : 'unjudged',
      note,
      runId: complete.id,
      runKind: complete.kind,
      runFinishedAt: complete.finished_at,
      machine: machineOf(complete.machine),
      score: complete.score,
      verdict,
      metrics: values,
      referenceMatch: complete.reference_match === null ? null : complete.reference_match === 1,
      reportPath: complete.report_path,
    });
  }
  return standings;
}
