/**
 * The results database's tables (SQLite through better-sqlite3). This file is the contract between the code
 * that writes runs (`store/`), the organizer's re-runs and the leaderboard: they share these tables and
 * nothing else. `PRAGMA user_version` holds the schema version; `migrate` brings an older file up to date and
 * refuses a newer one.
 *
 * Why the shapes are what they are:
 * - A run row is written as `running` when the run starts and becomes `complete` in the same transaction that
 *   writes its metrics, so a run killed with SIGKILL is left `running` (or `failed`), never complete-looking.
 * - Per-item results are written in transactions as documents finish, which is what `run --resume` continues
 *   from: an item row exists only with all four of its log-likelihoods.
 * - A team's standing is its *last* submission (by `submitted_at`, then `id`), as the competition's rules say.
 */
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { OptibenchError } from '../core/errors.js';

export const STORE_SCHEMA_VERSION = 1;

/** Version 1. JSON columns hold JSON text; times are ISO-8601 UTC strings. */
const V1 = `
CREATE TABLE teams (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  members     TEXT NOT NULL,            -- JSON array of { name, email? }
  created_at  TEXT NOT NULL
);

CREATE TABLE submissions (
  id            INTEGER PRIMARY KEY,
  team_id       INTEGER NOT NULL REFERENCES teams(id),
  round         INTEGER NOT NULL DEFAULT 1,
  repository    TEXT NOT NULL,          -- URL or path of the submitted repository
  commit_sha    TEXT NOT NULL,
  document      TEXT,                   -- path of the optimizations document inside the repository
  manifest      TEXT NOT NULL,          -- JSON: the validated submission manifest
  submitted_at  TEXT NOT NULL
);
CREATE INDEX submissions_by_team ON submissions(team_id, submitted_at, id);

CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,               -- the run id (also the report folder's name)
  submission_id       INTEGER REFERENCES submissions(id),  -- NULL for runs not tied to a submission
  kind                TEXT NOT NULL CHECK (kind IN ('run', 'baseline', 'rerun', 'canary')),
  status              TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
  started_at          TEXT NOT NULL,
  finished_at         TEXT,
  config              TEXT NOT NULL,                  -- JSON: the run config actually used
  config_sha256       TEXT NOT NULL,
  dataset_path        TEXT NOT NULL,
  dataset_sha256      TEXT NOT NULL,
  total_items         INTEGER NOT NULL,               -- items the run was asked to score
  shuffle_seed        INTEGER,                        -- the seed of this run's item order
  machine             TEXT,                           -- JSON: the environment (systeminformation)
  reference_match     INTEGER,                        -- 1 on the reference server, 0 elsewhere, NULL unchecked
  reference_diffs     TEXT,                           -- JSON array of what differed from the reference spec
  inference_median_ms REAL,                           -- the headline time, set when complete
  results_path        TEXT,
  report_path         TEXT,
  error               TEXT
);
CREATE INDEX runs_by_submission ON runs(submission_id, started_at);

CREATE TABLE run_metrics (
  run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name    TEXT NOT NULL,                -- acc, acc_norm, ...
  value   REAL NOT NULL,
  stderr  REAL,
  PRIMARY KEY (run_id, name)
);

CREATE TABLE run_items (
  run_id               TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  item_index           INTEGER NOT NULL,   -- the document's index in the dataset file
  gold                 INTEGER,            -- NULL where the scorer had no labels (inside a sandbox)
  loglikelihoods       TEXT NOT NULL,      -- JSON array, one per ending
  is_greedy            TEXT NOT NULL,      -- JSON array of booleans
  context_tokens       INTEGER NOT NULL,
  continuation_tokens  TEXT NOT NULL,      -- JSON array
  choice_chars         TEXT NOT NULL,      -- JSON array
  predictions          TEXT NOT NULL,      -- JSON object: metric -> predicted ending
  PRIMARY KEY (run_id, item_index)
);

CREATE TABLE gates (
  run_id           TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  baseline_run_id  TEXT NOT NULL REFERENCES runs(id),
  metric           TEXT NOT NULL,
  baseline_value   REAL NOT NULL,
  value            REAL NOT NULL,
  drop_points      REAL NOT NULL,         -- (baseline - value) * 100
  max_drop_points  REAL NOT NULL,
  passed           INTEGER NOT NULL CHECK (passed IN (0, 1)),
  full_set         INTEGER NOT NULL CHECK (full_set IN (0, 1)),
  reason           TEXT NOT NULL,
  speedup          REAL                   -- baseline median / this run's median
);
`;

const MIGRATIONS: readonly string[] = [V1];

export type StoreDatabase = Database.Database;

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

/**
 * Opens (creating if needed) a results database and brings its schema up to date. WAL keeps readers (the
 * leaderboard) off the writer's back; foreign keys are on for every connection.
 */
export function openDatabase(file: string, options: { readonly?: boolean } = {}): StoreDatabase {
  const Sqlite = sqlite();
  let db: StoreDatabase;
  try {
    db = new Sqlite(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
  } catch (error) {
    // The package is there but its addon is not (installed with --ignore-scripts, or a failed rebuild).
    if (/bindings file|better_sqlite3\.node/.test((error as Error).message)) throw notBuilt(error);
    throw new OptibenchError(`cannot open the results database: ${(error as Error).message}`, { file });
  }
  try {
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      migrate(db, file);
    } else {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== STORE_SCHEMA_VERSION) {
        throw new OptibenchError(`results database has schema version ${version}; this optibench reads version ${STORE_SCHEMA_VERSION}`, { file });
      }
    }
    return db;
  } catch (error) {
    db.close();
    if (error instanceof OptibenchError) throw error;
    throw new OptibenchError(`not a usable results database: ${(error as Error).message}`, { file });
  }
}

function migrate(db: StoreDatabase, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new OptibenchError(`results database has schema version ${version}, newer than this optibench (${STORE_SCHEMA_VERSION}): upgrade optibench`, { file });
  }
  if (version === MIGRATIONS.length) return;
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
