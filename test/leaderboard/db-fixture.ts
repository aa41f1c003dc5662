/**
 * Builds results databases for the leaderboard tests with plain SQL against the store's tables (src/store/schema.ts)
 * and the inference evaluator's (src/evaluators/inference/store/tables.ts), so the tests depend on the tables
 * only, not on any writer's code.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import type { StoreDatabase } from '../../src/store/schema.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `optibench-${prefix}-`));
}

export class FixtureDb {
  /** The store, as the leaderboard reads it. */
  readonly store: SqliteStore;
  /** The same database, for plain SQL. */
  readonly db: StoreDatabase;
  private nextRun = 0;
  private nextTeam = 0;

  constructor(readonly file: string) {
    this.store = openInferenceStore(file);
    this.db = this.store.db;
  }

  /** A registered team; its id is the n-th registration's written in base32 (team-aaaaaaab, team-aaaaaaac...). */
  team(name: string, members: readonly { name: string; email?: string }[] = [{ name: 'A Student' }]): number {
    const n = ++this.nextTeam;
    const id = `team-${[...n.toString(32).padStart(8, '0')].map((d) => 'abcdefghijklmnopqrstuvwxyz234567'[parseInt(d, 32)]).join('')}`;
    return Number(
      this.db.prepare(`INSERT INTO teams (registration_id, name, members, created_at) VALUES (?, ?, ?, '2025-02-01T00:00:00Z')`).run(id, name, JSON.stringify(members)).lastInsertRowid,
    );
  }

  submission(teamId: number, submittedAt: string, options: { id?: number; round?: number } = {}): number {
    const result = this.db
      .prepare(
        `INSERT INTO submissions (id, team_id, evaluator, round, repository, commit_sha, document, manifest, submitted_at)
         VALUES (?, ?, 'inference', ?, 'https://git.example/team.git', ?, 'docs/optimizations.pdf', '{}', ?)`,
      )
      .run(options.id ?? null, teamId, options.round ?? 1, `c0ffee${String(teamId).padStart(2, '0')}`.padEnd(40, '0'), submittedAt);
    return Number(result.lastInsertRowid);
  }

  /** A run row; `complete` runs get their metrics and time, as the writer's final transaction would. */
  run(options: {
    id?: string;
    submissionId: number | null;
    kind?: 'run' | 'baseline' | 'rerun' | 'canary';
    status: 'running' | 'complete' | 'failed';
    startedAt: string;
    finishedAt?: string;
    medianMs?: number | null;
    referenceMatch?: number | null;
    /** The `machine` column: an object is stored as JSON, a string as it is (whatever a writer left there). */
    machine?: object | string | null;
    reportPath?: string | null;
    error?: string | null;
    acc?: [number, number];
    accNorm?: [number, number];
  }): string {
    const id = options.id ?? `run-${++this.nextRun}`;
    const finished = options.status === 'running' ? null : (options.finishedAt ?? options.startedAt);
    this.db
      .prepare(
        `INSERT INTO runs (id, evaluator, submission_id, kind, status, started_at, finished_at, config, config_sha256, dataset_path,
           dataset_sha256, total_items, machine, reference_match, score, report_path, error)
         VALUES (?, 'inference', ?, ?, ?, ?, ?, '{}', 'cfg', 'hellaswag_val.jsonl', 'ds', 10042, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        options.submissionId,
        options.kind ?? 'rerun',
        options.status,
        options.startedAt,
        finished,
        options.machine === undefined || options.machine === null ? null : typeof options.machine === 'string' ? options.machine : JSON.stringify(options.machine),
        options.referenceMatch ?? null,
        options.medianMs ?? null,
        options.reportPath ?? null,
        options.error ?? null,
      );
    const metric = this.db.prepare('INSERT INTO run_metrics (run_id, name, value, stderr) VALUES (?, ?, ?, ?)');
    if (options.acc) metric.run(id, 'acc', ...options.acc);
    if (options.accNorm) metric.run(id, 'acc_norm', ...options.accNorm);
    return id;
  }

  gate(runId: string, baselineRunId: string, options: { baseline: number; value: number; speedup?: number | null; maxDrop?: number; fullSet?: boolean }): void {
    const drop = (options.baseline - options.value) * 100;
    const maxDrop = options.maxDrop ?? 0.5;
    const passed = -drop >= -maxDrop;
    this.db
      .prepare("INSERT INTO verdicts (run_id, reference_run_id, passed, reason, recorded_at) VALUES (?, ?, ?, ?, '2025-03-01T00:00:00Z')")
      .run(runId, baselineRunId, passed ? 1 : 0, `${passed ? 'PASS' : 'FAIL'}: acc_norm drop ${drop.toFixed(2)} points`);
    this.db
      .prepare(
        `INSERT INTO inference_gates (run_id, metric, baseline_value, value, drop_points, max_drop_points, full_set, speedup)
         VALUES (?, 'acc_norm', ?, ?, ?, ?, ?, ?)`,
      )
      .run(runId, options.baseline, options.value, drop, maxDrop, options.fullSet === false ? 0 : 1, options.speedup ?? null);
  }

  close(): void {
    this.store.close();
  }
}
