/** The accuracy gate's verdict on a run against its baseline run, in the results database. */
import { OptibenchError } from '../../../core/errors.js';
import type { StoreDatabase } from '../../../store/schema.js';

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

/** Records (or replaces) the gate verdict of a run; both runs must exist. */
export function recordGate(db: StoreDatabase, gate: NewGate): void {
  db.transaction(() => {
    const median = (id: string, role: string) => {
      const row = db.prepare('SELECT inference_median_ms AS ms FROM runs WHERE id = ?').get(id) as { ms: number | null } | undefined;
      if (!row) throw new OptibenchError(`cannot record a gate: no ${role} run "${id}" in the results database`, { file: db.name });
      return row.ms;
    };
    const runMs = median(gate.runId, 'candidate');
    const baselineMs = median(gate.baselineRunId, 'baseline');
    const speedup = gate.speedup !== undefined ? gate.speedup : runMs && baselineMs ? baselineMs / runMs : null;
    db.prepare(
      `INSERT INTO gates (run_id, baseline_run_id, metric, baseline_value, value, drop_points, max_drop_points, passed, full_set, reason, speedup)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id) DO UPDATE SET baseline_run_id = excluded.baseline_run_id, metric = excluded.metric,
         baseline_value = excluded.baseline_value, value = excluded.value, drop_points = excluded.drop_points,
         max_drop_points = excluded.max_drop_points, passed = excluded.passed, full_set = excluded.full_set,
         reason = excluded.reason, speedup = excluded.speedup`,
    ).run(
      gate.runId,
      gate.baselineRunId,
      gate.metric,
      gate.baselineValue,
      gate.value,
      (gate.baselineValue - gate.value) * 100,
      gate.maxDropPoints,
      gate.passed ? 1 : 0,
      gate.fullSet ? 1 : 0,
      gate.reason,
      speedup,
    );
  }).immediate();
}
