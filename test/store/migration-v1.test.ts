/**
 * Files written by optibench before evaluators (test/fixtures/v1: a results file version 1, a database schema
 * version 1) read and migrate: the database's runs, items, gate verdicts and teams come through as the inference
 * evaluator's, a read-only reader upgrades it in memory and leaves the file alone, an interrupted run recorded
 * then resumes now, a baseline recorded then still judges a re-run, and `optibench rescore` checks the old file.
 * Every expectation is read from the fixture itself with the sqlite3 shell or from its JSON, not from the code
 * under test.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import { parseInferenceResult } from '../../src/evaluators/inference/results-file.js';
import { openInferenceStore, readRunItems } from '../../src/evaluators/inference/store/runs.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { PDF, makeRepo, registerTeam, writeManifest } from '../submissions/git-repo.js';
import { optibench, sqlite3 } from './helpers.js';

const FIXTURE_DB = path.join(REPO_ROOT, 'test/fixtures/v1/results-v1.sqlite');
const FIXTURE_RESULTS = path.join(REPO_ROOT, 'test/fixtures/v1/results-v1.json');

interface V1Item {
  index: number;
  gold: number;
  loglikelihoods: number[];
  isGreedy: boolean[];
  contextTokens: number;
  continuationTokens: number[];
  choiceChars: number[];
  predictions: Record<string, number>;
}

let work: string;
let cache: string;
let v1: { runId: string; items: V1Item[]; metrics: Record<string, { value: number; stderr: number | null }>; timings: { inference: { medianMs: number } } };
/** The fixture's rows, as the sqlite3 shell reads the untouched file. */
let oldRuns: { id: string; kind: string; status: string; inference_median_ms: number | null; error: string | null; submission_id: number | null }[];

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

async function copyOfFixture(name: string): Promise<string> {
  const file = path.join(work, name);
  await copyFile(FIXTURE_DB, file);
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-migration-'));
  cache = path.join(work, 'cache');
  v1 = JSON.parse(await readFile(FIXTURE_RESULTS, 'utf8')) as typeof v1;
  oldRuns = sqlite3(FIXTURE_DB, 'SELECT id, kind, status, inference_median_ms, error, submission_id FROM runs ORDER BY id');
  expect(sqlite3(FIXTURE_DB, 'PRAGMA user_version')).toEqual([{ user_version: 1 }]);
});

describe('a version 1 database, opened for writing', () => {
  let file: string;

  beforeAll(async () => {
    file = await copyOfFixture('migrated.sqlite');
    openInferenceStore(file).close();
  });

  it('is at schema version 3 with the inference tables applied, and nothing left under legacy names', () => {
    expect(sqlite3(file, 'PRAGMA user_version')).toEqual([{ user_version: 3 }]);
    expect(sqlite3(file, 'SELECT evaluator, version FROM store_versions')).toEqual([{ evaluator: 'inference', version: 1 }]);
    const tables = sqlite3<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map((t) => t.name);
    expect(tables).toEqual(['inference_gates', 'inference_items', 'run_metrics', 'runs', 'store_versions', 'submissions', 'teams', 'verdicts']);
    expect(sqlite3(file, 'PRAGMA foreign_key_check')).toEqual([]);
    expect(sqlite3(file, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });

  it('keeps every team, each now with a registration id of its own (through version 2 to 3)', () => {
    const teams = sqlite3<{ id: number; registration_id: string; name: string; members: string; created_at: string }>(file, 'SELECT id, registration_id, name, members, created_at FROM teams ORDER BY id');
    expect(teams.map(({ registration_id: _issued, ...t }) => t)).toEqual(sqlite3(FIXTURE_DB, 'SELECT id, name, members, created_at FROM teams ORDER BY id'));
    for (const t of teams) expect(t.registration_id).toMatch(/^team-[a-z2-7]{8}$/);
    expect(new Set(teams.map((t) => t.registration_id)).size).toBe(teams.length);
  });

  it("keeps every run, as the inference evaluator's, its headline time as the score", () => {
    const runs = sqlite3<{ id: string; evaluator: string; kind: string; status: string; score: number | null; error: string | null; submission_id: number | null }>(
      file,
      'SELECT id, evaluator, kind, status, score, error, submission_id FROM runs ORDER BY id',
    );
    expect(runs).toEqual(oldRuns.map(({ inference_median_ms, ...r }) => ({ ...r, evaluator: 'inference', score: inference_median_ms })));
    expect(sqlite3(file, 'SELECT DISTINCT evaluator FROM submissions')).toEqual([{ evaluator: 'inference' }]);
    expect(sqlite3(file, 'SELECT COUNT(*) AS n FROM run_metrics')).toEqual(sqlite3(FIXTURE_DB, 'SELECT COUNT(*) AS n FROM run_metrics'));
  });

  it('keeps every item, and reads the baseline\'s back exactly as its results file holds them', () => {
    expect(sqlite3(file, 'SELECT run_id, COUNT(*) AS n FROM inference_items GROUP BY run_id ORDER BY run_id')).toEqual(
      sqlite3(FIXTURE_DB, 'SELECT run_id, COUNT(*) AS n FROM run_items GROUP BY run_id ORDER BY run_id'),
    );
    const store = openInferenceStore(file);
    try {
      expect(readRunItems(store, v1.runId)).toEqual(v1.items);
      expect(store.readRun('v1-run-interrupted')).toMatchObject({ status: 'running', itemCount: 3, totalItems: 6, shuffleSeed: 7 });
    } finally {
      store.close();
    }
  });

  it('turns the gate row into a verdict and the gate figures, and the board reads them', () => {
    const [old] = sqlite3<Record<string, unknown>>(FIXTURE_DB, 'SELECT * FROM gates');
    expect(sqlite3(file, 'SELECT run_id, reference_run_id, passed, reason FROM verdicts')).toEqual([
      { run_id: old!.run_id, reference_run_id: old!.baseline_run_id, passed: old!.passed, reason: old!.reason },
    ]);
    expect(sqlite3(file, 'SELECT * FROM inference_gates')).toEqual([
      { run_id: old!.run_id, metric: old!.metric, baseline_value: old!.baseline_value, value: old!.value, drop_points: old!.drop_points, max_drop_points: old!.max_drop_points, full_set: old!.full_set, speedup: old!.speedup },
    ]);
    const store = openInferenceStore(file, { readonly: true });
    try {
      const standings = queryStandings(store);
      const fast = standings.find((s) => s.team === 'Fast Llamas')!;
      expect(fast).toMatchObject({ state: 'judged', runId: 'v1-rerun-complete', speedup: old!.speedup, referenceMatch: false, gate: { passed: true, baselineRunId: v1.runId } });
      const slow = standings.find((s) => s.team === 'Slow Alpacas')!;
      expect(slow).toMatchObject({ state: 'failed', note: oldRuns.find((r) => r.id === 'v1-rerun-failed')!.error });
    } finally {
      store.close();
    }
  });
});

describe('a version 1 database, read only', () => {
  it('is upgraded in memory for the reader and left exactly as it was on disk', async () => {
    const file = await copyOfFixture('readonly.sqlite');
    const before = await sha256(file);
    const store = openInferenceStore(file, { readonly: true });
    try {
      expect(queryStandings(store).map((s) => [s.team, s.state])).toEqual(expect.arrayContaining([['Fast Llamas', 'judged'], ['Slow Alpacas', 'failed']]));
    } finally {
      store.close();
    }
    expect(await sha256(file)).toBe(before);
    expect(sqlite3(file, 'PRAGMA user_version')).toEqual([{ user_version: 1 }]);
  });

  it('gives the leaderboard command a board, without writing the file', async () => {
    const file = await copyOfFixture('board.sqlite');
    const before = await sha256(file);
    const { code, stdout, stderr } = optibench(['leaderboard', '--db', file, '-o', path.join(work, 'site'), '--date', '2026-12-01'], work, cache);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^leaderboard 2026-12-01: 1 ranked \(1 go on\), 0 failed the gate, 0 pending, 1 failed$/m);
    const board = JSON.parse(await readFile(path.join(work, 'site', 'leaderboard.json'), 'utf8')) as { ranked: { team: string; speedup: number }[] };
    expect(board.ranked.map((r) => [r.team, r.speedup])).toEqual([['Fast Llamas', 2]]);
    expect(await sha256(file)).toBe(before);
  });
});

describe('runs recorded by a version 1 optibench, continued now', () => {
  it('an interrupted run resumes from its three recorded items to the metrics of the complete run of the same config', async () => {
    const file = await copyOfFixture('resume.sqlite');
    // The stored config wrote to the fixture maker's folder; where output goes is not part of what ran.
    const out = path.join(work, 'resumed-out');
    sqlite3(file, `UPDATE runs SET config = json_set(config, '$.outputDir', '${out}') WHERE id = 'v1-run-interrupted' RETURNING id`);
    const { code, stderr } = optibench(['run', '--resume', 'v1-run-interrupted', '--db', file, '--no-progress'], work, cache);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    const results = parseInferenceResult(JSON.parse(await readFile(path.join(out, 'v1-run-interrupted', 'results.json'), 'utf8')), 'resumed');
    expect(results.payload.resumed).toEqual({ itemsCarriedOver: 3, itemsRun: 3 });
    expect(results.payload.items.map((i) => i.index)).toEqual(v1.items.map((i) => i.index));
    results.payload.items.forEach((item, i) => {
      const expected = v1.items[i]!;
      expect(item.gold).toBe(expected.gold);
      expect(item.predictions).toEqual(expected.predictions);
      item.loglikelihoods.forEach((ll, c) => expect(ll).toBeCloseTo(expected.loglikelihoods[c]!, 4));
    });
    expect(results.metrics).toEqual(v1.metrics);
    expect(sqlite3(file, "SELECT status, score FROM runs WHERE id = 'v1-run-interrupted'")).toEqual([{ status: 'complete', score: null }]);
  });

  it('a baseline recorded then still judges a re-run now, reading its version 1 results file', async () => {
    const file = await copyOfFixture('rerun.sqlite');
    const baselineFile = path.join(work, 'baseline-results.json');
    await copyFile(FIXTURE_RESULTS, baselineFile);
    sqlite3(file, `UPDATE runs SET results_path = '${baselineFile}' WHERE id = '${v1.runId}' RETURNING id`);
    const team = registerTeam(file, 'New Team', [{ name: 'Nia' }]);
    const submission = path.join(work, 'team');
    const commit = await makeRepo(submission, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'plugins:\n  - head-pruning\nbatchSize: 4\n' });
    await writeManifest(submission, commit, team, { config: 'bench.yaml' });
    const { code, stdout, stderr } = optibench(['rerun', submission, '--db', file, '--team', team, '--limit', '6', '-o', 'reports', '--work-root', 'work', '--timeout', '240'], work, cache);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^  gate       PASS against baseline ${v1.runId}: `, 'm'));
    const [verdict] = sqlite3<{ reference_run_id: string; passed: number }>(file, "SELECT v.reference_run_id, v.passed FROM verdicts v JOIN runs r ON r.id = v.run_id JOIN submissions s ON s.id = r.submission_id JOIN teams t ON t.id = s.team_id WHERE t.name = 'New Team'");
    expect(verdict).toEqual({ reference_run_id: v1.runId, passed: 1 });
  });
});

describe('a version 1 results file', () => {
  it('optibench rescore recomputes its metrics from its log-likelihoods', () => {
    const { code, stdout } = optibench(['rescore', FIXTURE_RESULTS, '--json'], work, cache);
    expect(code).toBe(0);
    const again = JSON.parse(stdout) as { consistent: boolean; items: number; metrics: typeof v1.metrics };
    expect(again).toMatchObject({ consistent: true, items: v1.items.length });
    for (const [name, m] of Object.entries(v1.metrics)) expect(again.metrics[name]!.value).toBeCloseTo(m.value, 12);
  });

  it('optibench rescore flags a tampered one (exit 4)', async () => {
    const tampered = JSON.parse(await readFile(FIXTURE_RESULTS, 'utf8')) as typeof v1;
    tampered.metrics.acc_norm!.value = 0.99;
    const file = path.join(work, 'tampered-v1.json');
    await writeFile(file, JSON.stringify(tampered));
    const { code, stdout } = optibench(['rescore', file], work, cache);
    expect(code).toBe(4);
    expect(stdout).toContain('INCONSISTENT');
  });

  it('reads as version 2: the same items, metrics and timings, the headline its median time', async () => {
    const upgraded = parseInferenceResult(JSON.parse(await readFile(FIXTURE_RESULTS, 'utf8')), FIXTURE_RESULTS);
    expect(upgraded).toMatchObject({ version: 2, evaluator: { id: 'inference' }, runId: v1.runId, verdict: null, metrics: v1.metrics });
    expect(upgraded.payload.items).toEqual(v1.items);
    expect(upgraded.headline).toEqual({ name: 'inference_ms', label: 'inference time', unit: 'ms', direction: 'lower', value: v1.timings.inference.medianMs });
    expect(await readdir(path.dirname(FIXTURE_RESULTS))).toContain('results-v1.json');
  });
});
