/**
 * The results database's own tables (SQLite through better-sqlite3), and the migrations that bring a file up to
 * date: the store's (`PRAGMA user_version`) and each evaluator's (`store_versions`, one row per evaluator,
 * holding how many of its migrations were applied). A file newer than this optibench is refused.
 *
 * Why the shapes are what they are:
 * - A run row is written as `running` when the run starts and becomes `complete` in the same transaction that
 *   writes its metrics and score, so a run killed with SIGKILL is left `running` (or `failed`), never
 *   complete-looking.
 * - Per-item results live in the evaluator's own table (its shape is the evaluator's), written in
 *   transactions as items finish: that is what `run --resume` continues from.
 * - A team is its registration (`registration_id`, issued by the organizer): manifests and commands name that id,
 *   so nothing a team writes can speak for another team; name and members change only through `team update`.
 * - A team's standing on a board is its *last* submission to that evaluator (by `submitted_at`, then `id`), as
 *   the competitions' rules say.
 * - A verdict is common (passed, why, against which run); the figures behind it are the evaluator's.
 */
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { OptibenchError } from '../core/errors.js';
import { hasTable, type EvaluatorTablesEntry, type SqlConnection, type SqlStatement } from '../core/store.js';
import { newRegistrationId } from '../core/team.js';

export const STORE_SCHEMA_VERSION = 3;

export type StoreDatabase = Database.Database;

/** The database as an evaluator's code sees it (`core/store.ts`): statements and scripts, nothing else. */
export function sqlConnection(db: StoreDatabase): SqlConnection {
  return {
    // better-sqlite3's statements take SQL values as the contract's do; its generic signature only says more.
    prepare: (sql) => db.prepare(sql) as unknown as SqlStatement,
    exec: (sql) => void db.exec(sql),
  };
}

export type { EvaluatorTablesEntry };

/** Version 3, what a new file gets. JSON columns hold JSON text; times are ISO-8601 UTC strings. */
const CURRENT = `
CREATE TABLE teams (
  id               INTEGER PRIMARY KEY,
  registration_id  TEXT NOT NULL UNIQUE,   -- the id the organizer issued (team-xxxxxxxx): what manifests and --team name
  name             TEXT NOT NULL UNIQUE,
  members          TEXT NOT NULL,          -- JSON array of { name, email? }
  created_at       TEXT NOT NULL           -- when the team was registered
);

CREATE TABLE submissions (
  id            INTEGER PRIMARY KEY,
  team_id       INTEGER NOT NULL REFERENCES teams(id),
  evaluator     TEXT NOT NULL,          -- the competition the submission is for
  round         INTEGER NOT NULL DEFAULT 1,
  repository    TEXT NOT NULL,          -- URL or path of the submitted repository
  commit_sha    TEXT NOT NULL,
  document      TEXT,                   -- path of the optimizations document inside the repository
  manifest      TEXT NOT NULL,          -- JSON: the validated submission manifest
  submitted_at  TEXT NOT NULL
);
CREATE INDEX submissions_by_team ON submissions(team_id, evaluator, submitted_at, id);

CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,               -- the run id (also the report folder's name)
  evaluator           TEXT NOT NULL,                  -- which evaluator scored it
  submission_id       INTEGER REFERENCES submissions(id),  -- NULL for runs not tied to a submission
  kind                TEXT NOT NULL CHECK (kind IN ('run', 'baseline', 'rerun', 'canary')),
  status              TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
  started_at          TEXT NOT NULL,
  finished_at         TEXT,
  config              TEXT NOT NULL,                  -- JSON: the config actually used
  config_sha256       TEXT NOT NULL,
  dataset_path        TEXT NOT NULL,                  -- what the run scored (a dataset, a samples manifest)
  dataset_sha256      TEXT NOT NULL,
  total_items         INTEGER NOT NULL,               -- items the run was asked to score
  shuffle_seed        INTEGER,                        -- the seed of this run's item order
  machine             TEXT,                           -- JSON: the environment (systeminformation)
  reference_match     INTEGER,                        -- 1 on the reference server, 0 elsewhere, NULL unchecked
  reference_diffs     TEXT,                           -- JSON array of what differed from the reference spec
  score               REAL,                           -- the evaluator's headline figure, set when complete
  results_path        TEXT,
  report_path         TEXT,
  error               TEXT
);
CREATE INDEX runs_by_submission ON runs(submission_id, started_at);
CREATE INDEX runs_by_evaluator ON runs(evaluator, kind, status);

CREATE TABLE run_metrics (
  run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name    TEXT NOT NULL,                -- acc, acc_norm, ...
  value   REAL NOT NULL,
  stderr  REAL,
  PRIMARY KEY (run_id, name)
);

CREATE TABLE verdicts (
  run_id            TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  reference_run_id  TEXT REFERENCES runs(id),   -- what it was judged against (the baseline), if anything
  passed            INTEGER NOT NULL CHECK (passed IN (0, 1)),
  reason            TEXT NOT NULL,
  recorded_at       TEXT NOT NULL
);

CREATE TABLE store_versions (
  evaluator  TEXT PRIMARY KEY,          -- whose tables
  version    INTEGER NOT NULL           -- how many of its migrations were applied
);
`;

/**
 * Version 1 held only the inference challenge, in tables shaped for it. Its runs and submissions become the
 * inference evaluator's, its headline times scores, and its gate verdicts common verdicts; what stays the
 * inference evaluator's own (per-item log-likelihoods, the gate's figures) is kept under `legacy_v1_*` names
 * until that evaluator's first migration adopts it.
 */
const V1_TO_V2 = `
CREATE TABLE submissions_v2 (
  id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL REFERENCES teams(id), evaluator TEXT NOT NULL,
  round INTEGER NOT NULL DEFAULT 1, repository TEXT NOT NULL, commit_sha TEXT NOT NULL, document TEXT,
  manifest TEXT NOT NULL, submitted_at TEXT NOT NULL
);
INSERT INTO submissions_v2 SELECT id, team_id, 'inference', round, repository, commit_sha, document, manifest, submitted_at FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_v2 RENAME TO submissions;
CREATE INDEX submissions_by_team ON submissions(team_id, evaluator, submitted_at, id);

CREATE TABLE runs_v2 (
  id TEXT PRIMARY KEY, evaluator TEXT NOT NULL, submission_id INTEGER REFERENCES submissions(id),
  kind TEXT NOT NULL CHECK (kind IN ('run', 'baseline', 'rerun', 'canary')),
  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
  started_at TEXT NOT NULL, finished_at TEXT, config TEXT NOT NULL, config_sha256 TEXT NOT NULL,
  dataset_path TEXT NOT NULL, dataset_sha256 TEXT NOT NULL, total_items INTEGER NOT NULL, shuffle_seed INTEGER,
  machine TEXT, reference_match INTEGER, reference_diffs TEXT, score REAL, results_path TEXT, report_path TEXT, error TEXT
);
INSERT INTO runs_v2 SELECT id, 'inference', submission_id, kind, status, started_at, finished_at, config, config_sha256,
  dataset_path, dataset_sha256, total_items, shuffle_seed, machine, reference_match, reference_diffs, inference_median_ms,
  results_path, report_path, error FROM runs;
DROP INDEX runs_by_submission;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_by_submission ON runs(submission_id, started_at);
CREATE INDEX runs_by_evaluator ON runs(evaluator, kind, status);

CREATE TABLE verdicts (
  run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE, reference_run_id TEXT REFERENCES runs(id),
  passed INTEGER NOT NULL CHECK (passed IN (0, 1)), reason TEXT NOT NULL, recorded_at TEXT NOT NULL
);
INSERT INTO verdicts SELECT g.run_id, g.baseline_run_id, g.passed, g.reason, COALESCE(r.finished_at, r.started_at)
  FROM gates g JOIN runs r ON r.id = g.run_id;

ALTER TABLE run_items RENAME TO legacy_v1_run_items;
ALTER TABLE gates RENAME TO legacy_v1_gates;

CREATE TABLE store_versions (evaluator TEXT PRIMARY KEY, version INTEGER NOT NULL);
`;

/**
 * Version 2 named teams by free text: whoever wrote a manifest with a team's name spoke for that team. Version 3
 * gives every team a registration id; teams already there get one now (the organizer lists them with
 * `optibench team list` and hands them out), nothing else changes. The table is rebuilt so that the column is
 * NOT NULL UNIQUE exactly as in a new file.
 */
function v2ToV3(db: StoreDatabase): void {
  db.exec(`CREATE TABLE teams_v3 (
    id INTEGER PRIMARY KEY, registration_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, members TEXT NOT NULL, created_at TEXT NOT NULL
  )`);
  const insert = db.prepare('INSERT INTO teams_v3 (id, registration_id, name, members, created_at) SELECT id, ?, name, members, created_at FROM teams WHERE id = ?');
  const issued = new Set<string>();
  for (const { id } of db.prepare('SELECT id FROM teams ORDER BY id').all() as { id: number }[]) {
    let registrationId = newRegistrationId();
    while (issued.has(registrationId)) registrationId = newRegistrationId();
    issued.add(registrationId);
    insert.run(registrationId, id);
  }
  db.exec('DROP TABLE teams; ALTER TABLE teams_v3 RENAME TO teams;');
}

/** `UPGRADES[v]` takes a file from version v to v + 1: a script, or code where each row needs its own value. */
const UPGRADES: Readonly<Record<number, string | ((db: StoreDatabase) => void)>> = { 1: V1_TO_V2, 2: v2ToV3 };

/**
 * better-sqlite3 is a native addon built at install time, and an optional dependency: where it cannot build
 * (no compiler, or no Node headers and no internet to fetch them) `npm install` still succeeds and everything
 * but the results database works. Loaded on first use, so the other commands never depend on it.
 */
function sqlite(): typeof Database {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  } catch (error) {
    throw notBuilt(error);
  }
}

function notBuilt(error: unknown): OptibenchError {
  return new OptibenchError(
    `the results database needs better-sqlite3, which is not built on this machine (${(error as Error).message.split('\n')[0]}): ` +
      "install a C++ toolchain (Debian: apt-get install g++ make python3) and point npm at Node's headers (npm config set nodedir /usr, or let node-gyp download them), then run npm install again",
  );
}

export interface OpenOptions {
  /**
   * Never write the file. An older file is then upgraded in memory for this reader only (the leaderboard of a
   * database written by an older optibench), and the file stays as it was.
   */
  readonly readonly?: boolean;
  /** The evaluators whose tables this connection reads or writes: their migrations are applied. */
  readonly evaluators?: readonly EvaluatorTablesEntry[];
}

/**
 * Opens (creating if needed) a results database and brings the store's tables and the given evaluators'
 * tables up to date. WAL keeps readers (the leaderboard) off the writer's back; foreign keys are on for every
 * connection.
 */
export function openDatabase(file: string, options: OpenOptions = {}): StoreDatabase {
  const Sqlite = sqlite();
  const readonly = options.readonly ?? false;
  let db: StoreDatabase;
  try {
    db = new Sqlite(file, { readonly, fileMustExist: readonly });
  } catch (error) {
    // The package is there but its addon is not (installed with --ignore-scripts, or a failed rebuild).
    if (/bindings file|better_sqlite3\.node/.test((error as Error).message)) throw notBuilt(error);
    throw new OptibenchError(`cannot open the results database: ${(error as Error).message}`, { file });
  }
  try {
    db.pragma('busy_timeout = 5000');
    if (readonly) {
      checkNotNewer(db, file, options.evaluators ?? []);
      if (upToDate(db, options.evaluators ?? [])) {
        db.pragma('foreign_keys = ON');
        return db;
      }
      const copy = inMemoryCopy(Sqlite, db);
      db.close();
      db = copy;
    } else {
      db.pragma('journal_mode = WAL');
    }
    migrate(db, file, options.evaluators ?? []);
    db.pragma('foreign_keys = ON');
    return db;
  } catch (error) {
    db.close();
    if (error instanceof OptibenchError) throw error;
    throw new OptibenchError(`not a usable results database: ${(error as Error).message}`, { file });
  }
}

/**
 * The file's pages as an in-memory database. SQLite keeps WAL mode in the header (bytes 18 and 19 = 2), which
 * an in-memory database cannot have: the copy says rollback journal (1) instead.
 */
function inMemoryCopy(Sqlite: typeof Database, db: StoreDatabase): StoreDatabase {
  const pages = db.serialize();
  pages[18] = 1;
  pages[19] = 1;
  return new Sqlite(pages);
}

function coreVersion(db: StoreDatabase): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function evaluatorVersion(db: StoreDatabase, evaluator: string): number {
  if (!hasTable(sqlConnection(db), 'store_versions')) return 0;
  const row = db.prepare('SELECT version FROM store_versions WHERE evaluator = ?').get(evaluator) as { version: number } | undefined;
  return row?.version ?? 0;
}

function checkNotNewer(db: StoreDatabase, file: string, evaluators: readonly EvaluatorTablesEntry[]): void {
  const version = coreVersion(db);
  if (version > STORE_SCHEMA_VERSION) {
    throw new OptibenchError(`results database has schema version ${version}, newer than this optibench (${STORE_SCHEMA_VERSION}): upgrade optibench`, { file });
  }
  for (const { id, tables } of evaluators) {
    const applied = evaluatorVersion(db, id);
    if (applied > tables.migrations.length) {
      throw new OptibenchError(
        `results database has version ${applied} of the ${id} evaluator's tables, newer than this optibench (${tables.migrations.length}): upgrade optibench`,
        { file },
      );
    }
  }
}

function upToDate(db: StoreDatabase, evaluators: readonly EvaluatorTablesEntry[]): boolean {
  return coreVersion(db) === STORE_SCHEMA_VERSION && evaluators.every(({ id, tables }) => evaluatorVersion(db, id) === tables.migrations.length);
}

/**
 * Brings the store's tables and the evaluators' up to date in ONE transaction, so no reader ever sees a file half
 * made or half upgraded (a new file's tables appear all at once, the inference evaluator's with the store's).
 */
function migrate(db: StoreDatabase, file: string, evaluators: readonly EvaluatorTablesEntry[]): void {
  checkNotNewer(db, file, evaluators);
  const version = coreVersion(db);
  const pending = evaluators.filter(({ id, tables }) => evaluatorVersion(db, id) < tables.migrations.length);
  if (version === STORE_SCHEMA_VERSION && pending.length === 0) return;
  const upgradingCore = version < STORE_SCHEMA_VERSION;
  // Tables are rebuilt (created anew, copied, renamed), which foreign keys would forbid mid-way; they are
  // checked as a whole before the transaction commits. The pragma only works outside a transaction.
  if (upgradingCore) db.pragma('foreign_keys = OFF');
  try {
    db.transaction(() => {
      if (upgradingCore) {
        if (version === 0) db.exec(CURRENT);
        else {
          for (let v = version; v < STORE_SCHEMA_VERSION; v++) {
            const upgrade = UPGRADES[v]!;
            if (typeof upgrade === 'string') db.exec(upgrade);
            else upgrade(db);
          }
        }
        db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);
      }
      for (const { id, tables } of pending) {
        for (const migration of tables.migrations.slice(evaluatorVersion(db, id))) {
          try {
            migration.up(sqlConnection(db));
          } catch (error) {
            throw new OptibenchError(`the ${id} evaluator's migration "${migration.description}" failed: ${(error as Error).message}`, { file });
          }
        }
        db.prepare('INSERT INTO store_versions (evaluator, version) VALUES (?, ?) ON CONFLICT (evaluator) DO UPDATE SET version = excluded.version').run(
          id,
          tables.migrations.length,
        );
      }
      const broken = db.pragma('foreign_key_check') as unknown[];
      if (broken.length) throw new OptibenchError(`upgrading the results database would break ${broken.length} references between its tables`, { file });
    }).immediate();
  } finally {
    if (upgradingCore) db.pragma('foreign_keys = ON');
  }
}
