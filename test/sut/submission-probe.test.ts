/**
 * `optibench submission check` starts the submission and waits for its SUT's hello (in the sandbox: the tests
 * run as root with bubblewrap), catching what otherwise only a re-run would: a command that does not speak
 * the protocol, one that never answers, a config whose plugin fails to load.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { optibench } from '../store/helpers.js';
import { PDF, makeRepo, writeManifest } from '../submissions/git-repo.js';

let root: string;
let cache: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-probe-'));
  cache = path.join(root, 'cache');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function submission(name: string, files: Record<string, string | Buffer>, run: object): Promise<string> {
  const dir = path.join(root, name);
  const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, ...files });
  // submission check cannot see the organizer's database: any well-formed registration id passes it.
  await writeManifest(dir, commit, 'team-abcdefgh', run);
  return dir;
}

describe('optibench submission check starts the submission and waits for its hello', () => {
  it('a config: optibench serve with its plugins says hello in the sandbox', async () => {
    const dir = await submission('config', { 'bench.yaml': 'plugins: [onnx-session]\n' }, { config: 'bench.yaml' });
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('answers    the SUT "optibench-serve" said hello (started in the sandbox)');
  }, 120_000);

  it('a command that prints instead of speaking the protocol', async () => {
    const dir = await submission('prints', { 'run.sh': 'echo ready\n' }, { command: ['/bin/sh', 'run.sh'] });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stderr).toContain(`optibench: error: ${path.join(dir, 'optibench-submission.json')}: run: the submission does not answer: the SUT wrote a line that is not a protocol message (not JSON): "ready" (started in the sandbox: /bin/sh run.sh)`);
  }, 60_000);

  it('a command that never says anything', async () => {
    const dir = await submission('silent', { 'sut.mjs': await readFile(path.join(REPO_ROOT, 'test/sut/fixtures/hostile-sut.mjs')) }, { command: ['/usr/bin/node', 'sut.mjs', 'silent'] });
    const { code, stderr } = optibench(['submission', 'check', dir, '--hello-seconds', '2'], root, cache);
    expect(code).toBe(1);
    expect(stderr).toContain('run: the submission does not answer: the SUT did not send its hello within 2 s (started in the sandbox: /usr/bin/node sut.mjs silent)');
  }, 60_000);

  it('a config whose plugin throws when loaded: its error, in its words', async () => {
    const plugin = "throw new Error('the plugin needs CUDA 13');\n";
    const dir = await submission('broken-plugin', { 'bench.yaml': 'plugins: [./broken.mjs]\n', 'broken.mjs': plugin }, { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stderr).toMatch(/run: the submission does not answer: the SUT reported an error: .*the plugin needs CUDA 13/);
  }, 60_000);

  it('--no-start checks the manifest alone', async () => {
    const dir = await submission('no-start', { 'run.sh': 'echo ready\n' }, { command: ['/bin/sh', 'run.sh'] });
    const { code, stdout } = optibench(['submission', 'check', dir, '--no-start'], root, cache);
    expect(code).toBe(0);
    expect(stdout).toContain('answers    not started (--no-start)');
  });
});
