/**
 * The organizer's whole path, as commands: the baseline recorded with `optibench run --db --as-baseline`, a
 * submission re-run with `optibench rerun` and judged against it, and the leaderboard ranking the team with the
 * recorded verdict and speedup. The database is read back with the sqlite3 shell; the speedup is recomputed
 * from the two runs' stored times.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import { openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import { optibench, sqlite3 } from '../store/helpers.js';
import { PDF, makeRepo, registerTeam, writeManifest } from './git-repo.js';

let root: string;
let cache: string;
let db: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-baseline-'));
  cache = path.join(root, 'cache');
  db = path.join(root, 'results.db');
});

afterAll(async () => {
  if (!process.env.KEEP) await rm(root, { recursive: true, force: true });
});

const rerunFlags = ['--db', 'results.db', '--limit', '12', '-o', 'reports', '--work-root', 'work', '--timeout', '240'];
/** Registered by the organizer before the team submits. */
let team: string;

describe('baseline, re-run and gate, end to end', () => {
  let baselineId: string;
  let submission: string;

  beforeAll(async () => {
    const base = optibench(['run', '--db', 'results.db', '--as-baseline', '--limit', '12', '--batch-size', '4', '-o', 'reports'], root, cache);
    expect(base.stderr).not.toMatch(/error/);
    expect(base.code).toBe(0);
    [{ id: baselineId }] = sqlite3<{ id: string }>(db, "SELECT id FROM runs WHERE kind = 'baseline' AND status = 'complete'") as [{ id: string }];
    team = registerTeam(db);
    submission = path.join(root, 'team');
    const commit = await makeRepo(submission, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'plugins:\n  - head-pruning\nbatchSize: 4\n' });
    await writeManifest(submission, commit, team, { config: 'bench.yaml' });
  }, 300_000);

  it('judges the re-run against the newest fitting baseline and records the verdict and the speedup', () => {
    const { code, stdout, stderr } = optibench(['rerun', submission, ...rerunFlags, '--team', team], root, cache);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^  gate       PASS against baseline ${baselineId}: `, 'm'));

    const [run] = sqlite3<{ id: string; score: number }>(db, "SELECT id, score FROM runs WHERE kind = 'rerun' AND status = 'complete'");
    const [baseline] = sqlite3<{ score: number }>(db, `SELECT score FROM runs WHERE id = '${baselineId}'`);
    const [gate] = sqlite3<Record<string, number | string>>(db, `SELECT g.*, v.reference_run_id AS baseline_run_id, v.passed FROM inference_gates g JOIN verdicts v USING (run_id) WHERE run_id = '${run!.id}'`);
    const metric = (id: string) => sqlite3<{ value: number }>(db, `SELECT value FROM run_metrics WHERE run_id = '${id}' AND name = 'acc_norm'`)[0]!.value;
    expect(gate).toMatchObject({ baseline_run_id: baselineId, metric: 'acc_norm', max_drop_points: 0.5, passed: 1, full_set: 0 });
    // head-pruning drops no prediction: the same acc_norm as the baseline's, item for item.
    expect(gate!.baseline_value).toBe(metric(baselineId));
    expect(gate!.value).toBe(metric(run!.id));
    expect(gate!.drop_points).toBeCloseTo(100 * (metric(baselineId) - metric(run!.id)), 12);
    expect(gate!.speedup).toBeCloseTo(baseline!.score / run!.score, 12);

    const handle = openInferenceStore(db, { readonly: true });
    try {
      const [standing] = queryStandings(handle);
      expect(standing).toMatchObject({ team: 'Fast Llamas', state: 'judged', runId: run!.id, gate: { passed: true, baselineRunId: baselineId } });
      expect(standing!.speedup).toBeCloseTo(gate!.speedup as number, 12);
    } finally {
      handle.close();
    }
  });

  it('refuses a baseline that cannot judge the re-run, before running anything', () => {
    const before = sqlite3<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n;
    const other = optibench(['rerun', submission, ...rerunFlags.map((f) => (f === '12' ? '10' : f)), '--team', team, '--baseline', baselineId], root, cache);
    expect(other.code).toBe(1);
    expect(other.stderr.trim()).toBe(
      `optibench: error: results.db: --baseline: run ${baselineId} cannot be the baseline: it scored other items (12 items, limit 12, seed 1234; the re-run scores 10, limit 10, seed 1234)`,
    );
    const [rerunId] = sqlite3<{ id: string }>(db, "SELECT id FROM runs WHERE kind = 'rerun'").map((r) => r.id);
    const notBaseline = optibench(['rerun', submission, ...rerunFlags, '--team', team, '--baseline', rerunId!], root, cache);
    expect(notBaseline.code).toBe(1);
    expect(notBaseline.stderr).toContain(`run ${rerunId} cannot be the baseline: it is a rerun run, not a baseline`);
    expect(sqlite3<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n).toBe(before);
  });

  it('--as-baseline needs --db', () => {
    const { code, stderr } = optibench(['run', '--as-baseline', '--limit', '2'], root, cache);
    expect(code).toBe(1);
    expect(stderr.trim()).toBe('optibench: error: --as-baseline: --as-baseline needs --db <file>: the baseline is recorded in the results database');
  });
});
