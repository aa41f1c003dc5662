/**
 * The results store on SQLite: `core/store.ts` implemented over the tables of `schema.ts` and the tables of the
 * evaluators it is opened with. Opening for an evaluator applies its migrations; a store opened without an
 * evaluator's tables refuses to touch that evaluator's items.
 */
import type {
  ItemTable,
  NewRun,
  NewSubmission,
  NewTeam,
  NewVerdict,
  RegisteredTeam,
  ResultsStore,
  FailedRun,
  RunFinish,
  RunQuery,
  SqlConnection,
  StandingRow,
  StandingsQuery,
  StandingsSpec,
  StoredRun,
  StoredVerdict,
  TeamChanges,
} from '../core/store.js';
import * as runs from './runs.js';
import { openDatabase, sqlConnection, type EvaluatorTablesEntry, type OpenOptions, type StoreDatabase } from './schema.js';
import { queryStandings } from './standings.js';
import { addSubmission, findSubmission, listTeams, registerTeam, teamByRegistration, updateTeam } from './teams.js';
import { readVerdict, recordVerdict } from './verdicts.js';

export class SqliteStore implements ResultsStore {
  private readonly items: ReadonlyMap<string, ItemTable<unknown> | null>;

  constructor(
    /** The open database (better-sqlite3), for tests that read it directly. */
    readonly db: StoreDatabase,
    evaluators: readonly EvaluatorTablesEntry[] = [],
  ) {
    this.items = new Map(evaluators.map(({ id, tables }) => [id, (tables.items as ItemTable<unknown> | undefined) ?? null]));
  }

  get location(): string {
    return this.db.name;
  }

  get sql(): SqlConnection {
    return sqlConnection(this.db);
  }

  registerTeam(team: NewTeam): RegisteredTeam {
    return registerTeam(this.db, team);
  }

  teamByRegistration(registrationId: string): RegisteredTeam | undefined {
    return teamByRegistration(this.db, registrationId);
  }

  listTeams(): RegisteredTeam[] {
    return listTeams(this.db);
  }

  updateTeam(registrationId: string, changes: TeamChanges): RegisteredTeam {
    return updateTeam(this.db, registrationId, changes);
  }

  addSubmission(submission: NewSubmission): number {
    return addSubmission(this.db, submission);
  }

  findSubmission(query: { teamId: number; evaluator: string; repository: string; commitSha: string; round: number }): number | undefined {
    return findSubmission(this.db, query);
  }

  createRun(run: NewRun): void {
    runs.createRun(this.db, run);
  }

  recordItems(runId: string, items: readonly unknown[]): void {
    runs.recordItems(this.db, this.items, runId, items);
  }

  finishRun(runId: string, finish: RunFinish): void {
    runs.finishRun(this.db, this.items, runId, finish);
  }

  failRun(runId: string, failure: FailedRun): void {
    runs.failRun(this.db, this.items, runId, failure);
  }

  reopenRun(runId: string): StoredRun {
    return runs.reopenRun(this.db, this.items, runId);
  }

  readRun(runId: string): StoredRun | undefined {
    return runs.readRun(this.db, this.items, runId);
  }

  readItems(runId: string): unknown[] {
    return runs.readItems(this.db, this.items, runId);
  }

  findRuns(query: RunQuery): StoredRun[] {
    return runs.findRuns(this.db, this.items, query);
  }

  recordVerdict(verdict: NewVerdict, details?: (sql: SqlConnection) => void): void {
    recordVerdict(this.db, verdict, details);
  }

  readVerdict(runId: string): StoredVerdict | undefined {
    return readVerdict(this.db, runId);
  }

  standings(spec: StandingsSpec, query?: StandingsQuery): StandingRow[] {
    return queryStandings(this.db, spec, query);
  }

  close(): void {
    this.db.close();
  }
}

/** Opens (creating if needed) the results database at `file` for these evaluators (see `openDatabase`). */
export function openStore(file: string, options: OpenOptions = {}): SqliteStore {
  return new SqliteStore(openDatabase(file, options), options.evaluators ?? []);
}
