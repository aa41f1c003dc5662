/**
 * The inference evaluator's runs in the results store: its results turned into the store's calls, and the
 * accuracy gate's verdict (the store's `verdicts` row, and the figures behind it in `inference_gates`).
 */
import { OptibenchError } from '../../../core/errors.js';
import type { NewRun, NewSubmission, ReferenceCheck, ResultsStore, StoredRun } from '../../../core/store.js';
import { configSchema, inferenceConfigSha256 } from '../config.js';
import type { Environment } from '../../../core/environment.js';
import { openStore, type SqliteStore } from '../../../store/sqlite-store.js';
import { INFERENCE_EVALUATOR_ID } from '../hooks.js';
import { inferenceHeadline, rankedInferenceMs, type InferenceResult, type ItemResult } from '../results.js';
import { inferenceTables } from './tables.js';

/** Opens the results database for the inference evaluator (its tables migrated). */
export function openInferenceStore(file: string, options: { readonly?: boolean } = {}): SqliteStore {
  return openStore(file, { ...options, evaluators: [{ id: INFERENCE_EVALUATOR_ID, tables: inferenceTables }] });
}

export type NewInferenceRun = Omit<NewRun, 'evaluator' | 'configSha256'> & {
  /** The config's identity; left out, `config` must be a run config and its identity is computed. */
  readonly configSha256?: string;
};

export function createRun(store: ResultsStore, run: NewInferenceRun): void {
  const configSha256 = run.configSha256 ?? inferenceConfigSha256(configSchema.parse(run.config), run.datasetSha256);
  store.createRun({ ...run, configSha256, evaluator: INFERENCE_EVALUATOR_ID });
}

/** Adds a submission to the inference challenge for an existing team; returns its id. */
export function addSubmission(store: ResultsStore, submission: Omit<NewSubmission, 'evaluator'>): number {
  return store.addSubmission({ ...submission, evaluator: INFERENCE_EVALUATOR_ID });
}

export function recordItems(store: ResultsStore, runId: string, items: readonly ItemResult[]): void {
  store.recordItems(runId, items);
}

export interface FinishPaths {
  readonly resultsPath: string | null;
  readonly reportPath: string | null;
  readonly reference?: ReferenceCheck;
}

/**
 * Marks a running run complete with its results, in one transaction. The score is the headline as the payload
 * says it must be: a resumed run gets none, since its clock covered only the items it ran.
 */
export function finishRun(store: ResultsStore, runId: string, results: InferenceResult, paths: FinishPaths): void {
  const resumed = (results.payload.resumed?.itemsCarriedOver ?? 0) > 0;
  store.finishRun(runId, {
    result: { ...results, headline: inferenceHeadline(rankedInferenceMs(results), resumed) },
    datasetSha256: results.payload.task.dataset.sha256,
    items: results.payload.items,
    ...paths,
  });
}

export interface FailDetails {
  /** Items finished before the failure that may not be recorded yet; already recorded ones are skipped. */
  readonly items?: readonly ItemResult[];
  readonly machine?: Environment;
  readonly reference?: ReferenceCheck;
}

/** Marks a running run failed with its reason, keeping (and completing) its items: `--resume` continues from them. */
export function failRun(store: ResultsStore, runId: string, error: string, details: FailDetails = {}): void {
  store.failRun(runId, { error, ...details });
}

export function readRun(store: ResultsStore, runId: string): StoredRun | undefined {
  return store.readRun(runId);
}

/** The run's recorded items in dataset order. Items stored without a label (NULL gold) are refused. */
export function readRunItems(store: ResultsStore, runId: string): ItemResult[] {
  return store.readItems(runId) as ItemResult[];
}

export function reopenRun(store: ResultsStore, runId: string): StoredRun {
  return store.reopenRun(runId);
}

export interface NewGate {
  readonly runId: string;
  readonly baselineRunId: string;
  readonly metric: string;
  /** Metric values as fractions (0.25 = 25 %). */
  readonly baselineValue: number;
  readonly value: number;
  readonly maxDropPoints: number;
  readonly passed: boolean;
  /** Whether the gate judged the full dataset (a subset's verdict is indicative only). */
  readonly fullSet: boolean;
  readonly reason: string;
  /**
   * Baseline median time over this run's. Left out, it is computed from the two runs' stored headline times
   * (null when either has none, e.g. a resumed run).
   */
  readonly speedup?: number | null;
}

/** Records (or replaces) the gate verdict of a run and its figures, in one transaction; both runs must exist. */
export function recordGate(store: ResultsStore, gate: NewGate): void {
  const score = (id: string, role: string) => {
    const run = store.readRun(id);
    if (!run) throw new OptibenchError(`cannot record a gate: no ${role} run "${id}" in the results database`, { file: store.location });
    return run.score;
  };
  const runMs = score(gate.runId, 'candidate');
  const baselineMs = score(gate.baselineRunId, 'baseline');
  const speedup = gate.speedup !== undefined ? gate.speedup : runMs && baselineMs ? baselineMs / runMs : null;
  store.recordVerdict({ runId: gate.runId, referenceRunId: gate.baselineRunId, passed: gate.passed, reason: gate.reason }, (sql) => {
    sql
      .prepare(
        `INSERT INTO inference_gates (run_id, metric, baseline_value, value, drop_points, max_drop_points, full_set, speedup)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET metric = excluded.metric, baseline_value = excluded.baseline_value, value = excluded.value,
           drop_points = excluded.drop_points, max_drop_points = excluded.max_drop_points, full_set = excluded.full_set, speedup = excluded.speedup`,
      )
      .run(gate.runId, gate.metric, gate.baselineValue, gate.value, (gate.baselineValue - gate.value) * 100, gate.maxDropPoints, gate.fullSet ? 1 : 0, speedup);
  });
}

/** The figures behind a run's gate verdict, as recorded. */
export interface GateFigures {
  readonly metric: string;
  readonly baselineValue: number;
  readonly value: number;
  readonly dropPoints: number;
  readonly maxDropPoints: number;
  readonly fullSet: boolean;
  readonly speedup: number | null;
}

export function readGateFigures(store: ResultsStore, runId: string): GateFigures | undefined {
  const row = store.sql
    .prepare('SELECT metric, baseline_value, value, drop_points, max_drop_points, full_set, speedup FROM inference_gates WHERE run_id = ?')
    .get(runId) as { metric: string; baseline_value: number; value: number; drop_points: number; max_drop_points: number; full_set: number; speedup: number | null } | undefined;
  if (!row) return undefined;
  return {
    metric: row.metric,
    baselineValue: row.baseline_value,
    value: row.value,
    dropPoints: row.drop_points,
    maxDropPoints: row.max_drop_points,
    fullSet: row.full_set === 1,
    speedup: row.speedup,
  };
}
