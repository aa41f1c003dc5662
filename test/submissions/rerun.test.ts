/**
 * `optibench rerun` end to end, as root with real bubblewrap, git and SQLite (read back with the sqlite3
 * shell): a well-behaved submission's rescored metrics equal a plain run on the same items; hostile ones are
 * stopped with their reason and recorded as failed, never as complete.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/evaluators/inference/config.js';
import { OptibenchError } from '../../src/core/errors.js';
import { defaultDatasetPath, ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { listWeights } from '../../src/models/llama/hf-model.js';
import { weightsSha256 } from '../../src/models/llama/weights-hash.js';
import { runEvaluation } from '../../src/evaluators/inference/runner.js';
import { processesOf } from '../../src/sandbox/host-processes.js';
import { BYTES, type SandboxLimits } from '../../src/sandbox/limits.js';
import { rerunSubmission, type RerunOutcome } from '../../src/evaluators/inference/rerun/rerun.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { optibench, sqlite3 } from '../store/helpers.js';
import { PDF, makeRepo, registerTeam, writeManifest } from './git-repo.js';

const FIXTURES = path.join(REPO_ROOT, 'test/sandbox/fixtures');
const LIMITS: SandboxLimits = {
  wallSeconds: 240,
  cpuSeconds: 600,
  memoryBytes: 16 * BYTES.GiB,
  processes: 256,
  fileBytes: 512 * BYTES.MiB,
  diskBytes: 1024 * BYTES.MiB,
  tmpBytes: 256 * BYTES.MiB,
};
const HOSTILE_LIMITS: SandboxLimits = { ...LIMITS, wallSeconds: 4, processes: 48, fileBytes: 64 * BYTES.MiB, diskBytes: 96 * BYTES.MiB };

const PLUGIN = `// The team's plugin: batches in reverse order (changes nothing a metric can see).
export default {
  name: 'team-reverse',
  version: '1.0.0',
  description: 'reverses the schedule',
  backends: ['onnx'],
  create() {
    return { schedule: ({ batches }) => [...batches].reverse().map((b) => [...b]) };
  },
};
`;

let root: string;
let cache: string;
let db: string;
/** The registration ids the organizer issued: every submission below is Fast Llamas', unless it says otherwise. */
let team: string;
let otherTeam: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-rerun-'));
  cache = path.join(root, 'cache');
  db = path.join(root, 'results.db');
  team = registerTeam(db);
  otherTeam = registerTeam(db, 'Slow Alpacas', [{ name: 'Bo', email: 'bo@example.org' }]);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function rerun(dir: string, limits: SandboxLimits, limit: number | null = 12, extra: Partial<Parameters<typeof rerunSubmission>[0]> = {}): Promise<RerunOutcome> {
  return rerunSubmission({ submissionDir: dir, db, team, limit, limits, outputDir: path.join(root, 'reports'), workRoot: path.join(root, 'work'), cacheDir: cache, ...extra });
}

describe('a well-behaved submission (the organizer\'s optibench with a plugin from the repository)', () => {
  let outcome: RerunOutcome;
  let dir: string;

  beforeAll(async () => {
    dir = path.join(root, 'good');
    const commit = await makeRepo(dir, {
      'docs/optimizations.pdf': PDF,
      'bench.yaml': 'plugins:\n  - ./plugins/reverse.mjs\nbatchSize: 4\n',
      'plugins/reverse.mjs': PLUGIN,
    });
    await writeManifest(dir, commit, team, { config: 'bench.yaml' });
    outcome = await rerun(dir, LIMITS);
  }, 300_000);

  it('completes, rescored with the real labels, with the metrics of a plain run on the same items', async () => {
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('complete');
    const results = outcome.results!;
    const { config } = await loadConfig(path.join(dir, 'bench.yaml'), { limit: 12, cacheDir: cache, outputDir: path.join(root, 'plain') });
    const plain = await runEvaluation(config);
    expect(results.payload.items.map((i) => i.index)).toEqual(plain.payload.items.map((i) => i.index).sort((a, b) => a - b));
    expect(results.metrics).toEqual(plain.metrics);
    const plainByIndex = new Map(plain.payload.items.map((i) => [i.index, i]));
    for (const item of results.payload.items) {
      const reference = plainByIndex.get(item.index)!;
      expect(item.gold).toBe(reference.gold);
      expect(item.predictions).toEqual(reference.predictions);
      item.loglikelihoods.forEach((ll, i) => expect(ll).toBeCloseTo(reference.loglikelihoods[i]!, 4));
    }
    // What ran is what the SUT says it ran: kept as reported, apart from anything measured.
    expect(results.plugins).toEqual([]);
    const reported = results.payload.sut!.reported as { hello: { server: string; plugins: { name: string }[] } };
    expect(reported.hello.server).toBe('optibench serve');
    expect(reported.hello.plugins.map((p) => p.name)).toEqual(['team-reverse']);
    expect(results.payload.sut).toMatchObject({ form: 'config', timedBy: 'organizer', passes: 2, protocol: 1 });
    // The organizer's clock: two measured passes, each within what the sandbox ran.
    expect(results.timings.inference.repeats).toHaveLength(2);
    for (const ms of results.timings.inference.repeats) expect(ms).toBeLessThan(outcome.sandbox!.wallSeconds * 1000);
    expect(results.payload.task.dataset.path).toBe(defaultDatasetPath());
  });

  it("records the submission under the registered team, and a complete rerun with its machine, the reference check and the real labels", () => {
    const [registered] = sqlite3<{ name: string; members: string }>(db, `SELECT t.name, t.members FROM teams t JOIN submissions s ON s.team_id = t.id WHERE t.registration_id = '${team}'`);
    expect(registered!.name).toBe('Fast Llamas');
    expect(JSON.parse(registered!.members)).toEqual([{ name: 'Ada Lovelace', email: 'ada@example.org' }, { name: 'Alan Turing' }]);
    const [run] = sqlite3<Record<string, unknown>>(db, `SELECT * FROM runs WHERE id = '${outcome.runId}'`);
    expect(run).toMatchObject({ kind: 'rerun', status: 'complete', total_items: 12, error: null, reference_match: 0 });
    expect(JSON.parse(run!.reference_diffs as string)).toEqual(expect.arrayContaining([expect.stringMatching(/^GPUs: .*the reference has 4x Tesla V100$/)]));
    expect(JSON.parse(run!.machine as string)).toMatchObject({ cpu: { cores: os.cpus().length } });
    const [submission] = sqlite3<{ commit_sha: string; document: string }>(db, `SELECT commit_sha, document FROM submissions WHERE id = ${Number(run!.submission_id)}`);
    expect(submission!.document).toBe('docs/optimizations.pdf');
    const golds = sqlite3<{ item_index: number; gold: number }>(db, `SELECT item_index, gold FROM inference_items WHERE run_id = '${outcome.runId}' ORDER BY item_index`);
    expect(golds).toEqual(outcome.results!.payload.items.map((i) => ({ item_index: i.index, gold: i.gold })));
    const metrics = sqlite3<{ name: string; value: number }>(db, `SELECT name, value FROM run_metrics WHERE run_id = '${outcome.runId}' ORDER BY name`);
    expect(metrics).toEqual([
      { name: 'acc', value: outcome.results!.metrics.acc!.value },
      { name: 'acc_norm', value: outcome.results!.metrics.acc_norm!.value },
    ]);
  });

  it('keeps the labels outside: the labelled set the sandbox could not read has the same golds', async () => {
    const labelled = await hellaswagTask.load(defaultDatasetPath());
    for (const item of outcome.results!.payload.items) expect(item.gold).toBe(labelled[item.index]!.gold);
    const saved = JSON.parse(await readFile(path.join(outcome.reportDir, 'results.json'), 'utf8')) as { runId: string };
    expect(saved.runId).toBe(outcome.runId);
  });
});

describe('optibench rerun on the command line', () => {
  it('re-runs the well-behaved submission again: a second complete run of the same submission row', () => {
    const dir = path.join(root, 'good');
    const { code, stdout, stderr } = optibench(['rerun', dir, '--db', db, '--team', team, '--limit', '12', '-o', path.join(root, 'reports'), '--work-root', path.join(root, 'work'), '--processes', '256', '--timeout', '240'], root, cache);
    expect(stderr).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^optibench rerun \S+: 12 of 40 items, rescored with the real labels\n {2}acc +\d+\.\d\d ± \d+\.\d\d %\n/);
    expect(stdout).toMatch(/machine {4}NOT the reference server \(CPU: \d+ logical cores, the reference has 32; /);
    const runs = sqlite3<{ submission_id: number; status: string }>(db, "SELECT submission_id, status FROM runs WHERE kind = 'rerun' AND status = 'complete'");
    expect(runs).toHaveLength(2);
    expect(runs[0]!.submission_id).toBe(runs[1]!.submission_id);
  });
});

describe('whose submission it is: the organizer says, the manifest agrees, the registration names the team', () => {
  /** Everything a refused re-run could have touched, as the sqlite3 shell reads the file. */
  const state = () => ({
    teams: sqlite3(db, 'SELECT id, registration_id, name, members, created_at FROM teams ORDER BY id'),
    submissions: sqlite3(db, 'SELECT * FROM submissions ORDER BY id'),
    runs: sqlite3(db, 'SELECT id, status FROM runs ORDER BY id'),
  });

  async function submission(name: string, manifestTeam: string, extra: object = {}): Promise<string> {
    const dir = path.join(root, name);
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'batchSize: 4\n' });
    await writeManifest(dir, commit, manifestTeam, { config: 'bench.yaml' }, extra);
    return dir;
  }

  it("refuses a manifest naming another registered team's id, before anything runs: nothing recorded, that team's registration untouched", async () => {
    // Fast Llamas' repository names Slow Alpacas' id, hoping to stand in their place; the organizer received it from Fast Llamas.
    const dir = await submission('impostor', otherTeam);
    const before = state();
    await expect(rerun(dir, HOSTILE_LIMITS)).rejects.toThrow(
      `the manifest names team ${otherTeam}, but this submission was received from ${team} (Fast Llamas): a team submits only under its own id; nothing was run or recorded`,
    );
    expect(state()).toEqual(before);
    expect(sqlite3<{ members: string }>(db, `SELECT members FROM teams WHERE registration_id = '${otherTeam}'`).map((t) => JSON.parse(t.members))).toEqual([[{ name: 'Bo', email: 'bo@example.org' }]]);
  });

  it('refuses the same on the command line (exit 1, one line), and a rerun without --team (usage, exit 2)', async () => {
    const dir = path.join(root, 'impostor');
    const before = state();
    const flags = ['--db', db, '--limit', '12', '-o', path.join(root, 'reports'), '--work-root', path.join(root, 'work')];
    const refused = optibench(['rerun', dir, ...flags, '--team', team], root, cache);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `optibench: error: team: the manifest names team ${otherTeam}, but this submission was received from ${team} (Fast Llamas): a team submits only under its own id; nothing was run or recorded\n`,
    );
    const anonymous = optibench(['rerun', dir, ...flags], root, cache);
    expect(anonymous.code).toBe(2);
    expect(anonymous.stderr).toContain("error: required option '--team <id>' not specified");
    expect(state()).toEqual(before);
  });

  it('refuses an id nobody registered, even when the manifest names it too', async () => {
    const dir = await submission('unregistered', 'team-zzzz2222');
    const before = state();
    await expect(rerun(dir, HOSTILE_LIMITS, 12, { team: 'team-zzzz2222' })).rejects.toThrow(
      `no team team-zzzz2222 is registered in this results database: register the team first (optibench team register --db ${db} --name "<team name>" --member "Name <email>") and use the id it prints`,
    );
    await expect(rerun(dir, HOSTILE_LIMITS, 12, { team: 'Fast Llamas' })).rejects.toThrow('"Fast Llamas" is not a team id: expected the registration id the organizer issued (team- and 8 characters a-z, 2-7)');
    expect(state()).toEqual(before);
  });

  it('refuses a version 1 manifest with what changed, and a team name where the id belongs, naming the file and the key', async () => {
    const old = await submission('version-1', team, { version: 1, team: 'Slow Alpacas', members: [{ name: 'Mallory' }] });
    const named = await submission('free-text', 'Slow Alpacas');
    const before = state();
    await expect(rerun(old, HOSTILE_LIMITS)).rejects.toThrow(
      `invalid submission: ${path.join(old, 'optibench-submission.json')}:3: version: version 1 manifests are no longer accepted: in version 2, "team" is the registration id`,
    );
    await expect(rerun(named, HOSTILE_LIMITS)).rejects.toThrow(
      `invalid submission: ${path.join(named, 'optibench-submission.json')}:4: team: expected the registration id the organizer issued (team- and 8 characters a-z, 2-7), not a team name`,
    );
    expect(state()).toEqual(before);
  });
});

describe('hostile submissions through optibench rerun', () => {
  async function hostile(name: string, fixture: string, args: string[] = []): Promise<RerunOutcome> {
    const dir = path.join(root, name);
    const interpreter = fixture.endsWith('.sh') ? '/bin/sh' : '/usr/bin/node';
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, [fixture]: await readFile(path.join(FIXTURES, fixture)) });
    await copyFile(path.join(FIXTURES, fixture), path.join(dir, fixture));
    await writeManifest(dir, commit, team, { command: [interpreter, fixture, ...args] });
    const outcome = await rerun(dir, HOSTILE_LIMITS);
    expect(outcome.status).toBe('failed');
    expect(processesOf(outcome.sandbox!.uid)).toEqual([]);
    const [run] = sqlite3<Record<string, unknown>>(db, `SELECT status, error, finished_at, score, results_path FROM runs WHERE id = '${outcome.runId}'`);
    expect(run).toMatchObject({ status: 'failed', error: outcome.error, score: null, results_path: null });
    expect(run!.finished_at).not.toBeNull();
    expect(sqlite3(db, `SELECT * FROM run_metrics WHERE run_id = '${outcome.runId}'`)).toEqual([]);
    expect(sqlite3(db, `SELECT * FROM inference_items WHERE run_id = '${outcome.runId}'`)).toEqual([]);
    return outcome;
  }

  it('opens a network socket', async () => {
    expect((await hostile('net', 'open-socket.mjs')).error).toMatch(/^denied network: .*ENETUNREACH/);
  });

  it('reads the labels file', async () => {
    expect((await hostile('labels', 'read-labels.mjs', [defaultDatasetPath()])).error).toBe(`denied: tried to read ${defaultDatasetPath()}, which is not visible in the sandbox`);
  });

  it('forks without end', async () => {
    expect((await hostile('fork', 'fork-forever.mjs')).error).toMatch(/^too many processes: reached the limit of 48/);
  });

  it('never exits', async () => {
    expect((await hostile('spin', 'never-exits.sh')).error).toMatch(/^timeout: still running after the 4 s wall-time limit/);
  });

  it('writes 10 GB', async () => {
    expect((await hostile('disk', 'write-10gb.sh')).error).toMatch(/^disk limit: a file reached the 64 MiB file-size limit/);
  });

  it('looks through /proc for the organizer\'s command lines: it sees only its own processes', async () => {
    // Exits 1 naming a host process if it sees one; seeing none, it exits 0 having answered nothing.
    const outcome = await hostile('proc', 'read-proc.mjs');
    expect(outcome.error).toBe("the SUT ended while the harness waited for its hello: exited with code 0");
    expect(await readFile(path.join(outcome.reportDir, 'sandbox.log'), 'utf8')).toMatch(/saw \d+ processes, all its own/);
  });
  it('reads the labels under their real name, the dataset having been given through a symlink: hidden too', async () => {
    const visible = path.join(root, 'visible');
    await mkdir(visible, { recursive: true });
    const real = path.join(visible, 'labelled.jsonl');
    await copyFile(defaultDatasetPath(), real);
    const link = path.join(root, 'dataset-link.jsonl');
    await symlink(real, link);
    const dir = path.join(root, 'via-link');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'read-labels.mjs': await readFile(path.join(FIXTURES, 'read-labels.mjs')) });
    await writeManifest(dir, commit, team, { command: ['/usr/bin/node', 'read-labels.mjs', real] });
    const outcome = await rerun(dir, HOSTILE_LIMITS, 12, { dataset: link, readOnly: [visible] });
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toBe(`denied: tried to read ${real}, which is not visible in the sandbox`);
  });

  it('names a host path as its model: the organizer\'s model is scored, the host path is never mounted', async () => {
    const secret = path.join(root, 'organizer-secret.txt');
    await writeFile(secret, 'the organizer only');
    // The plugin runs inside the sandbox; had the config's model (the host's /) been mounted, it could read the secret.
    const snoop = `import { readFileSync } from 'node:fs';
export default {
  name: 'snoop', version: '1.0.0', description: 'reads a host file if it can', appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  create() {
    let leaked = null;
    try { leaked = readFileSync(${JSON.stringify(secret)}, 'utf8'); } catch {}
    if (leaked !== null) throw new Error('leaked: ' + leaked);
    return {};
  },
};
`;
    const dir = path.join(root, 'host-model');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'model: /\nplugins: [./snoop.mjs]\nbatchSize: 4\n', 'snoop.mjs': snoop });
    await writeManifest(dir, commit, team, { config: 'bench.yaml' });
    const said: string[] = [];
    const outcome = await rerunSubmission({ submissionDir: dir, db, team, limit: 12, limits: LIMITS, outputDir: path.join(root, 'reports'), workRoot: path.join(root, 'work'), cacheDir: cache, onProgress: (m) => said.push(m) });
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('complete');
    const organizers = await ensureDefaultModel(cache);
    expect(said).toContain(`the config names the model /: the re-run scores the organizer's ${organizers} instead`);
    // What the results say of the model was measured outside: the organizer's directory and its weights' hash.
    const { files } = await listWeights(organizers);
    expect(outcome.results!.payload.model).toMatchObject({ dir: organizers, weightsSha256: await weightsSha256(files, cache) });
  });

  it("is the organizer's own checkout: refused before anything runs", async () => {
    const dir = path.join(root, 'own-checkout');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'docs.pdf'), PDF);
    await writeManifest(dir, 'a'.repeat(40), team, { config: 'bench.yaml' }, { repository: { url: REPO_ROOT, commit: 'a'.repeat(40) }, document: 'docs.pdf' });
    await writeFile(path.join(dir, 'bench.yaml'), 'batchSize: 4\n');
    const before = sqlite3<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n;
    await expect(rerun(dir, HOSTILE_LIMITS)).rejects.toThrow(`the submission's repository ${REPO_ROOT} is the organizer's own optibench checkout (or holds it): it is never a valid submission`);
    await expect(rerun(dir, HOSTILE_LIMITS, 12)).rejects.toThrow(OptibenchError);
    expect(sqlite3<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM runs')[0]!.n).toBe(before);
  });

  it('leaves no running row behind: every rerun is complete or failed', () => {
    expect(sqlite3(db, "SELECT id FROM runs WHERE status = 'running'")).toEqual([]);
  });
});
