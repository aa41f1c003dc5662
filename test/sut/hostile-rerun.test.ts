/**
 * Systems under test that break or bend the protocol, re-run as the organizer would (root, bubblewrap, git,
 * SQLite read back with the sqlite3 shell): each is stopped with its reason, recorded failed with nothing
 * scored, and leaves no process behind. A config whose plugin slows the clock inside the sandbox changes
 * nothing the organizer measures.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesOf } from '../../src/sandbox/host-processes.js';
import { BYTES, type SandboxLimits } from '../../src/sandbox/limits.js';
import { rerunSubmission, type RerunOptions, type RerunOutcome } from '../../src/evaluators/inference/rerun/rerun.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { sqlite3 } from '../store/helpers.js';
import { PDF, makeRepo, registerTeam, writeManifest } from '../submissions/git-repo.js';

const FIXTURE = path.join(REPO_ROOT, 'test/sut/fixtures/hostile-sut.mjs');
const LIMITS: SandboxLimits = {
  wallSeconds: 60,
  cpuSeconds: 600,
  memoryBytes: 16 * BYTES.GiB,
  processes: 256,
  fileBytes: 512 * BYTES.MiB,
  diskBytes: 1024 * BYTES.MiB,
  tmpBytes: 256 * BYTES.MiB,
};

let root: string;
let db: string;
let team: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-hostile-sut-'));
  db = path.join(root, 'results.db');
  team = registerTeam(db);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function rerun(dir: string, extra: Partial<RerunOptions> = {}): Promise<RerunOutcome> {
  return rerunSubmission({ submissionDir: dir, db, team, limit: 12, limits: LIMITS, outputDir: path.join(root, 'reports'), workRoot: path.join(root, 'work'), cacheDir: path.join(root, 'cache'), ...extra });
}

async function hostile(mode: string, extra: Partial<RerunOptions> = {}): Promise<RerunOutcome> {
  const dir = path.join(root, mode);
  const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'sut.mjs': await readFile(FIXTURE) });
  await writeManifest(dir, commit, team, { command: ['/usr/bin/node', 'sut.mjs', mode] });
  const outcome = await rerun(dir, extra);
  expect(outcome.status).toBe('failed');
  expect(processesOf(outcome.sandbox!.uid)).toEqual([]);
  const [run] = sqlite3<Record<string, unknown>>(db, `SELECT status, error, finished_at, score, results_path FROM runs WHERE id = '${outcome.runId}'`);
  expect(run).toMatchObject({ status: 'failed', error: outcome.error, score: null, results_path: null });
  expect(run!.finished_at).not.toBeNull();
  expect(sqlite3(db, `SELECT * FROM run_metrics WHERE run_id = '${outcome.runId}'`)).toEqual([]);
  expect(sqlite3(db, `SELECT * FROM inference_items WHERE run_id = '${outcome.runId}'`)).toEqual([]);
  return outcome;
}

describe('a SUT that breaks the protocol is stopped with the reason', () => {
  it('never says hello', async () => {
    expect((await hostile('silent', { session: { helloSeconds: 2 } })).error).toBe('the SUT did not send its hello within 2 s');
  });

  it('exits without a word', async () => {
    expect((await hostile('exit-quietly')).error).toBe('the SUT ended while the harness waited for its hello: exited with code 0');
  });

  it('prints progress on stdout', async () => {
    expect((await hostile('garbage')).error).toBe('the SUT wrote a line that is not a protocol message (no known "type"): "\\"hello\\""');
  });

  it('writes an endless line: refused past 64 MiB, not kept', async () => {
    expect((await hostile('endless-line')).error).toBe('the SUT wrote a line longer than 64 MiB');
  });

  it('floods stdout with lines nobody asked for: the first one out of place ends the run', async () => {
    // The harness is busy building the warm-up while the flood arrives: loaded is read, the rest queues.
    const outcome = await hostile('flood', { session: { warmupItems: 0, passes: 1 } });
    expect(outcome.error).toMatch(/^the SUT (wrote more than 256 MiB the harness had not asked for yet|sent "loaded" where the protocol expects "answers" \(during pass 1\))$/);
  });

  it('answers NaN (null in JSON), a positive log-prob, an unknown id, an id twice, another pass', async () => {
    expect((await hostile('nan')).error).toMatch(/^the answer to request \d+ has "logprob" null: expected a finite number <= 0$/);
    expect((await hostile('positive')).error).toMatch(/^the answer to request \d+ has "logprob" 5: expected a finite number <= 0$/);
    expect((await hostile('unknown-id')).error).toBe('the SUT answered request 1000000, which pass 1 does not have');
    expect((await hostile('twice')).error).toMatch(/^the SUT answered request \d+ of pass 1 twice$/);
    expect((await hostile('wrong-pass')).error).toBe('the SUT answered for pass 2 during pass 1');
  });

  it('crashes during a pass: its exit and last words', async () => {
    expect((await hostile('crash')).error).toBe('the SUT ended while the harness waited for the answers of pass 1: exited with code 3: "segmentation fault (pretend)"');
  });
});

describe('a SUT that bends the measurement is caught', () => {
  it('remembers answers by content: the re-issued pass is too fast', async () => {
    const outcome = await hostile('cache');
    expect(outcome.error).toMatch(/^re-issued requests came back faster than their first issue: pass 2 took 0\.\d\d s, pass 1 1\.\d\d s \(\d+ % faster; at most 50 % and 1 s allowed\)/);
  });

  it('replays pass 1 by request id: ids are fresh each pass, so the answers disagree', async () => {
    expect((await hostile('replay-by-id')).error).toMatch(/^pass 2 disagrees with pass 1: request \d+ \(\d+ continuation tokens\) got -[\d.]+ there and -[\d.]+ in pass 1 \(more than the 0\.05 nats per token allowed\)/);
  });

  it('answers later passes with anything: the timed answers must be the scored ones', async () => {
    expect((await hostile('lazy-later', { session: { passes: 3 } })).error).toMatch(/^pass 2 disagrees with pass 1/);
  });

  it('slows the clock inside the sandbox: the organizer\'s clock is outside it', async () => {
    // The plugin stalls each pass for 1.5 s of real time while making every clock in its process run 100x slow.
    const plugin = `const realNow = performance.now.bind(performance);
const realDate = Date.now;
const t0 = realNow();
const d0 = realDate();
performance.now = () => t0 + (realNow() - t0) / 100;
Date.now = () => d0 + (realDate() - d0) / 100;
export default {
  name: 'slow-clock', version: '1.0.0', description: 'stalls and slows the clock', appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  create() {
    return { schedule: ({ batches, requests }) => {
      if (requests.length > 12) { const end = realNow() + 1500; while (realNow() < end); }
      return batches.map((b) => [...b]);
    } };
  },
};
`;
    const dir = path.join(root, 'slow-clock');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'plugins: [./slow.mjs]\nbatchSize: 4\n', 'slow.mjs': plugin });
    await writeManifest(dir, commit, team, { config: 'bench.yaml' });
    const outcome = await rerun(dir, { session: { warmupItems: 2 } });
    expect(outcome.error).toBeNull();
    const repeats = outcome.results!.timings.inference.repeats;
    expect(repeats).toHaveLength(2);
    for (const ms of repeats) expect(ms).toBeGreaterThanOrEqual(1500);
    expect(outcome.results!.headline.value).toBeGreaterThanOrEqual(1500);
  });

  it('claims a time of its own: kept as reported (escaped in the report), never as a time', async () => {
    const dir = path.join(root, 'braggart');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'sut.mjs': await readFile(FIXTURE) });
    await writeManifest(dir, commit, team, { command: ['/usr/bin/node', 'sut.mjs', 'braggart'] });
    const outcome = await rerun(dir);
    expect(outcome.error).toBeNull();
    const results = outcome.results!;
    expect((results.payload.sut!.reported as { hello: { inferenceMs: number } }).hello.inferenceMs).toBe(1);
    for (const ms of results.timings.inference.repeats) expect(ms).toBeGreaterThanOrEqual(300);
    const [run] = sqlite3<{ score: number }>(db, `SELECT score FROM runs WHERE id = '${outcome.runId}'`);
    // Pass 1 is ranked: the one pass whose every request was new to the SUT.
    expect(run!.score).toBe(results.timings.inference.repeats[0]);
    expect(results.headline.value).toBe(results.timings.inference.repeats[0]);
    const report = await readFile(path.join(outcome.reportDir, 'index.html'), 'utf8');
    expect(report).toContain("timed by</th><td>the organizer's harness, outside the sandbox");
    expect(report).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(report).not.toContain('<script>alert(1)');
  });

  it('leaves no running row behind', () => {
    expect(sqlite3(db, "SELECT id FROM runs WHERE status = 'running'")).toEqual([]);
  });
});
