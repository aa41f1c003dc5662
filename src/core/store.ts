/**
 * The results store: what evaluators, the tournament and the leaderboard may ask of it. `src/store` implements
 * it on SQLite; nothing else touches the database file.
 *
 * A run's life: `createRun` (status `running`) -> `recordItems` as items finish -> `finishRun` (`complete`,
 * ONE transaction with its metrics, score and remaining items) or `failRun` (`failed`, its items kept).
 * `reopenRun` makes a killed or failed run `running` again, to be resumed. A run killed at any moment is left
 * as it was before or after a call, never complete-looking.
 *
 * The store keeps what every evaluator has (teams, submissions, runs, metrics, verdicts); an evaluator's own
 * tables (per-item results, the details of its verdicts) arrive as its migrations (`EvaluatorTables`), and it
 * reads and writes them through `sql`, inside the store's transactions where they belong to one.
 */
import type { Environment } from './environment.js';
import type { Direction, MetricValue, Result } from './result.js';
import type { NewTeam, RegisteredTeam, TeamChanges } from './team.js';

export type { NewTeam, RegisteredTeam, TeamChanges, TeamMember } from './team.js';

export type RunKind = 'run' | 'baseline' | 'rerun' | 'canary';
export type RunStatus = 'running' | 'complete' | 'failed';

/** Whether the machine matched the competition's reference server, and what differed. */
export interface ReferenceCheck {
  readonly match: boolean;
  readonly differences: readonly string[];
}

export interface NewRun {
  /** The run id (also its report folder's name). */
  readonly id: string;
  readonly evaluator: string;
  readonly kind: RunKind;
  /** The configuration actually used, as JSON. */
  readonly config: object;
  /** Its identity, as the evaluator computes it. */
  readonly configSha256: string;
  /** The data the run scores: a dataset file, a samples manifest... and its sha256. */
  readonly datasetPath: string;
  readonly datasetSha256: string;
  /** How many items the run is asked to score: `finishRun` refuses another count. */
  readonly totalItems: number;
  /** Seed of the order the items were issued in, when the evaluator shuffles them. */
  readonly shuffleSeed: number | null;
  readonly submissionId?: number | null;
  readonly startedAt?: Date;
}

export interface StoredRun {
  readonly id: string;
  readonly evaluator: string;
  readonly submissionId: number | null;
  readonly kind: RunKind;
  readonly status: RunStatus;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly config: Record<string, unknown>;
  readonly configSha256: string;
  readonly datasetPath: string;
  readonly datasetSha256: string;
  readonly totalItems: number;
  readonly shuffleSeed: number | null;
  readonly machine: Record<string, unknown> | null;
  readonly reference: ReferenceCheck | null;
  /** The headline figure the run is ranked by; null until complete, and when nothing rankable was measured. */
  readonly score: number | null;
  readonly resultsPath: string | null;
  readonly reportPath: string | null;
  readonly error: string | null;
  readonly metrics: Record<string, MetricValue>;
  /** Items recorded so far. */
  readonly itemCount: number;
}

export interface RunFinish {
  /** The complete result: its headline value becomes the run's score, its metrics and machine are stored. */
  readonly result: Result;
  /** The data it scored, checked against the run's. */
  readonly datasetSha256: string;
  /** Every item of the run; those not recorded yet are added. */
  readonly items: readonly unknown[];
  readonly resultsPath: string | null;
  readonly reportPath: string | null;
  readonly reference?: ReferenceCheck;
}

export interface FailedRun {
  readonly error: string;
  /** Items finished before the failure: kept, those not recorded yet added. */
  readonly items?: readonly unknown[];
  readonly machine?: Environment;
  readonly reference?: ReferenceCheck;
}

export interface NewSubmission {
  readonly teamId: number;
  /** The evaluator (competition) the submission is for. */
  readonly evaluator: string;
  readonly round?: number;
  readonly repository: string;
  readonly commitSha: string;
  /** Path of the optimizations document inside the repository. */
  readonly document?: string | null;
  /** The validated submission manifest. */
  readonly manifest: object;
  readonly submittedAt?: Date;
}

export interface RunQuery {
  readonly evaluator: string;
  readonly kind?: RunKind;
  readonly status?: RunStatus;
  readonly datasetSha256?: string;
  readonly totalItems?: number;
}

/** A judgement of a run, recorded; the evaluator keeps its details in its own tables. */
export interface NewVerdict {
  readonly runId: string;
  /** The run it was judged against (the baseline); it must exist. */
  readonly referenceRunId: string | null;
  readonly passed: boolean;
  readonly reason: string;
}

export interface StoredVerdict extends NewVerdict {
  /** The reference run's score and status, for figures relative to it (a speedup). */
  readonly referenceScore: number | null;
  readonly referenceStatus: RunStatus | null;
}

/** What the store needs to know of an evaluator to build its standings. */
export interface StandingsSpec {
  readonly evaluator: string;
  readonly direction: Direction;
  /** What the score is, for a note ("inference time"). */
  readonly scoreLabel: string;
  /** Scores of zero or less are no measurement (times): such rows are not placed. */
  readonly positiveScore?: boolean;
  /** Set when runs must carry a verdict to be placed ("accuracy-gate"); null when the score alone places them. */
  readonly verdictLabel: string | null;
}

export interface StandingsQuery {
  /** Only submissions of this round count (default: every round). */
  readonly round?: number;
}

/**
 * - `judged`: a complete organizer run with a score (and a verdict, where the evaluator requires one); ranked if it passed.
 * - `unjudged`: a complete run the board cannot place yet (no verdict, or no score); `note` says why.
 * - `pending`: no run of the last submission has completed and none has failed (none started, or one runs).
 * - `failed`: the last submission's latest run failed and none completed.
 */
export type StandingState = 'judged' | 'unjudged' | 'pending' | 'failed';

/** One team on one evaluator's board: its last submission and what the organizer's run of it produced. */
export interface StandingRow {
  readonly teamId: number;
  /** The team's name and its members' names, as registered (never their addresses: boards are public). */
  readonly team: string;
  readonly members: readonly string[];
  readonly submissionId: number;
  /** How many submissions the team made to this evaluator in all (the board shows the last). */
  readonly submissions: number;
  readonly round: number;
  readonly commitSha: string;
  readonly submittedAt: string;
  readonly state: StandingState;
  /** Why an `unjudged` or `pending` row is not placed, or the failed run's error. */
  readonly note: string | null;
  readonly runId: string | null;
  /** The kind of that run: who measured its figures (`rerun`: the organizer). */
  readonly runKind: RunKind | null;
  readonly runFinishedAt: string | null;
  /** The machine that run was measured on, as recorded; null when none was, or what is stored is not one. */
  readonly machine: Environment | null;
  readonly score: number | null;
  readonly direction: Direction;
  readonly verdict: StoredVerdict | null;
  readonly metrics: Readonly<Record<string, MetricValue>>;
  /** True: measured on the reference server; false: on another machine; null: not checked. */
  readonly referenceMatch: boolean | null;
  /** `report_path` as stored (the site turns it into a link). */
  readonly reportPath: string | null;
}

/** SQL values as SQLite stores them. */
export type SqlValue = string | number | bigint | null;

export interface SqlStatement {
  run(...params: SqlValue[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
}

/** What an evaluator may do with its own tables. */
export interface SqlConnection {
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
}

/** Whether the database has this table (a migration adopting an older file's tables asks). */
export function hasTable(sql: SqlConnection, name: string): boolean {
  return sql.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** One step of an evaluator's tables; applied once, in order, each in the store's migration transaction. */
export interface Migration {
  readonly description: string;
  up(sql: SqlConnection): void;
}

/** How an evaluator keeps per-item results in a table of its own, keyed by (run_id, item_index). */
export interface ItemTable<Item> {
  readonly table: string;
  /** Its columns after `run_id` and `item_index`. */
  readonly columns: readonly string[];
  /** The item's index (its position in the dataset). */
  key(item: Item): number;
  toRow(item: Item): readonly SqlValue[];
  /** From a row of the table (all columns by name); refuses what the evaluator would not have written. */
  fromRow(row: Readonly<Record<string, unknown>>, runId: string): Item;
}

export interface EvaluatorTables<Item = unknown> {
  /** The evaluator's own tables, in order; the store records how many were applied. */
  readonly migrations: readonly Migration[];
  readonly items?: ItemTable<Item>;
}

/** An evaluator's tables, as a store is opened with them. */
export interface EvaluatorTablesEntry {
  readonly id: string;
  readonly tables: EvaluatorTables;
}

export interface ResultsStore {
  /** The database file, for messages. */
  readonly location: string;
  /** Registers a team and issues its id (`core/team.ts`); a name already registered (case aside) is refused. */
  registerTeam(team: NewTeam): RegisteredTeam;
  /** The team with this registration id, if it is registered. */
  teamByRegistration(registrationId: string): RegisteredTeam | undefined;
  /** Every registered team, in the order they were registered. */
  listTeams(): RegisteredTeam[];
  /** The organizer's edit of a registration: its name, or its members (replaced as a whole). */
  updateTeam(registrationId: string, changes: TeamChanges): RegisteredTeam;
  /** Adds a submission for a registered team (`teamId` is its row id). */
  addSubmission(submission: NewSubmission): number;
  /** The latest submission with these facts, if the team made it already. */
  findSubmission(query: { teamId: number; evaluator: string; repository: string; commitSha: string; round: number }): number | undefined;
  createRun(run: NewRun): void;
  /** Adds finished items to a running run, in one transaction; an item recorded twice is refused. */
  recordItems(runId: string, items: readonly unknown[]): void;
  finishRun(runId: string, finish: RunFinish): void;
  failRun(runId: string, failure: FailedRun): void;
  /** Makes a failed or killed run running again; returns it as it was. */
  reopenRun(runId: string): StoredRun;
  readRun(runId: string): StoredRun | undefined;
  /** The run's recorded items, by index. */
  readItems(runId: string): unknown[];
  /** Runs that match, newest finished first. */
  findRuns(query: RunQuery): StoredRun[];
  /** Records (or replaces) a run's verdict; `details` writes the evaluator's own rows in the same transaction. */
  recordVerdict(verdict: NewVerdict, details?: (sql: SqlConnection) => void): void;
  readVerdict(runId: string): StoredVerdict | undefined;
  standings(spec: StandingsSpec, query?: StandingsQuery): StandingRow[];
  /** The evaluator's own tables: reads, and writes that belong to no run transaction. */
  readonly sql: SqlConnection;
  close(): void;
}
