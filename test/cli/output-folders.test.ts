/**
 * Output folders as a user gets them wrong (the built CLI, real mounts): a kernel path, a file in place of a
 * folder, a read-only or full file system. Each is refused in the command's first seconds, before anything
 * is computed, with one line naming the folder, the flag and what is wrong. A disk that fills during a run
 * loses nothing: the results go to the cache dir's rescued/ folder and the error says where.
 *
 * The mounts are made in a private mount namespace (`unshare -m`), which needs root: tests run as root in CI.
 * Root ignores file modes, so a read-only mount (not chmod) is what makes a folder unwritable here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { inferenceResultSchema } from '../../src/evaluators/inference/results.js';
import { runBuiltCli, type CliOutcome } from '../helpers/built-cli.js';
import { sqlite3 } from '../store/helpers.js';

let work: string;
let cacheDir: string;
let aFile: string;

const RUN = ['run', '--limit', '6', '--threads', '1', '--no-progress'];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests mount file systems in a private namespace: run them as root (CI does)');
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-outdirs-'));
  cacheDir = path.join(work, 'cache');
  aFile = path.join(work, 'a-file');
  await writeFile(aFile, 'not a folder\n');
  // The embedded model generated once, so the refusals below are timed on their own.
  const warm = runBuiltCli([...RUN, '--limit', '2', '-o', path.join(work, 'warm')], { cwd: work, cacheDir, timeoutMs: 300_000 });
  expect(warm.code, warm.stderr).toBe(0);
}, 300_000);

/** One error line, exit 1, no stack trace, nothing computed (no loading, no results anywhere). */
function expectRefused(outcome: CliOutcome, message: string | RegExp): void {
  expect(outcome.signal, 'the command hung and was killed').toBeNull();
  expect(outcome.code, outcome.stderr).toBe(1);
  expect(outcome.stderr).not.toMatch(/\n\s+at /);
  expect(outcome.stderr).not.toContain('loading');
  const errors = outcome.stderr.split('\n').filter((line) => line.startsWith('optibench: error:'));
  expect(errors).toHaveLength(1);
  if (typeof message === 'string') expect(errors[0]).toBe(`optibench: error: ${message}`);
  else expect(errors[0]).toMatch(message);
}

/** The CLI inside a private mount namespace with a tmpfs mounted on `mountPoint` with `options`. */
function inMount(mountPoint: string, options: string, args: readonly string[], before = ''): CliOutcome {
  const script = `mount -t tmpfs -o ${options} tmpfs "$0" && ${before} exec "$@"`;
  return runBuiltCli(args, { cwd: work, cacheDir, timeoutMs: 300_000, prefix: ['unshare', '-m', 'sh', '-c', script, mountPoint] });
}

describe('kernel file systems are refused, not spun on', () => {
  const proc = (flag: string) => `/proc/xyz: ${flag}: /proc is a kernel file system, not a place for files: choose a folder on a disk`;
  // Seconds, not minutes: a refusal that spins (Node's recursive mkdir on /proc did) is killed and fails.
  const cli = (args: string[]) => runBuiltCli(args, { cwd: work, cacheDir, timeoutMs: 30_000 });

  it('run -o and --cache-dir, compare, leaderboard, tokenizer convert, schema, generate-model, sut init', async () => {
    expectRefused(cli([...RUN, '-o', '/proc/xyz']), proc('--output'));
    expectRefused(cli([...RUN, '--cache-dir', '/proc/xyz']), proc('--cache-dir'));
    expectRefused(cli([...RUN, '-o', '/sys/kernel/xyz']), '/sys/kernel/xyz: --output: /sys is a kernel file system, not a place for files: choose a folder on a disk');
    expectRefused(cli([...RUN, '-o', '/dev/xyz']), '/dev/xyz: --output: /dev is a kernel file system, not a place for files: choose a folder on a disk');
    // Through a link the path does not show: the folder it leads to is what counts.
    await symlink('/proc/self', path.join(work, 'sneaky'));
    expectRefused(cli([...RUN, '-o', path.join(work, 'sneaky', 'out')]), /--output: \/proc is a kernel file system/);
    const db = path.join(work, 'empty.sqlite');
    execFileSync('sqlite3', [db, 'VACUUM']);
    expectRefused(cli(['leaderboard', '--db', db, '-o', '/proc/xyz']), /^optibench: error: \/proc\/xyz: --output: \/proc is a kernel file system/);
    expectRefused(cli(['tokenizer', 'convert', 'tokenizer.model', '-o', '/proc/xyz/tokenizer.json']), '/proc/xyz/tokenizer.json: --output: /proc is a kernel file system, not a place for files: choose a folder on a disk');
    expectRefused(cli(['schema', 'config', '-o', '/proc/xyz/schema.json']), '/proc/xyz/schema.json: --output: /proc is a kernel file system, not a place for files: choose a folder on a disk');
    expectRefused(cli(['generate-model', '/proc/xyz']), proc('<dir>'));
    expectRefused(cli(['sut', 'init', '/proc/xyz']), proc('<dir>'));
    expectRefused(cli(['compare', '--results', 'a.json', 'b.json', '-o', '/proc/xyz']), proc('--output'));
  }, 300_000);

  it('but /dev/shm is an ordinary tmpfs and stays usable', () => {
    const shm = `/dev/shm/optibench-outdirs-${process.pid}`;
    const outcome = runBuiltCli([...RUN, '--limit', '2', '-o', shm], { cwd: work, cacheDir, timeoutMs: 300_000 });
    expect(outcome.code, outcome.stderr).toBe(0);
    execFileSync('rm', ['-rf', shm]);
  });
});

describe('a file where a folder should be', () => {
  it('-o naming a file, or a folder under a file, and --cache-dir naming a file', () => {
    const cli = (args: string[]) => runBuiltCli(args, { cwd: work, cacheDir, timeoutMs: 60_000 });
    expectRefused(cli([...RUN, '-o', aFile]), `${aFile}: --output: cannot write into this folder: it is a file, not a folder`);
    expectRefused(cli([...RUN, '-o', path.join(aFile, 'out')]), `${path.join(aFile, 'out')}: --output: cannot write into this folder: part of the path is a file, not a folder (ENOTDIR)`);
    expectRefused(cli([...RUN, '--cache-dir', aFile]), `${aFile}: --cache-dir: cannot write into this folder: it is a file, not a folder`);
    expectRefused(cli(['tokenizer', 'convert', 'tokenizer.model', '-o', work]), `${work}: --output: this is a folder: give the name of the file to write`);
  });
});

describe('read-only and full file systems', () => {
  it('a read-only -o and a read-only --cache-dir are refused before computing', async () => {
    const mountPoint = path.join(work, 'ro');
    await mkdir(mountPoint);
    expectRefused(inMount(mountPoint, 'ro,size=64k', [...RUN, '-o', path.join(mountPoint, 'out')]), `${path.join(mountPoint, 'out')}: --output: cannot write into this folder: it is on a read-only file system (EROFS)`);
    expectRefused(inMount(mountPoint, 'ro,size=64k', [...RUN, '--cache-dir', mountPoint, '-o', path.join(work, 'never')]), `${mountPoint}: --cache-dir: cannot write into this folder: it is on a read-only file system (EROFS)`);
    expect(existsSync(path.join(work, 'never'))).toBe(true);
    expect(await readdir(path.join(work, 'never'))).toEqual([]);
  });

  it('a full -o is refused before computing', async () => {
    const mountPoint = path.join(work, 'full');
    await mkdir(mountPoint);
    const fill = `dd if=/dev/zero of="$0/filler" bs=4k count=64 2>/dev/null;`;
    expectRefused(inMount(mountPoint, 'size=64k', [...RUN, '-o', mountPoint], fill), `${mountPoint}: --output: cannot write into this folder: the file system is full (ENOSPC)`);
  });

  it('a disk that fills during the run: the results are kept in the cache dir, the error and the database say where', async () => {
    const mountPoint = path.join(work, 'tiny');
    await mkdir(mountPoint);
    const db = path.join(work, 'rescued.sqlite');
    // One page: the probe fits, results.json (about 8 KB) does not.
    const outcome = inMount(mountPoint, 'size=4k', [...RUN, '-o', mountPoint, '--db', db]);
    expect(outcome.code, outcome.stderr).toBe(1);
    expect(outcome.stderr).not.toMatch(/\n\s+at /);
    const match = /optibench: error: (\S+): could not write the results into this folder \(the file system is full \(ENOSPC\)\); they were saved in (\S+) instead/.exec(outcome.stderr);
    expect(match, outcome.stderr).not.toBeNull();
    const [, intended, rescued] = match!;
    const runId = path.basename(intended!);
    expect(path.dirname(intended!)).toBe(mountPoint);
    expect(rescued).toBe(path.join(cacheDir, 'rescued', runId));
    expect((await readdir(rescued!)).sort()).toEqual(['index.html', 'results.json']);
    const results = inferenceResultSchema.parse(JSON.parse(await readFile(path.join(rescued!, 'results.json'), 'utf8')));
    expect(results.runId).toBe(runId);
    expect(results.status).toBe('complete');
    expect(results.payload.items).toHaveLength(6);
    expect(sqlite3(db, 'SELECT id, status, results_path, report_path FROM runs')).toEqual([
      { id: runId, status: 'complete', results_path: path.join(rescued!, 'results.json'), report_path: path.join(rescued!, 'index.html') },
    ]);
  });
});
