/**
 * A run stopped with Ctrl-C keeps the finished requests of the items it had not finished (most items are
 * part-way when a run stops: batches go longest first, across items), and `--resume` computes only the
 * requests still missing, ending at an uninterrupted run's answers. The built CLI in child processes.
 */
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inferenceResultSchema, type InferenceResult } from '../../src/evaluators/inference/results.js';
import { HELLASWAG_FULL, sharedFile } from '../helpers/shared.js';
import { runBuiltCli, startBuiltCli } from '../helpers/built-cli.js';
import { interruptibleModel, recordedItems, sqlite3 } from './helpers.js';

const ITEMS = 30;
/** HellaSwag: four endings per item, so four requests. */
const ENDINGS = 4;

let work: string;
let cacheDir: string;
let model: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-resume-requests-'));
  cacheDir = path.join(work, 'cache');
  // Larger than the embedded tiny model, so a pass lasts long enough to interrupt it half-way.
  model = await interruptibleModel(path.join(work, 'model'));
}, 120_000);

const parse = async (file: string): Promise<InferenceResult> => inferenceResultSchema.parse(JSON.parse(await readFile(file, 'utf8')));

describe('Ctrl-C, then --resume', () => {
  it('keeps finished requests of unfinished items and does not compute them again', async () => {
    const db = path.join(work, 'runs.sqlite');
    const flags = ['--model', model, '--dataset', sharedFile(HELLASWAG_FULL), '--limit', String(ITEMS), '-b', '1', '--threads', '1', '--shuffle-seed', '7', '--no-progress'];
    const running = startBuiltCli(['run', ...flags, '--db', db, '-o', 'stopped'], { cwd: work, cacheDir });
    const deadline = Date.now() + 240_000;
    while (recordedItems(db) < 3) {
      if (running.child.exitCode !== null || Date.now() > deadline) throw new Error(`no items recorded while running:\n${running.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    running.child.kill('SIGINT');
    expect((await running.exited).code, running.stderr()).toBe(3);

    const [row] = sqlite3<{ id: string }>(db, 'SELECT id FROM runs');
    const incompleteFile = path.join(work, 'stopped', row!.id, 'results.incomplete.json');
    const told = /optibench: (\d+) finished items saved in (\S+) \(status: incomplete\); with them (\d+) finished requests of unfinished items, which --resume does not compute again/.exec(running.stderr());
    expect(told, running.stderr()).not.toBeNull();
    const [finishedItems, finishedRequests] = [Number(told![1]), Number(told![3])];
    expect(path.resolve(work, told![2]!)).toBe(incompleteFile);
    const partial = await parse(incompleteFile);
    expect(partial.payload.items).toHaveLength(finishedItems);
    expect(partial.payload.partialRequests).toHaveLength(finishedRequests);
    expect(finishedRequests).toBeGreaterThan(0);
    expect(finishedItems).toBeLessThan(ITEMS);
    // Only items that did not finish, each with fewer than all its endings, none twice.
    const finished = new Set(partial.payload.items.map((item) => item.index));
    const endingsOf = new Map<number, Set<number>>();
    for (const r of partial.payload.partialRequests!) {
      expect(finished.has(r.index)).toBe(false);
      const seen = endingsOf.get(r.index) ?? new Set<number>();
      expect(seen.has(r.ending)).toBe(false);
      expect(r.ending).toBeLessThan(ENDINGS);
      seen.add(r.ending);
      endingsOf.set(r.index, seen);
    }
    for (const endings of endingsOf.values()) expect(endings.size).toBeLessThan(ENDINGS);

    const resumed = runBuiltCli(['run', '--resume', row!.id, '--db', db], { cwd: work, cacheDir, timeoutMs: 300_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`tokenizing ${ITEMS - finishedItems} items (${finishedItems} carried over from the interrupted run; ${finishedRequests} finished requests of unfinished items carried over)`);
    expect(resumed.stdout).toContain(`resumed    ${finishedItems} items and ${finishedRequests} finished requests of unfinished items carried over`);
    const runDir = path.join(work, 'stopped', row!.id);
    expect((await readdir(runDir)).sort()).toEqual(['index.html', 'results.json']);
    const r = await parse(path.join(runDir, 'results.json'));
    expect(r.payload.resumed).toEqual({ itemsCarriedOver: finishedItems, itemsRun: ITEMS - finishedItems, requestsCarriedOver: finishedRequests });
    // What this process computed: every request of the unfinished items but the carried ones.
    expect(r.payload.throughput.requests).toBe(ENDINGS * (ITEMS - finishedItems) - finishedRequests);
    expect(r.payload.partialRequests).toBeUndefined();

    const full = runBuiltCli(['run', ...flags, '-o', 'full'], { cwd: work, cacheDir, timeoutMs: 300_000 });
    expect(full.code, full.stderr).toBe(0);
    const [fullId] = await readdir(path.join(work, 'full'));
    const f = await parse(path.join(work, 'full', fullId!, 'results.json'));
    expect(f.payload.throughput.requests).toBe(ENDINGS * ITEMS);
    expect(r.payload.items.map((item) => item.index)).toEqual(f.payload.items.map((item) => item.index));
    r.payload.items.forEach((item, i) => {
      expect(item.predictions).toEqual(f.payload.items[i]!.predictions);
      item.loglikelihoods.forEach((ll, j) => expect(Math.abs(ll - f.payload.items[i]!.loglikelihoods[j]!)).toBeLessThanOrEqual(1e-5));
    });
    expect(Object.keys(r.metrics).sort()).toEqual(Object.keys(f.metrics).sort());
    for (const [name, m] of Object.entries(r.metrics)) expect(Math.abs(m.value - f.metrics[name]!.value)).toBeLessThanOrEqual(1e-12);
    // The carried requests are the uninterrupted run's answers to the same endings.
    const fullByIndex = new Map(f.payload.items.map((item) => [item.index, item]));
    for (const carried of partial.payload.partialRequests!) {
      expect(Math.abs(carried.logprob - fullByIndex.get(carried.index)!.loglikelihoods[carried.ending]!)).toBeLessThanOrEqual(1e-5);
    }
  }, 600_000);
});
