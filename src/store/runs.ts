/**
 * Writing and reading runs in the results database (tables in `schema.ts`). Every function takes an open
 * database from `openDatabase`; each write is one transaction, so a process killed at any moment leaves
 * either the state before the call or the state after it.
 *
 * A run's life: `createRun` (status `running`) -> `recordItems` as documents finish -> `finishRun`
 * (`complete`, one transaction with its metrics) or `failRun` (`failed`, its items kept). `reopenRun` makes a
 * killed or failed run `running` again for `optibench run --resume`.
 */
import { canonicalJson, configSha256 } from '../core/canonical-json.js';
import { OptibenchError } from '../core/errors.js';
import type { ItemResult, InferenceResult } from '../evaluators/inference/results.js';
import type { StoreDatabase } from './schema.js';

export { addSubmission, upsertTeam, type NewSubmission, type NewTeam } from './teams.js';
export { recordGate, type NewGate } from '../evaluators/inference/store/gates.js';

export type RunKind = 'run' | 'baseline' | 'rerun' | 'canary';
export type RunStatus = 'running' | 'complete' | 'failed';

export interface NewRun {
  /** The run id (also its report folder's name). */
  readonly id: string;
  readonly kind: RunKind;
  /** The configuration actually used, as JSON; its canonical sha256 is stored beside it. */
  readonly config: object;
  readonly datasetPath: string;
  readonly datasetSha256: string;
  /** How many items the run was asked to score: `finishRun` refuses results with another count. */
  readonly totalItems: number;
  readonly shuffleSeed: number | null;
  readonly submissionId?: number | null;
  readonly startedAt?: Date;
}

/** Whether the machine matched the reference server's spec, and what differed. */
export interface ReferenceCheck {
  readonly match: boolean;
  readonly differences: readonly string[];
}

export interface StoredRun {
  readonly id: string;
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
  /** Null until complete, and for a resumed run, whose timing covers only part of its items. */
  readonly inferenceMedianMs: number | null;
  readonly resultsPath: string | null;
  readonly reportPath: string | null;
  readonly error: string | null;
  readonly metrics: Record<string, { value: number; stderr: number | null }>;
  /** Items recorded so far. */
  readonly itemCount: number;
}

interface RunRow {
  id: string;
  submission_id: number | null;
  kind: RunKind;
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
  inference_median_ms: number | null;
  results_path: string | null;
  report_path: string | null;
  error: string | null;
}

interface ItemRow {
  item_index: number;
  gold: number | null;
  loglikelihoods: string;
  is_greedy: string;
  context_tokens: number;
  continuation_tokens: string;
  choice_chars: string;
  predictions: string;
}

const now = () => new Date().toISOString();

export { configSha256 };

export function createRun(db: StoreDatabase, run: NewRun): void {
  if (!Number.isInteger(run.totalItems) || run.totalItems < 0) {
    throw new OptibenchError(`run ${run.id}: totalItems must be a non-negative integer, got ${run.totalItems}`);
  }
  try {
    db.prepare(
      `INSERT INTO runs (id, submission_id, kind, status, started_at, config, config_sha256, dataset_path, dataset_sha256, total_items, shuffle_seed)
       VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      run.id,
      run.submissionId ?? null,
      run.kind,
      (run.startedAt ?? new Date()).toISOString(),
      canonicalJson(run.config),
      configSha256(run.config),
      run.datasetPath,
      run.datasetSha256,
      run.totalItems,
      run.shuffleSeed,
    );
  } catch (error) {
    throw storeError(db, `cannot create run ${run.id}`, error);
  }
}

/** Adds finished items to a running run, all in one transaction; an item recorded twice is refused. */
export function recordItems(db: StoreDatabase, runId: string, items: readonly ItemResult[]): void {
  if (items.length === 0) return;
  db.transaction(() => {
    requireStatus(db, runId, ['running'], 'record items of');
    insertItems(db, runId, items, false);
  }).immediate();
}

export interface FinishPaths {
  readonly resultsPath: string | null;
  readonly reportPath: string | null;
  readonly reference?: ReferenceCheck;
}

/**
 * Marks a running run complete with its results, in ONE transaction: the row's status, time, machine and
 * headline time, any items not recorded yet, and the metrics. The results must cover exactly the items the
 * run was asked for and come from the run's dataset. A resumed run (`results.resumed`) gets no headline time:
 * its clock covered only the items it ran, so it must not be ranked against full runs.
 */
export function finishRun(db: StoreDatabase, runId: string, results: InferenceResult, paths: FinishPaths): void {
  if (results.status !== 'complete') {
    throw new OptibenchError(`run ${runId}: only complete results finish a run (these are ${results.status}: ${results.error ?? 'no error recorded'})`);
  }
  db.transaction(() => {
    const row = requireStatus(db, runId, ['running'], 'finish');
    if (row.dataset_sha256 !== results.payload.task.dataset.sha256) {
      throw new OptibenchError(
        `run ${runId}: the results scored dataset sha256 ${results.payload.task.dataset.sha256.slice(0, 12)}…, the run was started on ${row.dataset_sha256.slice(0, 12)}…`,
        { file: db.name },
      );
    }
    if (results.payload.items.length !== row.total_items) {
      throw new OptibenchError(`run ${runId}: the results hold ${results.payload.items.length} items, the run was asked for ${row.total_items}`, { file: db.name });
    }
    const resumed = (results.payload.resumed?.itemsCarriedOver ?? 0) > 0;
    db.prepare(
      `UPDATE runs SET status = 'complete', finished_at = ?, machine = ?, inference_median_ms = ?, results_path = ?, report_path = ?, error = NULL,
         reference_match = COALESCE(?, reference_match), reference_diffs = COALESCE(?, reference_diffs)
       WHERE id = ?`,
    ).run(
      now(),
      JSON.stringify(results.environment),
      resumed ? null : results.timings.inference.medianMs,
      paths.resultsPath,
      paths.reportPath,
      paths.reference === undefined ? null : paths.reference.match ? 1 : 0,
      paths.reference === undefined ? null : JSON.stringify(paths.reference.differences),
      runId,
    );
    insertItems(db, runId, results.payload.items, true);
    const stored = (db.prepare('SELECT COUNT(*) AS n FROM run_items WHERE run_id = ?').get(runId) as { n: number }).n;
    if (stored !== results.payload.items.length) {
      throw new OptibenchError(`run ${runId}: the database holds ${stored} items, the results ${results.payload.items.length}: items recorded during the run are missing from the results`, { file: db.name });
    }
    const metric = db.prepare('INSERT INTO run_metrics (run_id, name, value, stderr) VALUES (?, ?, ?, ?)');
    for (const [name, m] of Object.entries(results.metrics)) metric.run(runId, name, m.value, m.stderr);
  }).immediate();
}

export interface FailDetails {
  /** Items finished before the failure that may not be recorded yet; already recorded ones are skipped. */
  readonly items?: readonly ItemResult[];
  readonly machine?: object;
  readonly reference?: ReferenceCheck;
}

/** Marks a running run failed with its reason, keeping (and completing) its items: `--resume` continues from them. */
export function failRun(db: StoreDatabase, runId: string, error: string, details: FailDetails = {}): void {
  db.transaction(() => {
    requireStatus(db, runId, ['running'], 'fail');
    insertItems(db, runId, details.items ?? [], true);
    db.prepare(
      `UPDATE runs SET status = 'failed', finished_at = ?, error = ?, machine = COALESCE(?, machine),
         reference_match = COALESCE(?, reference_match), reference_diffs = COALESCE(?, reference_diffs)
       WHERE id = ?`,
    ).run(
      now(),
      error,
      details.machine === undefined ? null : JSON.stringify(details.machine),
      details.reference === undefined ? null : details.reference.match ? 1 : 0,
      details.reference === undefined ? null : JSON.stringify(details.reference.differences),
      runId,
    );
  }).immediate();
}

/**
 * Makes a killed (`running`) or `failed` run `running` again so it can be continued; a complete run is
 * refused. Returns the run as it was before.
 */
export function reopenRun(db: StoreDatabase, runId: string): StoredRun {
  return db.transaction(() => {
    const before = readRun(db, runId);
    if (!before) throw new OptibenchError(`no run "${runId}" in the results database`, { file: db.name });
    if (before.status === 'complete') {
      throw new OptibenchError(`run ${runId} is already complete (finished ${before.finishedAt ?? '?'}): there is nothing to resume`, { file: db.name });
    }
    db.prepare("UPDATE runs SET status = 'running', finished_at = NULL, error = NULL WHERE id = ?").run(runId);
    return before;
  }).immediate();
}

export function readRun(db: StoreDatabase, runId: string): StoredRun | undefined {
  const row = db.prepare('SELECT * FROM runs WHERE id = ?').get(runId) as RunRow | undefined;
  if (!row) return undefined;
  const metrics: StoredRun['metrics'] = {};
  for (const m of db.prepare('SELECT name, value, stderr FROM run_metrics WHERE run_id = ? ORDER BY name').all(runId) as { name: string; value: number; stderr: number | null }[]) {
    metrics[m.name] = { value: m.value, stderr: m.stderr };
  }
  const itemCount = (db.prepare('SELECT COUNT(*) AS n FROM run_items WHERE run_id = ?').get(runId) as { n: number }).n;
  const json = <T>(text: string | null, column: string): T | null => (text === null ? null : parseColumn<T>(db, runId, column, text));
  return {
    id: row.id,
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
    inferenceMedianMs: row.inference_median_ms,
    resultsPath: row.results_path,
    reportPath: row.report_path,
    error: row.error,
    metrics,
    itemCount,
  };
}

/** The run's recorded items in dataset order. Items stored without a label (NULL gold) are refused. */
export function readRunItems(db: StoreDatabase, runId: string): ItemResult[] {
  const rows = db.prepare('SELECT * FROM run_items WHERE run_id = ? ORDER BY item_index').all(runId) as ItemRow[];
  return rows.map((row) => {
    if (row.gold === null) throw new OptibenchError(`run ${runId}: item ${row.item_index} was stored without its label`, { file: db.name });
    const column = <T>(name: keyof ItemRow) => parseColumn<T>(db, runId, `run_items.${name} of item ${row.item_index}`, row[name] as string);
    return {
      index: row.item_index,
      gold: row.gold,
      choiceChars: column<number[]>('choice_chars'),
      loglikelihoods: column<number[]>('loglikelihoods'),
      isGreedy: column<boolean[]>('is_greedy'),
      contextTokens: row.context_tokens,
      continuationTokens: column<number[]>('continuation_tokens'),
      predictions: column<Record<string, number>>('predictions'),
    };
  });
}

function insertItems(db: StoreDatabase, runId: string, items: readonly ItemResult[], skipRecorded: boolean): void {
  const insert = db.prepare(
    `INSERT INTO run_items (run_id, item_index, gold, loglikelihoods, is_greedy, context_tokens, continuation_tokens, choice_chars, predictions)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)${skipRecorded ? ' ON CONFLICT (run_id, item_index) DO NOTHING' : ''}`,
  );
  for (const item of items) {
    try {
      insert.run(
        runId,
        item.index,
        item.gold,
        JSON.stringify(item.loglikelihoods),
        JSON.stringify(item.isGreedy),
        item.contextTokens,
        JSON.stringify(item.continuationTokens),
        JSON.stringify(item.choiceChars),
        JSON.stringify(item.predictions),
      );
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new OptibenchError(`run ${runId}: item ${item.index} is already recorded`, { file: db.name });
      }
      throw storeError(db, `run ${runId}: cannot record item ${item.index}`, error);
    }
  }
}

function requireStatus(db: StoreDatabase, runId: string, allowed: readonly RunStatus[], action: string): RunRow {
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

function storeError(db: StoreDatabase, what: string, error: unknown): Error {
  if (error instanceof OptibenchError) return error;
  return new OptibenchError(`${what}: ${(error as Error).message}`, { file: db.name }, { cause: error });
}
