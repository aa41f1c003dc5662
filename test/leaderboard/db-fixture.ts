/**
 * Builds results databases for the leaderboard tests with plain SQL against src/store/schema.ts's tables, so
 * the tests depend on the contract only, not on any writer's code.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type StoreDatabase } from '../../src/store/schema.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `optibench-${prefix}-`));
}

export class FixtureDb {
  readonly db: StoreDatabase;
  private nextRun = 0;

  constructor(readonly file: string) {
    this.db = openDatabase(file);
  }

  team(name: string): number {
    return Number(
      this.db.prepare(`INSERT INTO teams (name, members, created_at) VALUES (?, '[{"name":"A Student"}]', '2025-02-01T00:00:00Z')`).run(name).lastInsertRowid,
    );
  }

  submission(teamId: number, submittedAt: string, options: { id?: number; round?: number } = {}): number {
    const result = this.db
      .prepare(
        `INSERT INTO submissions (id, team_id, round, repository, commit_sha, document, manifest, submitted_at)
         VALUES (?, ?, ?, 'https://git.example/team.git', ?, 'docs/optimizations.pdf', '{}', ?)`,
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
    reportPath?: string | null;
    error?: string | null;
    acc?: [number, number];
    accNorm?: [number, number];
  }): string {
    const id = options.id ?? `run-${++this.nextRun}`;
    const finished = options.status === 'running' ? null : (options.finishedAt ?? options.startedAt);
    this.db
      .prepare(
        `INSERT INTO runs (id, submission_id, kind, status, started_at, finished_at, config, config_sha256, dataset_path,
           dataset_sha256, total_items, reference_match, inference_median_ms, report_path, error)
         VALUES (?, ?, ?, ?, ?, ?, '{}', 'cfg', 'hellaswag_val.jsonl', 'ds', 10042, ?, ?, ?, ?)`,
      )
      .run(
        id,
        options.submissionId,
        options.kind ?? 'rerun',
        options.status,
        options.startedAt,
        finished,
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
      .prepare(
        `INSERT INTO gates (run_id, baseline_run_id, metric, baseline_value, value, drop_points, max_drop_points, passed, full_set, reason, speedup)
         VALUES (?, ?, 'acc_norm', ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        runId,
        baselineRunId,
        options.baseline,
        options.value,
        drop,
        maxDrop,
        passed ? 1 : 0,
        options.fullSet === false ? 0 : 1,
        `${passed ? 'PASS' : 'FAIL'}: acc_norm drop ${drop.toFixed(2)} points`,
        options.speedup ?? null,
      );
  }

  close(): void {
    this.db.close();
  }
}
