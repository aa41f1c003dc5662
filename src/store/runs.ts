/**
 * Run rows in the results database (tables in `schema.ts`), for any evaluator. Each write is one transaction,
 * so a process killed at any moment leaves either the state before the call or the state after it. Items go
 * to the run's evaluator's own table, through its `ItemTable`.
 */
import { canonicalJson } from '../core/canonical-json.js';
import { OptibenchError } from '../core/errors.js';
import type { ItemTable, NewRun, FailedRun, RunFinish, RunQuery, RunStatus, SqlValue, StoredRun } from '../core/store.js';
import type { StoreDatabase } from './schema.js';

/** The item tables of the evaluators a store was opened with, by evaluator id (null: it keeps no per-item rows). */
export type ItemTables = ReadonlyMap<string, ItemTable<unknown> | null>;

/** A row of `runs`, as SQLite gives it. */
export interface RunRow {
  id: string;
  evaluator: string;
  submission_id: number | null;
  kind: StoredRun['kind'];
  status: RunStatus;
  started_at: string;
  finished_at: string | null;
  config: string;
  config_sha256: string;
  dataset_path: string;
  dataset_sha256: string;
  total_items: number;
  shuffle_seed: number | null;
  machine: string | null;
  reference_match: number | null;
  reference_diffs: string | null;
  score: number | null;
  results_path: string | null;
  report_path: string | null;
  error: string | null;
}

const now = () => new Date().toISOString();

export function createRun(db: StoreDatabase, run: NewRun): void {
  if (!Number.isInteger(run.totalItems) || run.totalItems < 0) {
    throw new OptibenchError(`run ${run.id}: totalItems must be a non-negative integer, got ${run.totalItems}`);
  }
  try {
    db.prepare(
      `INSERT INTO runs (id, evaluator, submission_id, kind, status, started_at, config, config_sha256, dataset_path, dataset_sha256, total_items, shuffle_seed)
       VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      run.id,
      run.evaluator,
      run.submissionId ?? null,
      run.kind,
      (run.startedAt ?? new Date()).toISOString(),
      canonicalJson(run.config),
      run.configSha256,
      run.datasetPath,
      run.datasetSha256,
      run.totalItems,
      run.shuffleSeed,
    );
  } catch (error) {
    throw storeError(db, `cannot create run ${run.id}`, error);
  }
}

/** The item table of the run's evaluator (null when it keeps none); a store opened without it cannot touch the run's items. */
function itemTable(db: StoreDatabase, tables: ItemTables, row: Pick<RunRow, 'id' | 'evaluator'>): ItemTable<unknown> | null {
  const table = tables.get(row.evaluator);
  if (table === undefined) {
    throw new OptibenchError(`run ${row.id} is the ${row.evaluator} evaluator's, and this store was opened without that evaluator's tables`, { file: db.name });
  }
  return table;
}

function requireItemTable(db: StoreDatabase, tables: ItemTables, row: Pick<RunRow, 'id' | 'evaluator'>): ItemTable<unknown> {
  const table = itemTable(db, tables, row);
  if (!table) throw new OptibenchError(`run ${row.id}: the ${row.evaluator} evaluator keeps no per-item results`, { file: db.name });
  return table;
}

/** Adds finished items to a running run, all in one transaction; an item recorded twice is refused. */
export function recordItems(db: StoreDatabase, tables: ItemTables, runId: string, items: readonly unknown[]): void {
  if (items.length === 0) return;
  db.transaction(() => {
    const row = requireStatus(db, runId, ['running'], 'record items of');
    insertItems(db, requireItemTable(db, tables, row), runId, items, false);
  }).immediate();
}

/**
 * Marks a running run complete with its result, in ONE transaction: the row's status, time, machine and score,
 * any items not recorded yet, and the metrics. The items must be exactly those the run was asked for, from the
 * run's dataset.
 */
export function finishRun(db: StoreDatabase, tables: ItemTables, runId: string, finish: RunFinish): void {
  const { result } = finish;
  if (result.status !== 'complete') {
    throw new OptibenchError(`run ${runId}: only complete results finish a run (these are ${result.status}: ${result.error ?? 'no error recorded'})`);
  }
  db.transaction(() => {
    const row = requireStatus(db, runId, ['running'], 'finish');
    if (row.dataset_sha256 !== finish.datasetSha256) {
      throw new OptibenchError(
        `run ${runId}: the results scored dataset sha256 ${finish.datasetSha256.slice(0, 12)}…, the run was started on ${row.dataset_sha256.slice(0, 12)}…`,
        { file: db.name },
      );
    }
    const table = itemTable(db, tables, row);
    if (table && finish.items.length !== row.total_items) {
      throw new OptibenchError(`run ${runId}: the results hold ${finish.items.length} items, the run was asked for ${row.total_items}`, { file: db.name });
    }
    if (result.evaluator.id !== row.evaluator) {
      throw new OptibenchError(`run ${runId} is the ${row.evaluator} evaluator's; these results are the ${result.evaluator.id} evaluator's`, { file: db.name });
    }
    db.prepare(
      `UPDATE runs SET status = 'complete', finished_at = ?, machine = ?, score = ?, results_path = ?, report_path = ?, error = NULL,
         reference_match = COALESCE(?, reference_match), reference_diffs = COALESCE(?, reference_diffs)
       WHERE id = ?`,
    ).run(
      now(),
      JSON.stringify(result.environment),
      result.headline.value,
      finish.resultsPath,
      finish.reportPath,
      finish.reference === undefined ? null : finish.reference.match ? 1 : 0,
      finish.reference === undefined ? null : JSON.stringify(finish.reference.differences),
      runId,
    );
    if (table) {
      insertItems(db, table, runId, finish.items, true);
      const stored = countItems(db, table, runId);
      if (stored !== finish.items.length) {
        throw new OptibenchError(`run ${runId}: the database holds ${stored} items, the results ${finish.items.length}: items recorded during the run are missing from the results`, { file: db.name });
      }
    } else if (finish.items.length) {
      throw new OptibenchError(`run ${runId}: the ${row.evaluator} evaluator keeps no per-item results, yet ${finish.items.length} came`, { file: db.name });
    }
    const metric = db.prepare('INSERT INTO run_metrics (run_id, name, value, stderr) VALUES (?, ?, ?, ?)');
    for (const [name, m] of Object.entries(result.metrics)) metric.run(runId, name, m.value, m.stderr);
  }).immediate();
}

/** Marks a running run failed with its reason, keeping (and completing) its items: a resume continues from them. */
export function failRun(db: StoreDatabase, tables: ItemTables, runId: string, failure: FailedRun): void {
  db.transaction(() => {
    const row = requireStatus(db, runId, ['running'], 'fail');
    if (failure.items?.length) insertItems(db, requireItemTable(db, tables, row), runId, failure.items, true);
    db.prepare(
      `UPDATE runs SET status = 'failed', finished_at = ?, error = ?, machine = COALESCE(?, machine),
         reference_match = COALESCE(?, reference_match), reference_diffs = COALESCE(?, reference_diffs)
       WHERE id = ?`,
    ).run(
      now(),
      failure.error,
      failure.machine === undefined ? null : JSON.stringify(failure.machine),
      failure.reference === undefined ? null : failure.reference.match ? 1 : 0,
      failure.reference === undefined ? null : JSON.stringify(failure.reference.differences),
      runId,
    );
  }).immediate();
}

/**
 * Makes a killed (`running`) or `failed` run `running` again so it can be continued; a complete run is
 * refused. Returns the run as it was before.
 */
export function reopenRun(db: StoreDatabase, tables: ItemTables, runId: string): StoredRun {
  return db.transaction(() => {
    const before = readRun(db, tables, runId);
    if (!before) throw new OptibenchError(`no run "${runId}" in the results database`, { file: db.name });
    if (before.status === 'complete') {
      throw new OptibenchError(`run ${runId} is already complete (finished ${before.finishedAt ?? '?'}): there is nothing to resume`, { file: db.name });
    }
    db.prepare("UPDATE runs SET status = 'running', finished_at = NULL, error = NULL WHERE id = ?").run(runId);
    return before;
  }).immediate();
}

export function readRun(db: StoreDatabase, tables: ItemTables, runId: string): StoredRun | undefined {
  const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
  return row ? storedRun(db, tables, row) : undefined;
}

/** Runs that match, newest finished first (then by id, newest first). */
export function findRuns(db: StoreDatabase, tables: ItemTables, query: RunQuery): StoredRun[] {
  const where = ['evaluator = ?'];
  const params: SqlValue[] = [query.evaluator];
  for (const [column, value] of [['kind', query.kind], ['status', query.status], ['dataset_sha256', query.datasetSha256], ['total_items', query.totalItems]] as const) {
    if (value === undefined) continue;
    where.push(`${column} = ?`);
    params.push(value);
  }
  const rows = db.prepare(`SELECT * FROM runs WHERE ${where.join(' AND ')} ORDER BY finished_at DESC, id DESC`).all(...params) as RunRow[];
  return rows.map((row) => storedRun(db, tables, row));
}

function storedRun(db: StoreDatabase, tables: ItemTables, row: RunRow): StoredRun {
  const runId = row.id;
  const metrics: StoredRun['metrics'] = {};
  for (const m of db.prepare('SELECT name, value, stderr FROM run_metrics WHERE run_id = ? ORDER BY name').all(runId) as { name: string; value: number; stderr: number | null }[]) {
    metrics[m.name] = { value: m.value, stderr: m.stderr };
  }
  const table = tables.get(row.evaluator);
  const json = <T>(text: string | null, column: string): T | null => (text === null ? null : parseColumn<T>(db, runId, column, text));
  return {
    id: row.id,
    evaluator: row.evaluator,
    submissionId: row.submission_id,
    kind: row.kind,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    config: json<Record<string, unknown>>(row.config, 'config')!,
    configSha256: row.config_sha256,
    datasetPath: row.dataset_path,
    datasetSha256: row.dataset_sha256,
    totalItems: row.total_items,
    shuffleSeed: row.shuffle_seed,
    machine: json<Record<string, unknown>>(row.machine, 'machine'),
    reference: row.reference_match === null ? null : { match: row.reference_match === 1, differences: json<string[]>(row.reference_diffs, 'reference_diffs') ?? [] },
    score: row.score,
    resultsPath: row.results_path,
    reportPath: row.report_path,
    error: row.error,
    metrics,
    itemCount: table ? countItems(db, table, runId) : 0,
  };
}

/** The run's recorded items in index order, as its evaluator's table reads them. */
export function readItems(db: StoreDatabase, tables: ItemTables, runId: string): unknown[] {
  const row = db.prepare('SELECT id, evaluator FROM runs WHERE id = ?').get(runId) as Pick<RunRow, 'id' | 'evaluator'> | undefined;
  if (!row) throw new OptibenchError(`no run "${runId}" in the results database`, { file: db.name });
  const table = itemTable(db, tables, row);
  if (!table) return [];
  const rows = db.prepare(`SELECT * FROM ${table.table} WHERE run_id = ? ORDER BY item_index`).all(runId) as Record<string, unknown>[];
  return rows.map((r) => table.fromRow(r, runId));
}

function countItems(db: StoreDatabase, table: ItemTable<unknown>, runId: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM ${table.table} WHERE run_id = ?`).get(runId) as { n: number }).n;
}

function insertItems(db: StoreDatabase, table: ItemTable<unknown>, runId: string, items: readonly unknown[], skipRecorded: boolean): void {
  const columns = ['run_id', 'item_index', ...table.columns];
  const insert = db.prepare(
    `INSERT INTO ${table.table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${skipRecorded ? ' ON CONFLICT (run_id, item_index) DO NOTHING' : ''}`,
  );
  for (const item of items) {
    const index = table.key(item);
    try {
      insert.run(runId, index, ...table.toRow(item));
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new OptibenchError(`run ${runId}: item ${index} is already recorded`, { file: db.name });
      }
      throw storeError(db, `run ${runId}: cannot record item ${index}`, error);
    }
  }
}

export function requireStatus(db: StoreDatabase, runId: string, allowed: readonly RunStatus[], action: string): RunRow {
  const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
  if (!row) throw new OptibenchError(`cannot ${action} run "${runId}": no such run in the results database`, { file: db.name });
  if (!allowed.includes(row.status)) {
    throw new OptibenchError(`cannot ${action} run ${runId}: it is ${row.status}, expected ${allowed.join(' or ')}`, { file: db.name });
  }
  return row;
}

function parseColumn<T>(db: StoreDatabase, runId: string, column: string, text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new OptibenchError(`run ${runId}: column ${column} does not hold valid JSON`, { file: db.name });
  }
}

export function storeError(db: StoreDatabase, what: string, error: unknown): Error {
  if (error instanceof OptibenchError) return error;
  return new OptibenchError(`${what}: ${(error as Error).message}`, { file: db.name }, { cause: error });
}
