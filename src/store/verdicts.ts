/** Verdicts in the results database: whether a run passed its evaluator's judgement, why, and against which run. */
import { OptibenchError } from '../core/errors.js';
import type { NewVerdict, RunStatus, SqlConnection, StoredVerdict } from '../core/store.js';
import { sqlConnection, type StoreDatabase } from './schema.js';

/**
 * Records (or replaces) the verdict of a run, and whatever `details` writes in the evaluator's own tables, in one
 * transaction; the run and its reference run must exist.
 */
export function recordVerdict(db: StoreDatabase, verdict: NewVerdict, details?: (sql: SqlConnection) => void): void {
  db.transaction(() => {
    const exists = (id: string) => db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id) !== undefined;
    if (!exists(verdict.runId)) throw new OptibenchError(`cannot record a verdict: no run "${verdict.runId}" in the results database`, { file: db.name });
    if (verdict.referenceRunId !== null && !exists(verdict.referenceRunId)) {
      throw new OptibenchError(`cannot record a verdict: no reference run "${verdict.referenceRunId}" in the results database`, { file: db.name });
    }
    db.prepare(
      `INSERT INTO verdicts (run_id, reference_run_id, passed, reason, recorded_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET reference_run_id = excluded.reference_run_id, passed = excluded.passed,
         reason = excluded.reason, recorded_at = excluded.recorded_at`,
    ).run(verdict.runId, verdict.referenceRunId, verdict.passed ? 1 : 0, verdict.reason, new Date().toISOString());
    details?.(sqlConnection(db));
  }).immediate();
}

interface VerdictRow {
  run_id: string;
  reference_run_id: string | null;
  passed: number;
  reason: string;
  reference_score: number | null;
  reference_status: RunStatus | null;
}

export function readVerdict(db: StoreDatabase, runId: string): StoredVerdict | undefined {
  const row = db
    .prepare(
      `SELECT v.run_id, v.reference_run_id, v.passed, v.reason, r.score AS reference_score, r.status AS reference_status
         FROM verdicts v LEFT JOIN runs r ON r.id = v.reference_run_id WHERE v.run_id = ?`,
    )
    .get(runId) as VerdictRow | undefined;
  if (!row) return undefined;
  return {
    runId: row.run_id,
    referenceRunId: row.reference_run_id,
    passed: row.passed === 1,
    reason: row.reason,
    referenceScore: row.reference_score,
    referenceStatus: row.reference_status,
  };
}
