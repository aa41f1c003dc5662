/**
 * The sandbox with real bubblewrap, as root (as CI runs): hostile commands from fixtures/ are stopped or
 * denied, each with the right reason, quickly, and with no process left behind.
 */
import { copyFile, link, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesOf } from '../../src/sandbox/host-processes.js';
import { BYTES, type SandboxLimits } from '../../src/sandbox/limits.js';
import { runSandboxed, type SandboxResult } from '../../src/sandbox/sandbox.js';
import { allowedCpus, parseCpuList, pinnedCpus } from '../../src/sandbox/cpus.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { PYTHON } from '../helpers/python.js';
import { spawnSync } from 'node:child_process';

const FIXTURES = path.join(REPO_ROOT, 'test/sandbox/fixtures');
const LIMITS: SandboxLimits = {
  wallSeconds: 20,
  cpuSeconds: 30,
  memoryBytes: 2 * BYTES.GiB,
  processes: 48,
  fileBytes: 64 * BYTES.MiB,
  diskBytes: 96 * BYTES.MiB,
  tmpBytes: 16 * BYTES.MiB,
};

let root: string;
let labelled: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-sandbox-'));
  labelled = path.join(root, 'organizer', 'hellaswag_val.jsonl');
  await mkdir(path.dirname(labelled));
  await writeFile(labelled, '{"label": 2}\n{"label": 0}\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(fixture: string, args: string[] = [], limits: Partial<SandboxLimits> = {}, mounts: { readOnly?: string[] } = {}): Promise<SandboxResult & { workDir: string }> {
  const workDir = await mkdtemp(path.join(root, 'work-'));
  await copyFile(path.join(FIXTURES, fixture), path.join(workDir, fixture));
  const interpreter = fixture.endsWith('.sh') ? ['/bin/sh'] : fixture.endsWith('.py') ? [PYTHON] : [process.execPath];
  const result = await runSandboxed({
    command: [...interpreter, path.join(workDir, fixture), ...args],
    mounts: { workDir, readOnly: mounts.readOnly ?? [], hidden: [labelled] },
    env: { PATH: '/usr/bin:/bin', HOME: workDir },
    limits: { ...LIMITS, ...limits },
  });
  expect(processesOf(result.uid)).toEqual([]);
  expect(result.cleanedUp).toBe(true);
  return { ...result, workDir };
}

describe('a well-behaved command', () => {
  it('runs as an unprivileged uid with no capabilities, writes only its work dir, sees only loopback', async () => {
    const workDir = await mkdtemp(path.join(root, 'work-'));
    const script = [
      'id -u',
      'grep CapEff /proc/self/status',
      'echo written > "$HOME/out.txt"',
      'touch /usr/forbidden 2>&1 || true',
      'touch /etc/forbidden 2>&1 || true',
      'ls /proc | grep -c "^[0-9]"',
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    ].join('; ');
    const result = await runSandboxed({
      command: ['/bin/sh', '-c', script],
      mounts: { workDir, readOnly: [], hidden: [] },
      env: { PATH: '/usr/bin:/bin', HOME: workDir },
      limits: LIMITS,
    });
    expect(result.violation).toBeNull();
    expect(result.ok).toBe(true);
    const lines = result.stdoutTail.trim().split('\n');
    expect(Number(lines[0])).toBe(result.uid);
    expect(result.uid).toBeGreaterThan(65535);
    expect(lines[1]).toMatch(/CapEff:\s+0+$/);
    expect(result.stdoutTail).toMatch(/\/usr\/forbidden.*Read-only file system/);
    expect(result.stdoutTail).toMatch(/\/etc\/forbidden.*Read-only file system/);
    // Own pid namespace: only the few processes of this script, not the host's hundreds.
    expect(Number(lines[4])).toBeLessThan(10);
    expect(lines.slice(5)).toEqual(['lo']);
    expect((await stat(path.join(workDir, 'out.txt'))).uid).toBe(result.uid);
  });
});

describe('hostile submissions', () => {
  it('opens a network socket: denied (no network), reported as such', async () => {
    const result = await run('open-socket.mjs');
    expect(result.stdoutTail).not.toContain('connected');
    expect(result.violation?.kind).toBe('network');
    expect(result.violation?.message).toMatch(/^denied network: .*ENETUNREACH/);
  });

  it('reads the labels file: not visible in the sandbox, reported as such', async () => {
    const result = await run('read-labels.mjs', [labelled]);
    expect(result.stderrTail).toContain('ENOENT');
    expect(result.violation).toEqual({ kind: 'labels', message: `denied: tried to read ${labelled}, which is not visible in the sandbox` });
  });

  it('reads the labels file even when its folder is mounted read-only: the file itself is masked', async () => {
    const result = await run('read-labels.mjs', [labelled], {}, { readOnly: [path.dirname(labelled)] });
    expect(result.stdoutTail).not.toContain('labels');
    expect(result.stderrTail).toContain('EACCES');
    expect(result.violation?.kind).toBe('labels');
  });

  it('reads the labels through a hard link in a visible folder: the same inode is masked under its other name', async () => {
    const visible = path.join(root, 'visible-hardlink');
    await mkdir(visible);
    const other = path.join(visible, 'not-the-labels.jsonl');
    await link(labelled, other);
    const result = await run('read-labels.mjs', [other], {}, { readOnly: [visible] });
    expect(result.stdoutTail).not.toContain('labels');
    expect(result.stderrTail).toContain('EACCES');
    expect(result.violation).toEqual({ kind: 'labels', message: `denied: tried to read ${other}, which is not visible in the sandbox` });
  });

  it('forks without end: held at the process limit, then stopped, reported as too many processes', async () => {
    const result = await run('fork-forever.mjs', [], { wallSeconds: 4 });
    expect(result.peakTasks).toBe(LIMITS.processes);
    expect(result.violation?.kind).toBe('processes');
    expect(result.violation?.message).toBe(`too many processes: reached the limit of ${LIMITS.processes} processes and threads, then stopped at the 4 s wall-time limit`);
    expect(result.wallSeconds).toBeLessThan(10);
  });

  it('never exits: the whole tree, background children included, is killed at the wall-time limit', async () => {
    const result = await run('never-exits.sh', [], { wallSeconds: 2 });
    expect(result.violation).toEqual({ kind: 'timeout', message: 'timeout: still running after the 2 s wall-time limit; every process in the sandbox was killed' });
    expect(result.wallSeconds).toBeGreaterThanOrEqual(2);
    expect(result.wallSeconds).toBeLessThan(6);
  });

  it('writes a 10 GB file: stopped at the file-size limit', async () => {
    const result = await run('write-10gb.sh');
    expect(result.violation?.kind).toBe('disk');
    expect(result.violation?.message).toMatch(/^disk limit: a file reached the 64 MiB file-size limit \(killed by SIGXFSZ\)$/);
    expect((await stat(path.join(result.workDir, 'big.bin'))).size).toBe(LIMITS.fileBytes);
  });

  it('writes 10 GB in 1 MB files: stopped by the disk watchdog soon after the work dir passes its limit', async () => {
    const result = await run('write-10gb-in-small-files.sh');
    expect(result.violation?.message).toBe('disk limit: the work dir grew beyond 96 MiB; the sandbox was killed');
    const parts = (await readdir(result.workDir)).filter((f) => f.startsWith('part-'));
    expect(parts.length).toBeGreaterThan(96);
    // Half a second of writing at most beyond the limit, far from 10 GB.
    expect(parts.length).toBeLessThan(4000);
  });

  it('allocates without end: the allocation beyond the data-memory limit fails, reported as out of memory', async () => {
    const result = await run('allocate-forever.mjs', [], { memoryBytes: 1 * BYTES.GiB });
    expect(result.violation?.kind).toBe('memory');
    expect(result.violation?.message).toMatch(/^out of memory: an allocation beyond the 1024 MiB limit failed/);
  });
});

describe('the CPU limit', () => {
  async function spin(script: string) {
    const workDir = await mkdtemp(path.join(root, 'cpu-'));
    const result = await runSandboxed({ command: ['/bin/sh', '-c', script], mounts: { workDir, readOnly: [], hidden: [] }, env: { PATH: '/usr/bin:/bin' }, limits: { ...LIMITS, cpuSeconds: 1 } });
    expect(processesOf(result.uid)).toEqual([]);
    return result;
  }

  it('a busy loop is stopped by SIGXCPU and reported as the CPU limit (with soft = hard the kernel would send SIGKILL first)', async () => {
    expect((await spin('while :; do :; done')).violation).toEqual({ kind: 'cpu', message: 'CPU limit: a process used its 1 s of CPU time (killed by SIGXCPU)' });
  });

  it('a loop that ignores SIGXCPU is killed at the hard limit, and that SIGKILL is still named as the CPU limit', async () => {
    expect((await spin('trap "" XCPU; while :; do :; done')).violation).toEqual({
      kind: 'cpu',
      message: 'CPU limit: a process used its 1 s of CPU time, went on after SIGXCPU, and was killed at the hard limit (SIGKILL)',
    });
  });
});

describe('state kept between runs', () => {
  it('a keyring stash: the keyring calls are refused in the sandbox (the same calls succeed outside it)', async () => {
    const outside = spawnSync(PYTHON, [path.join(FIXTURES, 'keyring-stash.py'), 'stash'], { encoding: 'utf8' });
    expect(outside.stderr).toMatch(/^add_key user ok \d+$/m);
    const stash = await run('keyring-stash.py', ['stash']);
    expect(stash.stderrTail).toContain('add_key user denied EPERM');
    expect(stash.stderrTail).toContain('add_key session denied EPERM');
    expect(stash.stderrTail).toContain('keyctl denied EPERM');
    const find = await run('keyring-stash.py', ['find']);
    expect(find.stderrTail).toContain('request_key denied EPERM');
    expect(find.ok).toBe(true);
  });

  it('a sandbox pinned to one CPU stays on it: widening the affinity is refused and two busy processes share one CPU', async () => {
    const result = await run('affinity-widen.py', [], { cpus: 1 });
    expect(result.ok).toBe(true);
    const first = allowedCpus()![0];
    expect(result.stderrTail).toContain(`allowed [${first}]`);
    expect(result.stderrTail).toContain('widen denied EPERM');
    const [, wall, cpu] = /burn wall ([\d.]+) cpu ([\d.]+)/.exec(result.stderrTail)!.map(Number) as [number, number, number];
    // One CPU cannot give more CPU time than the wall time it ran for (2x it on two free CPUs).
    expect(cpu).toBeLessThanOrEqual(wall * 1.05 + 0.1);
  });

  it('an unpinned sandbox may set its own affinity (the refusal is the pinning, not a general one)', async () => {
    const result = await run('affinity-widen.py', []);
    expect(result.ok).toBe(true);
    expect(result.stderrTail).toContain('widen ok');
  });
});

describe('CPU lists', () => {
  it("pins to the first CPUs optibench may use, read from /proc/self/status's Cpus_allowed_list", () => {
    expect(parseCpuList('0-3,8,10-11')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(allowedCpus('Name:\tnode\nCpus_allowed:\tf0\nCpus_allowed_list:\t4-7\n')).toEqual([4, 5, 6, 7]);
    expect(allowedCpus('Name:\tnode\n')).toBeNull();
    expect(pinnedCpus(2, [4, 5, 6, 7])).toBe('4,5');
    expect(pinnedCpus(8, [4, 5])).toBe('4,5');
    expect(pinnedCpus(1, null)).toBe('0');
  });
});
