/**
 * What goes wrong with a worker, through `optibench run --backend pytorch` as a user runs it: the worker
 * killed mid-run, a worker that never answers, one that prints something else on stdout, a missing python,
 * a python without torch. Each must end the run with one clear error line and a non-zero exit within the
 * timeout, and leave no process behind.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { FIXTURES, PYTHON, alive, childPids, eventually, fakePython, optibench, optibenchChild, tempDir } from './helpers.js';

let work: string;
let cacheDir: string;

beforeAll(async () => {
  work = await tempDir('optibench-pt-faults-');
  cacheDir = path.join(work, 'cache');
  await ensureDefaultModel(cacheDir);
});

/** A config for the PyTorch backend with `python` and a short worker timeout. */
async function config(name: string, python: string, timeoutSeconds = 3): Promise<string> {
  const file = path.join(work, `${name}.yaml`);
  await writeFile(file, `backend:\n  name: pytorch\n  python: ${JSON.stringify(python)}\n  workerTimeoutSeconds: ${timeoutSeconds}\nlimit: 4\n`);
  return file;
}

async function pidIn(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8')).trim());
}

/** The one error line the CLI printed. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('optibench: error: '));
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

describe('worker faults end the run with a clear error and a non-zero exit', () => {
  it('a missing python executable', async () => {
    const { code, stderr } = optibench(['run', '-c', await config('missing', '/nonexistent/python3')], work, cacheDir);
    expect(code).toBe(1);
    expect(errorLine(stderr)).toBe(
      "optibench: error: python /nonexistent/python3 not found (backend.python: a Python with PyTorch, e.g. Debian's /usr/bin/python3 with python3-torch)",
    );
  });

  it('a python without torch', async () => {
    // `python -S` skips site-packages, where torch lives: the same interpreter, without torch.
    const pidFile = path.join(work, 'no-torch.pid');
    const python = await fakePython(work, 'python-without-torch', `${PYTHON} -S`, pidFile);
    const { code, stderr } = optibench(['run', '-c', await config('no-torch', python)], work, cacheDir);
    expect(code).toBe(1);
    expect(errorLine(stderr)).toBe(`optibench: error: PyTorch is not installed for ${python}: apt-get install python3-torch, or set backend.python to a Python that has torch`);
    expect(alive(await pidIn(pidFile))).toBe(false);
  });

  it('a python without torch, under torchrun (tensor-parallel)', async () => {
    const python = await fakePython(work, 'python-without-torch-tp', `${PYTHON} -S`, path.join(work, 'no-torch-tp.pid'));
    const { code, stderr } = optibench(['run', '-c', await config('no-torch-tp', python), '--plugin', 'tensor-parallel'], work, cacheDir);
    expect(code).toBe(1);
    expect(errorLine(stderr)).toContain(`PyTorch is not installed for ${python}`);
  });

  it('a worker that never answers: stopped after workerTimeoutSeconds', async () => {
    const pidFile = path.join(work, 'hang.pid');
    const python = await fakePython(work, 'python-hang', `${PYTHON} ${path.join(FIXTURES, 'hang.py')}`, pidFile);
    const { code, stderr, ms } = optibench(['run', '-c', await config('hang', python, 2)], work, cacheDir);
    expect(code).toBe(1);
    const line = errorLine(stderr);
    expect(line).toMatch(new RegExp(`^optibench: error: the PyTorch worker \\(${python}\\) did not answer the load request within 2 s \\(backend.workerTimeoutSeconds\\); it was stopped; its last stderr lines: hang fixture: got '\\{"id":1,"op":"load"`));
    // Start-up (node, tsx, the tokenizer) plus the 2 s timeout, with room for a slow shared machine.
    expect(ms).toBeLessThan(20_000);
    expect(alive(await pidIn(pidFile))).toBe(false);
  });

  it('a worker that prints something that is not a protocol line on stdout', async () => {
    const pidFile = path.join(work, 'garbage.pid');
    const python = await fakePython(work, 'python-garbage', `${PYTHON} ${path.join(FIXTURES, 'garbage.py')}`, pidFile);
    const { code, stderr } = optibench(['run', '-c', await config('garbage', python, 30)], work, cacheDir);
    expect(code).toBe(1);
    expect(errorLine(stderr)).toBe(
      `optibench: error: the PyTorch worker (${python}) wrote something on stdout that is not a protocol line (not JSON): ` +
        '"Loading checkpoint shards: 100%|##########| 2/2"; it was stopped; its last stderr lines: garbage fixture: about to print on stdout',
    );
    expect(alive(await pidIn(pidFile))).toBe(false);
  });

  it('the worker killed mid-run: the run stops, what finished is kept, the error says how the worker died', async () => {
    const run = optibenchChild(['run', '-c', await config('killed', PYTHON, 60), '--limit', '40', '--repeats', '30', '-o', 'out-killed'], work, cacheDir);
    // Once warming up, the model is loaded and batches are flowing: the worker is almost always mid-forward.
    expect(await eventually(() => run.stderr().includes('warming up'), 60_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const [worker] = childPids(run.child.pid!);
    expect(worker).toBeDefined();
    process.kill(worker!, 'SIGKILL');
    const { code, stderr } = await run.done;
    expect([1, 3]).toContain(code);
    expect(stderr).toMatch(/optibench: error: (the run stopped: )?the PyTorch worker \(\/.*python3\) was killed by SIGKILL (while answering the forward request|unexpectedly)/);
    if (code === 3) expect(stderr).toMatch(/finished items saved in .*results\.incomplete\.json \(status: incomplete\)/);
    expect(alive(worker!)).toBe(false);
  });
});
