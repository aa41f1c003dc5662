/**
 * A leaderboard, as every evaluator's board is built: standings rows from the store, placed by score in the
 * evaluator's direction among the rows whose verdict passed (`src/leaderboard/rank.ts`), then written as a
 * page and its JSON twin, either by the generic page (the evaluator's `columns`) or by the evaluator's own
 * `render`. Site layout (latest board, daily snapshots, links between them) is the leaderboard's.
 */
import { z } from 'zod';
import { describeMachine } from './environment.js';
import type { MetricValue } from './result.js';
import type { ResultsStore, RunKind, StandingRow } from './store.js';

export type Ranked<Row extends StandingRow> = Row & {
  readonly rank: number;
  /** Ranked at or above the cut: goes on to the next round. */
  readonly advances: boolean;
};

export interface Board<Row extends StandingRow = StandingRow> {
  readonly ranked: readonly Ranked<Row>[];
  /** Judged, and the verdict failed (the accuracy gate, the score to beat): never ranked. */
  readonly rejected: readonly Row[];
  /** Complete runs not placed yet (see `note`), then pending ones, oldest submission first. */
  readonly pending: readonly Row[];
  readonly failed: readonly Row[];
  readonly top: number;
}

export interface BoardInfo {
  readonly title: string;
  readonly date: string;
  readonly generatedAt: string;
  readonly round: number | null;
}

/** Where one page sits in the site: links to reports and other boards are relative to `pageDir`. */
export interface PagePlace {
  readonly pageDir: string;
  /** Days of the earlier boards this page links to, newest first. */
  readonly earlier: readonly string[];
  /** Link to the latest board (from a snapshot), or null on the latest board itself. */
  readonly latestHref: string | null;
  /** Link to a day's snapshot page from this page. */
  readonly snapshotHref: (day: string) => string;
  /** Link to this board's own snapshot (from the latest board), or null on the snapshot itself. */
  readonly permalinkHref: string | null;
  /** The other evaluators' boards, linked from this page. */
  readonly otherBoards: readonly { readonly title: string; readonly href: string }[];
  /** A run's report as a link from this page (null when the run stored none). */
  readonly reportHref: (reportPath: string | null) => string | null;
}

/** How a column's value is shown: `percent` takes a fraction (0.25 = 25.00 %), with ± stderr for a metric. */
export type ColumnFormat = 'text' | 'integer' | 'number' | 'ms' | 'percent' | 'ratio';

export interface BoardColumn<Row extends StandingRow = StandingRow> {
  readonly key: string;
  readonly label: string;
  readonly format: ColumnFormat;
  value(row: Row): string | number | MetricValue | null;
}

/** What a rendered board is: its page and the JSON a script reads instead of the page. */
export interface RenderedBoard {
  readonly html: string;
  readonly json: unknown;
}

export interface BoardSpec {
  readonly title: string;
  /** The columns of the generic page, after rank and team, in order. */
  readonly columns: readonly BoardColumn[];
  /** Adds the evaluator's own figures to the store's rows (from its tables), for its columns and page. */
  standings?(store: ResultsStore, rows: readonly StandingRow[]): StandingRow[];
  /** The evaluator's own page and JSON; absent: the generic page shows `columns`. */
  render?(board: Board, info: BoardInfo, place: PagePlace): RenderedBoard;
}

/**
 * Who measured a run's figures: the organizer for its own re-runs (and baselines), the team (`self`) for runs
 * recorded with `optibench run` or `evaluate` without `--team`. The store's standings take organizer runs only,
 * so `self` never reaches a board today; the field says so rather than leaving it implied.
 */
export type TimedBy = 'organizer' | 'self';

/** How a page says who timed a row. */
export function timedByLabel(by: TimedBy | null): string {
  return by === 'organizer' ? 'organizer' : by === 'self' ? 'the team itself' : '—';
}

export function timedBy(kind: RunKind | null): TimedBy | null {
  if (kind === null) return null;
  return kind === 'rerun' || kind === 'baseline' ? 'organizer' : 'self';
}

/** What every board's JSON says of a row: whose submission, in which state, which run, who timed it where, and its report. */
export const boardRowShape = {
  team: z.string(),
  /** The members' names, as registered. */
  members: z.array(z.string()),
  teamId: z.number().int(),
  submissionId: z.number().int(),
  submissions: z.number().int().positive(),
  round: z.number().int(),
  commitSha: z.string(),
  submittedAt: z.string(),
  state: z.enum(['judged', 'unjudged', 'pending', 'failed']),
  note: z.string().nullable(),
  runId: z.string().nullable(),
  runFinishedAt: z.string().nullable(),
  timedBy: z.enum(['organizer', 'self']).nullable(),
  /** The machine the run was measured on, in one line (CPU, cores, memory, GPUs); null when not recorded. */
  machine: z.string().nullable(),
  referenceMatch: z.boolean().nullable(),
  reportPath: z.string().nullable(),
  /** The report as a link relative to the folder this file is in (or an http(s) URL as stored). */
  reportHref: z.string().nullable(),
};

/** A ranked row also has its rank and whether it goes on. */
export const rankShape = { rank: z.number().int().positive(), advances: z.boolean() };

/** What every board's JSON says of itself. */
export const boardFileShape = {
  title: z.string(),
  /** The day the board is for (YYYY-MM-DD); also the snapshot's folder name. */
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  generatedAt: z.string(),
  round: z.number().int().nullable(),
  top: z.number().int().positive(),
  /** Earlier boards kept beside this one, newest first. */
  earlier: z.array(z.string()),
};

/** A standing as every board's JSON row starts. */
export function boardRowBase(s: StandingRow, place: PagePlace): z.infer<z.ZodObject<typeof boardRowShape>> {
  return {
    team: s.team,
    members: [...s.members],
    teamId: s.teamId,
    submissionId: s.submissionId,
    submissions: s.submissions,
    round: s.round,
    commitSha: s.commitSha,
    submittedAt: s.submittedAt,
    state: s.state,
    note: s.note,
    runId: s.runId,
    runFinishedAt: s.runFinishedAt,
    timedBy: timedBy(s.runKind),
    machine: s.machine ? describeMachine(s.machine) : null,
    referenceMatch: s.referenceMatch,
    reportPath: s.reportPath,
    reportHref: place.reportHref(s.reportPath),
  };
}

/** A number a board's JSON can hold: JSON has no NaN or Infinity, and a board must say "none" rather than lie. */
export function finiteOrNull(x: number | null): number | null {
  return x !== null && Number.isFinite(x) ? x : null;
}

/** What every board's JSON says of itself, from the board, its info and its place. */
export function boardFileBase(board: Board, info: BoardInfo, place: PagePlace): z.infer<z.ZodObject<typeof boardFileShape>> {
  return { title: info.title, date: info.date, generatedAt: info.generatedAt, round: info.round, top: board.top, earlier: [...place.earlier] };
}
