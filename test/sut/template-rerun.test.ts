/**
 * The Python SUT template as a team would use it: `optibench sut init` writes it into a repository, `optibench
 * sut check` runs the harness against it on this machine, and the organizer's `optibench rerun` starts it in
 * the sandbox (root, bubblewrap, git, SQLite) and scores it. Its answers are compared with the same items run
 * in process on ONNX Runtime: the same predictions, log-likelihoods within 1e-5 per continuation token (fp32
 * sums of ~30 token log-probs in two runtimes differ in their last bits; see python-template.test.ts).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/evaluators/inference/config.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';
import { rerunSubmission } from '../../src/evaluators/inference/rerun/rerun.js';
import { BYTES } from '../../src/sandbox/limits.js';
import { PYTHON } from '../helpers/python.js';
import { optibench, sqlite3 } from '../store/helpers.js';
import { PDF, makeRepo, registerTeam, writeManifest } from '../submissions/git-repo.js';

const LIMIT = 12;
let root: string;
let cache: string;
let repo: string;
let inProcess: InferenceResult;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-template-'));
  cache = path.join(root, 'cache');
  repo = path.join(root, 'team');
  const init = optibench(['sut', 'init', path.join(repo, 'sut')], root, cache);
  if (init.code !== 0) throw new Error(init.stderr);
  const { config } = await loadConfig(undefined, { limit: LIMIT, cacheDir: cache, outputDir: path.join(root, 'plain') });
  inProcess = await runEvaluation(config);
}, 180_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function expectSameAnswers(results: InferenceResult): void {
  const reference = new Map(inProcess.payload.items.map((item) => [item.index, item]));
  expect(results.payload.items.map((i) => i.index)).toEqual([...reference.keys()].sort((a, b) => a - b));
  for (const item of results.payload.items) {
    const expected = reference.get(item.index)!;
    expect(item.predictions).toEqual(expected.predictions);
    expect(item.isGreedy).toEqual(expected.isGreedy);
    item.loglikelihoods.forEach((ll, k) => expect(Math.abs(ll - expected.loglikelihoods[k]!)).toBeLessThanOrEqual(1e-5 * item.continuationTokens[k]!));
  }
  expect(results.metrics).toEqual(inProcess.metrics);
}

describe('the Python SUT template', () => {
  it('optibench sut init writes it, and refuses a folder that is not empty', async () => {
    expect((await readdir(path.join(repo, 'sut'))).sort()).toEqual(expect.arrayContaining(['README.md', 'llama.py', 'safetensors_io.py', 'sut.py']));
    const again = optibench(['sut', 'init', path.join(repo, 'sut')], root, cache);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not empty: the template goes into an empty folder');
  });

  it('optibench sut check: the harness against it on this machine', () => {
    const check = optibench(['sut', 'check', '--limit', String(LIMIT), '-o', path.join(root, 'check'), '--', PYTHON, path.join(repo, 'sut', 'sut.py')], root, cache);
    expect(check.stderr).not.toContain('error');
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^SUT "[^"]+" \(command\): 12 items, 48 requests, timed by the harness$/m);
  }, 120_000);

  it("the organizer's re-run: started in the sandbox, timed outside, scored like the in-process run", async () => {
    const commit = await makeRepo(repo, { 'docs/optimizations.pdf': PDF });
    const db = path.join(root, 'results.db');
    const team = registerTeam(db);
    await writeManifest(repo, commit, team, { command: [PYTHON, 'sut/sut.py'] });
    const limits = { wallSeconds: 300, cpuSeconds: 1200, memoryBytes: 16 * BYTES.GiB, processes: 256, fileBytes: 512 * BYTES.MiB, diskBytes: 1024 * BYTES.MiB, tmpBytes: 256 * BYTES.MiB };
    const outcome = await rerunSubmission({ submissionDir: repo, db, team, limit: LIMIT, limits, outputDir: path.join(root, 'reports'), workRoot: path.join(root, 'work'), cacheDir: cache });
    expect(outcome.error).toBeNull();
    const results = outcome.results!;
    expectSameAnswers(results);
    expect(results.payload.sut).toMatchObject({ form: 'command', timedBy: 'organizer', passes: 2 });
    const [run] = sqlite3<{ status: string; score: number }>(db, `SELECT status, score FROM runs WHERE id = '${outcome.runId}'`);
    expect(run!.status).toBe('complete');
    expect(run!.score).toBe(results.timings.inference.repeats[0]);
  }, 300_000);
});
