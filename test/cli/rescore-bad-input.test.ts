/**
 * `optibench rescore` on results files damaged in ways the schema allows: each is one clear error naming the
 * item (no stack trace), and a file whose items were removed while its metrics were kept is not "consistent".
 */
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuiltCli } from '../helpers/built-cli.js';

let work: string;
let cacheDir: string;
let results: { status: string; metrics: Record<string, unknown>; payload: { items: { index: number; gold: number; loglikelihoods: number[] }[] } };

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-rescore-'));
  cacheDir = path.join(work, 'cache');
  const run = runBuiltCli(['run', '--limit', '6', '--threads', '1', '--no-progress', '-o', 'out'], { cwd: work, cacheDir, timeoutMs: 300_000 });
  expect(run.code, run.stderr).toBe(0);
  const [id] = await readdir(path.join(work, 'out'));
  results = JSON.parse(await readFile(path.join(work, 'out', id!, 'results.json'), 'utf8')) as typeof results;
}, 300_000);

async function rescoreOf(change: (r: typeof results) => void) {
  const damaged = structuredClone(results);
  change(damaged);
  const file = path.join(work, `damaged-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(damaged));
  return { file, ...runBuiltCli(['rescore', file], { cwd: work, cacheDir }) };
}

function expectOneError(outcome: { code: number | null; stdout: string; stderr: string }, message: string): void {
  expect(outcome.code).toBe(1);
  expect(outcome.stdout).toBe('');
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
  expect(outcome.stderr.trim()).toBe(`optibench: error: ${message}`);
}

describe('rescore refuses items it cannot score, naming them', () => {
  it('an item with 3 log-likelihoods for 4 endings', async () => {
    const r = await rescoreOf((d) => d.payload.items[2]!.loglikelihoods.pop());
    expectOneError(r, `${r.file}: payload.items[2]: item 2 (document ${results.payload.items[2]!.index}) has 3 loglikelihoods for its 4 endings (choiceChars)`);
  });

  it('a gold of 7', async () => {
    const r = await rescoreOf((d) => (d.payload.items[4]!.gold = 7));
    expectOneError(r, `${r.file}: payload.items[4]: item 4 (document ${results.payload.items[4]!.index}) has gold 7, out of range for its 4 endings (0-3)`);
  });

  it('every item removed, the metrics kept', async () => {
    const r = await rescoreOf((d) => (d.payload.items = []));
    expectOneError(r, `${r.file}: payload.items: the run is complete over 6 items (payload.task.dataset.selectedDocs) but the file holds 0: its metrics cannot be checked`);
  });

  it('an item removed from a complete run', async () => {
    const r = await rescoreOf((d) => d.payload.items.splice(1, 1));
    expectOneError(r, `${r.file}: payload.items: the run is complete over 6 items (payload.task.dataset.selectedDocs) but the file holds 5: its metrics cannot be checked`);
  });

  it('an incomplete file with no items but metrics, and one whose metrics name one nothing recomputes', async () => {
    const empty = await rescoreOf((d) => {
      d.status = 'incomplete';
      d.payload.items = [];
    });
    expectOneError(empty, `${empty.file}: payload.items: the file holds no items but stores metrics (acc, acc_norm): they cannot follow from nothing`);
    const invented = await rescoreOf((d) => (d.metrics.f1 = { value: 0.5, stderr: 0.1 }));
    expect(invented.code).toBe(4);
    expect(invented.stdout).toContain('INCONSISTENT');
  });

  it('the undamaged file is still consistent', async () => {
    const r = await rescoreOf(() => undefined);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('consistent: the stored metrics follow from the stored log-likelihoods');
  });
});
