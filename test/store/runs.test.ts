/**
 * The results database's write/read API on real SQLite files, read back both through the API and through
 * the `sqlite3` shell. The results written come from a real run of the embedded tiny model.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { OptibenchError } from '../../src/core/errors.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';
import { configSha256 } from '../../src/core/canonical-json.js';
import {
  addSubmission,
  createRun,
  failRun,
  finishRun,
  openInferenceStore,
  readRun,
  readRunItems,
  recordGate,
  recordItems,
  reopenRun,
  type NewInferenceRun,
} from '../../src/evaluators/inference/store/runs.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { sqlite3, TSX_LOADER } from './helpers.js';

let work: string;
let results: InferenceResult;
let counter = 0;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-store-'));
  const config = configSchema.parse({ limit: 6, cacheDir: path.join(work, 'cache'), outputDir: work });
  results = await runEvaluation(config, {}, 'source-run', { shuffleSeed: 11 });
});

function freshDb(): { db: SqliteStore; file: string } {
  const file = path.join(work, `db-${++counter}.sqlite`);
  return { db: openInferenceStore(file), file };
}

function newRun(id: string, overrides: Partial<NewInferenceRun> = {}): NewInferenceRun {
  return {
    id,
    kind: 'run',
    config: results.config,
    datasetPath: results.payload.task.dataset.path,
    datasetSha256: results.payload.task.dataset.sha256,
    totalItems: results.payload.items.length,
    shuffleSeed: 11,
    ...overrides,
  };
}

describe('a run from start to finish', () => {
  it('is running with its config, then complete with metrics, machine and headline time, in the file as sqlite3 reads it', () => {
    const { db, file } = freshDb();
    createRun(db, newRun('r1'));
    const started = sqlite3(file, "SELECT status, config_sha256, total_items, shuffle_seed, finished_at, score FROM runs WHERE id = 'r1'")[0]!;
    expect(started).toEqual({ status: 'running', config_sha256: results.subject.configSha256, total_items: 6, shuffle_seed: 11, finished_at: null, score: null });

    recordItems(db, 'r1', results.payload.items.slice(0, 2));
    expect(sqlite3(file, "SELECT item_index FROM inference_items WHERE run_id = 'r1' ORDER BY item_index")).toEqual(
      results.payload.items.slice(0, 2).map((item) => ({ item_index: item.index })),
    );

    finishRun(db, 'r1', results, { resultsPath: '/x/results.json', reportPath: '/x/index.html' });
    const row = sqlite3<Record<string, unknown>>(file, "SELECT status, score, results_path, machine FROM runs WHERE id = 'r1'")[0]!;
    expect(row.status).toBe('complete');
    expect(row.score).toBe(results.timings.inference.medianMs);
    expect(row.results_path).toBe('/x/results.json');
    expect(JSON.parse(row.machine as string)).toEqual(results.environment);
    const metrics = sqlite3<{ name: string; value: number; stderr: number }>(file, "SELECT name, value, stderr FROM run_metrics WHERE run_id = 'r1' ORDER BY name");
    expect(metrics.map((m) => m.name)).toEqual(Object.keys(results.metrics).sort());
    for (const m of metrics) {
      expect(m.value).toBeCloseTo(results.metrics[m.name]!.value, 12);
      expect(m.stderr).toBeCloseTo(results.metrics[m.name]!.stderr!, 12);
    }
    // Every item is there once finished, with its numbers exactly as computed (JSON round-trips doubles).
    expect(readRunItems(db, 'r1')).toEqual(results.payload.items);
    const stored = readRun(db, 'r1')!;
    expect(stored).toMatchObject({ status: 'complete', itemCount: 6, totalItems: 6, kind: 'run', configSha256: results.subject.configSha256 });
    expect(stored.config).toEqual(results.config);
    db.close();
  });

  it('stores the canonical config sha256 the results carry, whatever the key order', () => {
    const { db } = freshDb();
    const reordered = Object.fromEntries(Object.entries(results.config).reverse());
    createRun(db, newRun('r-order', { config: reordered }));
    expect(readRun(db, 'r-order')!.configSha256).toBe(results.subject.configSha256);
    db.close();
  });

  it('a resumed run gets no headline time: its clock covered only part of the items', () => {
    const { db } = freshDb();
    createRun(db, newRun('r-resumed'));
    finishRun(db, 'r-resumed', { ...results, payload: { ...results.payload, resumed: { itemsCarriedOver: 2, itemsRun: 4 } } }, { resultsPath: null, reportPath: null });
    expect(readRun(db, 'r-resumed')).toMatchObject({ status: 'complete', score: null });
    db.close();
  });
});

describe('what the API refuses', () => {
  it('an item recorded twice, items for a finished run, finishing twice, and results of another size or dataset', () => {
    const { db } = freshDb();
    createRun(db, newRun('r2'));
    recordItems(db, 'r2', results.payload.items.slice(0, 1));
    expect(() => recordItems(db, 'r2', results.payload.items.slice(0, 2))).toThrow(`run r2: item ${results.payload.items[0]!.index} is already recorded`);
    // The refused call was one transaction: its other item was not written either.
    expect(readRun(db, 'r2')!.itemCount).toBe(1);

    expect(() => finishRun(db, 'r2', { ...results, payload: { ...results.payload, items: results.payload.items.slice(0, 5) } }, { resultsPath: null, reportPath: null })).toThrow(
      'run r2: the results hold 5 items, the run was asked for 6',
    );
    const otherDataset = { ...results, payload: { ...results.payload, task: { ...results.payload.task, dataset: { ...results.payload.task.dataset, sha256: 'f'.repeat(64) } } } };
    expect(() => finishRun(db, 'r2', otherDataset, { resultsPath: null, reportPath: null })).toThrow(/the results scored dataset sha256 ffffffffffff…/);
    expect(() => finishRun(db, 'r2', { ...results, status: 'incomplete', error: 'boom' }, { resultsPath: null, reportPath: null })).toThrow(/only complete results finish a run/);

    finishRun(db, 'r2', results, { resultsPath: null, reportPath: null });
    expect(() => finishRun(db, 'r2', results, { resultsPath: null, reportPath: null })).toThrow('cannot finish run r2: it is complete, expected running');
    expect(() => recordItems(db, 'r2', results.payload.items.slice(5))).toThrow('cannot record items of run r2: it is complete, expected running');
    expect(() => reopenRun(db, 'r2')).toThrow(/run r2 is already complete .*: there is nothing to resume/);
    expect(() => recordItems(db, 'nope', results.payload.items)).toThrow(/no such run/);
    db.close();
  });

  it('errors are OptibenchErrors naming the database file', () => {
    const { db, file } = freshDb();
    createRun(db, newRun('dup'));
    try {
      createRun(db, newRun('dup'));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(OptibenchError);
      expect((error as OptibenchError).oneLine()).toMatch(new RegExp(`^${file}: cannot create run dup: UNIQUE constraint failed: runs.id`));
    }
    db.close();
  });
});

describe('transactional finish', () => {
  it('a failure injected between the writes of finishRun leaves the run running, with no metrics and no new items', () => {
    const { db, file } = freshDb();
    createRun(db, newRun('r3'));
    recordItems(db, 'r3', results.payload.items.slice(0, 3));
    // The status update and the items are written before the metrics: an error on the metric rows must undo them.
    db.db.exec("CREATE TRIGGER injected BEFORE INSERT ON run_metrics WHEN NEW.name = 'acc_norm' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    expect(() => finishRun(db, 'r3', results, { resultsPath: '/x', reportPath: '/y' })).toThrow('injected failure');
    db.close();
    expect(sqlite3(file, "SELECT status, finished_at, machine, score, results_path FROM runs WHERE id = 'r3'")).toEqual([
      { status: 'running', finished_at: null, machine: null, score: null, results_path: null },
    ]);
    expect(sqlite3(file, "SELECT COUNT(*) AS n FROM run_metrics WHERE run_id = 'r3'")).toEqual([{ n: 0 }]);
    expect(sqlite3(file, "SELECT COUNT(*) AS n FROM inference_items WHERE run_id = 'r3'")).toEqual([{ n: 3 }]);
  });

  it('a process killed with SIGKILL inside finishRun leaves no complete-looking row', async () => {
    const file = path.join(work, 'killed.sqlite');
    const db = openInferenceStore(file);
    createRun(db, newRun('r4'));
    recordItems(db, 'r4', results.payload.items.slice(0, 2));
    db.close();
    const resultsFile = path.join(work, 'r4-results.json');
    await writeFile(resultsFile, JSON.stringify(results));
    const marker = path.join(work, 'r4-inside');
    // The child finishes the run with the real API; a trigger on the metric rows calls back into the child,
    // which says it is inside the transaction and then waits to be killed.
    const script = path.join(work, 'finish-and-hang.mts');
    await writeFile(
      script,
      `import { readFileSync, writeFileSync } from 'node:fs';
import { finishRun, openInferenceStore } from ${JSON.stringify(path.join(REPO_ROOT, 'src/evaluators/inference/store/runs.ts'))};
const store = openInferenceStore(${JSON.stringify(file)});
store.db.function('hang', () => { writeFileSync(${JSON.stringify(marker)}, 'inside'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000); return 0; });
store.db.exec("CREATE TEMP TRIGGER hang_here BEFORE INSERT ON main.run_metrics BEGIN SELECT hang(); END;");
finishRun(store, 'r4', JSON.parse(readFileSync(${JSON.stringify(resultsFile)}, 'utf8')), { resultsPath: '/x', reportPath: '/y' });
`,
    );
    const child = spawn(process.execPath, [`--import=${TSX_LOADER}`, script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    const deadline = Date.now() + 60_000;
    while (!existsSync(marker)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the child never reached the metric rows: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // The killed transaction had already marked the row complete and written the other items: none of it stays.
    expect(sqlite3(file, "SELECT status, finished_at FROM runs WHERE id = 'r4'")).toEqual([{ status: 'running', finished_at: null }]);
    expect(sqlite3(file, "SELECT COUNT(*) AS n FROM run_metrics WHERE run_id = 'r4'")).toEqual([{ n: 0 }]);
    expect(sqlite3(file, "SELECT COUNT(*) AS n FROM inference_items WHERE run_id = 'r4'")).toEqual([{ n: 2 }]);
    expect(spawnSync('sqlite3', [file, 'PRAGMA integrity_check'], { encoding: 'utf8' }).stdout.trim()).toBe('ok');
  });
});

describe('failing and reopening', () => {
  it('failRun keeps the recorded items, adds the unrecorded ones, and reopenRun makes the run running again', () => {
    const { db } = freshDb();
    createRun(db, newRun('r5'));
    recordItems(db, 'r5', results.payload.items.slice(0, 2));
    failRun(db, 'r5', 'the backend crashed', { items: results.payload.items.slice(0, 4) });
    expect(readRun(db, 'r5')).toMatchObject({ status: 'failed', error: 'the backend crashed', itemCount: 4 });
    expect(() => failRun(db, 'r5', 'again')).toThrow('cannot fail run r5: it is failed, expected running');
    const before = reopenRun(db, 'r5');
    expect(before.status).toBe('failed');
    expect(readRun(db, 'r5')).toMatchObject({ status: 'running', error: null, finishedAt: null, itemCount: 4 });
    db.close();
  });
});

describe('teams, submissions and gates', () => {
  it('a submission is added for a registered team; addSubmission refuses an unknown team', () => {
    const { db, file } = freshDb();
    const team = db.registerTeam({ name: 'Fast & Furious', members: [{ name: 'Ada' }, { name: 'Bo', email: 'bo@example.org' }] });
    const id = team.rowId;
    expect(sqlite3(file, 'SELECT id, registration_id, name, members FROM teams')).toEqual([
      { id, registration_id: team.registrationId, name: 'Fast & Furious', members: '[{"name":"Ada"},{"name":"Bo","email":"bo@example.org"}]' },
    ]);
    const submission = addSubmission(db, { teamId: id, repository: 'https://example.org/r.git', commitSha: 'abc', manifest: { team: 'x' }, submittedAt: new Date('2026-01-02T03:04:05Z') });
    expect(sqlite3(file, 'SELECT id, team_id, round, commit_sha, document, submitted_at FROM submissions')).toEqual([
      { id: submission, team_id: id, round: 1, commit_sha: 'abc', document: null, submitted_at: '2026-01-02T03:04:05.000Z' },
    ]);
    expect(() => addSubmission(db, { teamId: 999, repository: 'r', commitSha: 'c', manifest: {} })).toThrow('cannot add a submission for team id 999: no such team');
    createRun(db, newRun('sub-run', { kind: 'rerun', submissionId: submission }));
    expect(readRun(db, 'sub-run')).toMatchObject({ kind: 'rerun', submissionId: submission });
    db.close();
  });

  it('recordGate stores the drop in points and the speedup from the two runs\' headline times', () => {
    const { db, file } = freshDb();
    createRun(db, newRun('base'));
    finishRun(db, 'base', { ...results, timings: { ...results.timings, inference: { ...results.timings.inference, medianMs: 300 } } }, { resultsPath: null, reportPath: null });
    createRun(db, newRun('cand'));
    finishRun(db, 'cand', { ...results, timings: { ...results.timings, inference: { ...results.timings.inference, medianMs: 120 } } }, { resultsPath: null, reportPath: null });
    recordGate(db, { runId: 'cand', baselineRunId: 'base', metric: 'acc_norm', baselineValue: 0.5, value: 0.496, maxDropPoints: 0.5, passed: true, fullSet: false, reason: 'within 0.5 points' });
    const [gate] = sqlite3<Record<string, number | string>>(file, 'SELECT g.*, v.reference_run_id AS baseline_run_id, v.passed, v.reason FROM inference_gates g JOIN verdicts v USING (run_id)');
    expect(gate).toMatchObject({ run_id: 'cand', baseline_run_id: 'base', passed: 1, full_set: 0, speedup: 2.5 });
    expect(gate!.drop_points).toBeCloseTo(0.4, 12); // (0.5 - 0.496) x 100
    // Recording again replaces the verdict; an explicit speedup wins.
    recordGate(db, { runId: 'cand', baselineRunId: 'base', metric: 'acc_norm', baselineValue: 0.5, value: 0.49, maxDropPoints: 0.5, passed: false, fullSet: true, reason: 'lost 1 point', speedup: null });
    expect(sqlite3(file, 'SELECT v.passed, g.full_set, g.speedup, v.reason FROM inference_gates g JOIN verdicts v USING (run_id)')).toEqual([{ passed: 0, full_set: 1, speedup: null, reason: 'lost 1 point' }]);
    expect(() => recordGate(db, { runId: 'cand', baselineRunId: 'ghost', metric: 'acc', baselineValue: 0, value: 0, maxDropPoints: 0.5, passed: true, fullSet: true, reason: '' })).toThrow(
      'cannot record a gate: no baseline run "ghost" in the results database',
    );
    db.close();
  });
});

describe('config sha256', () => {
  it('is the sha256 of the canonical JSON, as sha256sum computes it over the hand-written canonical text', () => {
    const config = { b: 1, a: { d: [1, 'x', null], c: 'é' }, e: true };
    const canonical = '{"a":{"c":"é","d":[1,"x",null]},"b":1,"e":true}';
    const expected = spawnSync('sha256sum', { input: canonical, encoding: 'utf8' }).stdout.split(' ')[0];
    expect(configSha256(config)).toBe(expected);
    expect(configSha256({ e: true, a: { c: 'é', d: [1, 'x', null] }, b: 1 })).toBe(expected);
  });
});
