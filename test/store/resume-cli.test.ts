/**
 * `optibench run --db` and `--resume` as a user runs them (the CLI from source, in child processes): a run
 * killed with SIGKILL mid-pass and resumed ends with the same metrics as an uninterrupted run of the same
 * items, and what cannot be resumed is refused with the reason.
 */
import { copyFile, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/evaluators/inference/config.js';
import { inferenceResultSchema, type InferenceResult } from '../../src/evaluators/inference/results.js';
import { sha256File } from '../../src/models/llama/weights-hash.js';
import { createRun, openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import { HELLASWAG_FULL, REPO_ROOT, sharedFile } from '../helpers/shared.js';
import { interruptibleModel, optibench, optibenchChild, recordedItems, sqlite3 } from './helpers.js';

let work: string;
let cacheDir: string;
let model: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-resume-'));
  cacheDir = path.join(work, 'cache');
  // Larger than the embedded tiny model, so a pass over 60 real items lasts seconds: long enough to kill it
  // half-way with some items recorded.
  model = await interruptibleModel(path.join(work, 'model'));
});

async function resultsIn(dir: string): Promise<InferenceResult> {
  return inferenceResultSchema.parse(JSON.parse(await readFile(path.join(dir, 'results.json'), 'utf8')));
}

describe('kill -9 mid-run, then --resume', () => {
  const db = () => path.join(work, 'runs.sqlite');
  const runFlags = () => ['--model', model, '--dataset', sharedFile(HELLASWAG_FULL), '--limit', '60', '-b', '1', '--threads', '1', '--shuffle-seed', '7', '--no-progress'];
  let killedId: string;
  let itemsAtKill: number;

  it('leaves the killed run running with some of its items recorded, and no results file', async () => {
    const { child, exited, stderr } = optibenchChild(['run', ...runFlags(), '--db', db(), '-o', 'out'], work, cacheDir);
    const deadline = Date.now() + 240_000;
    let recorded = 0;
    while (recorded < 5) {
      if (child.exitCode !== null) throw new Error(`the run ended before it could be killed:\n${stderr()}`);
      if (Date.now() > deadline) throw new Error(`no items recorded in time:\n${stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
      recorded = recordedItems(db());
    }
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');

    const runs = sqlite3<{ id: string; status: string; total_items: number; shuffle_seed: number; finished_at: string | null }>(db(), 'SELECT id, status, total_items, shuffle_seed, finished_at FROM runs');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'running', total_items: 60, shuffle_seed: 7, finished_at: null });
    killedId = runs[0]!.id;
    itemsAtKill = sqlite3<{ n: number }>(db(), 'SELECT COUNT(*) AS n FROM inference_items')[0]!.n;
    expect(itemsAtKill).toBeGreaterThanOrEqual(5);
    expect(itemsAtKill).toBeLessThan(60);
    expect(sqlite3(db(), 'SELECT * FROM run_metrics')).toEqual([]);
    const runDir = path.join(work, 'out', killedId);
    expect(existsSync(path.join(runDir, 'results.json'))).toBe(false);
  });

  it('--resume continues it without redoing the finished items, to the metrics of an uninterrupted run', async () => {
    const resumed = optibench(['run', '--resume', killedId, '--db', db()], work, cacheDir);
    expect(resumed.stderr).toContain(`tokenizing ${60 - itemsAtKill} items (${itemsAtKill} carried over from the interrupted run)`);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`resumed    ${itemsAtKill} items carried over; timings cover the ${60 - itemsAtKill} computed now, not a full run`);
    const r = await resultsIn(path.join(work, 'out', killedId));
    expect(r.runId).toBe(killedId);
    expect(r.payload.resumed).toEqual({ itemsCarriedOver: itemsAtKill, itemsRun: 60 - itemsAtKill });
    expect(r.payload.throughput.requests).toBe(4 * (60 - itemsAtKill));
    expect(r.payload.shuffleSeed).toBe(7);

    const full = optibench(['run', ...runFlags(), '-o', 'full'], work, cacheDir);
    expect(full.code).toBe(0);
    const [fullId] = await readdir(path.join(work, 'full'));
    const f = await resultsIn(path.join(work, 'full', fullId!));
    expect(r.metrics).toEqual(f.metrics);
    expect(r.payload.items.map((item) => item.index)).toEqual(f.payload.items.map((item) => item.index));
    r.payload.items.forEach((item, i) => {
      expect(item.predictions).toEqual(f.payload.items[i]!.predictions);
      item.loglikelihoods.forEach((ll, j) => expect(Math.abs(ll - f.payload.items[i]!.loglikelihoods[j]!)).toBeLessThanOrEqual(1e-5));
    });
    // The resumed run ran the config it started with: the same as the uninterrupted one's, which only wrote elsewhere.
    expect(sqlite3(db(), `SELECT config_sha256 FROM runs WHERE id = '${killedId}'`)).toEqual([{ config_sha256: r.subject.configSha256 }]);
    expect(r.subject.configSha256).toBe(f.subject.configSha256);

    // The database: complete, all items, the metrics of the results file, and no headline time for a resumed run.
    expect(sqlite3(db(), `SELECT status, score, error FROM runs WHERE id = '${killedId}'`)).toEqual([{ status: 'complete', score: null, error: null }]);
    expect(sqlite3(db(), `SELECT COUNT(*) AS n FROM inference_items WHERE run_id = '${killedId}'`)).toEqual([{ n: 60 }]);
    const metrics = sqlite3<{ name: string; value: number }>(db(), `SELECT name, value FROM run_metrics WHERE run_id = '${killedId}' ORDER BY name`);
    expect(Object.fromEntries(metrics.map((m) => [m.name, m.value]))).toEqual(Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, v.value])));
  });

  it('refuses to resume a complete run, naming the database', () => {
    const again = optibench(['run', '--resume', killedId, '--db', db()], work, cacheDir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(new RegExp(`optibench: error: ${db()}: run ${killedId} is already complete \\(finished .*\\): there is nothing to resume`));
  });
});

describe('what --resume refuses', () => {
  it('flags that would change the run, and --resume without --db', () => {
    const withFlags = optibench(['run', '--resume', 'x', '--db', path.join(work, 'x.sqlite'), '--limit', '5', '--shuffle-seed', '3'], work, cacheDir);
    expect(withFlags.code).toBe(1);
    expect(withFlags.stderr).toContain('optibench: error: --resume: --resume continues the run with the configuration it started with: leave out --limit, --shuffle-seed');
    const noDb = optibench(['run', '--resume', 'x'], work, cacheDir);
    expect(noDb.code).toBe(1);
    expect(noDb.stderr).toContain('optibench: error: --resume: --resume needs --db <file>');
    const unknown = optibench(['run', '--resume', 'ghost', '--db', path.join(work, 'empty.sqlite')], work, cacheDir);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`optibench: error: ${path.join(work, 'empty.sqlite')}: no run "ghost" in the results database`);
  });

  it('a run whose dataset file changed since it started', async () => {
    const dataset = path.join(work, 'copy.jsonl');
    await copyFile(path.join(REPO_ROOT, 'datasets/tiny-hellaswag/hellaswag_tiny_val.jsonl'), dataset);
    const file = path.join(work, 'changed.sqlite');
    const store = openInferenceStore(file);
    const config = configSchema.parse({ dataset, limit: 4, outputDir: path.join(work, 'changed-out') });
    createRun(store, { id: 'changed', kind: 'run', config, datasetPath: dataset, datasetSha256: await sha256File(dataset), totalItems: 4, shuffleSeed: 1 });
    store.close();
    await writeFile(dataset, `${await readFile(dataset, 'utf8')}\n`);
    const refused = optibench(['run', '--resume', 'changed', '--db', file], work, cacheDir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`optibench: error: ${dataset}: cannot resume run changed: the dataset changed since the run started \\(sha256 [0-9a-f]{12}… then, [0-9a-f]{12}… now\\)`));
    // Refused before anything ran: the run is as it was.
    expect(sqlite3(file, "SELECT status FROM runs WHERE id = 'changed'")).toEqual([{ status: 'running' }]);
  });
});

describe('a run stopped with Ctrl-C', () => {
  it('is marked failed with its reason and its items kept, and --resume completes it, replacing the incomplete file', async () => {
    const file = path.join(work, 'interrupted.sqlite');
    const flags = ['--model', model, '--dataset', sharedFile(HELLASWAG_FULL), '--limit', '30', '-b', '1', '--threads', '1', '--no-progress'];
    const { child, exited, stderr } = optibenchChild(['run', ...flags, '--db', file, '-o', 'stopped'], work, cacheDir);
    const deadline = Date.now() + 240_000;
    while (recordedItems(file) < 3) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`no items recorded while running:\n${stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    expect((await exited).code).toBe(3);
    const [row] = sqlite3<{ id: string; status: string; error: string }>(file, 'SELECT id, status, error FROM runs');
    expect(row).toMatchObject({ status: 'failed', error: 'interrupted by the user' });
    const kept = sqlite3<{ n: number }>(file, 'SELECT COUNT(*) AS n FROM inference_items')[0]!.n;
    const runDir = path.join(work, 'stopped', row!.id);
    const partial = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(runDir, 'results.incomplete.json'), 'utf8')));
    // Every item the incomplete file holds is in the database too.
    expect(kept).toBe(partial.payload.items.length);
    expect(kept).toBeLessThan(30);

    const resumed = optibench(['run', '--resume', row!.id, '--db', file, '--canary', '2'], work, cacheDir);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/canary {5}2 items re-issued in each pass: answers matched/);
    expect((await readdir(runDir)).sort()).toEqual(['index.html', 'results.json']);
    const r = await resultsIn(runDir);
    expect(r.payload.items).toHaveLength(30);
    // Finished requests of unfinished items were carried over too (resume-requests.test.ts checks them).
    expect(r.payload.resumed).toMatchObject({ itemsCarriedOver: kept, itemsRun: 30 - kept });
    expect(r.payload.canary).toMatchObject({ items: 2, requests: 8 });
    expect(sqlite3(file, 'SELECT status, error FROM runs')).toEqual([{ status: 'complete', error: null }]);
  });
});
