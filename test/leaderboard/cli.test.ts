/**
 * `optibench leaderboard` as a user runs it: the built CLI in a child process (npm test builds dist/ first),
 * real database files, exit codes and messages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { tempDir } from './db-fixture.js';
import { buildScenario } from './scenario.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');
let work: string;
let db: string;

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: work, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
  work = tempDir('leaderboard-cli');
  db = path.join(work, 'results.sqlite');
  buildScenario(db).close();
});

describe('optibench leaderboard', () => {
  it('documents its flags and exit codes', () => {
    const { code, stdout } = optibench(['leaderboard', '--help']);
    expect(code).toBe(0);
    for (const flag of ['--db <file>', '-o, --output <dir>', '--date <YYYY-MM-DD>', '--top <n>', '--title <text>', '--round <n>']) expect(stdout).toContain(flag);
    expect(stdout).toContain('Exit codes: 0 written, 1 bad input');
  });

  it('writes the site and says what is on the board', async () => {
    const { code, stdout, stderr } = optibench(['leaderboard', '--db', 'results.sqlite', '-o', 'site', '--date', '2025-03-04', '--top', '3', '--title', 'Round one']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toBe(
      'leaderboard 2025-03-04: 5 ranked (3 go on), 1 failed the gate, 3 pending, 1 failed\n' +
        '  board     site/index.html\n  json      site/leaderboard.json\n  snapshot  site/snapshots/2025-03-04/index.html\n',
    );
    expect((await readdir(path.join(work, 'site'))).sort()).toEqual(['index.html', 'leaderboard.json', 'snapshots']);
  });

  it("names today's UTC day when no --date is given", async () => {
    const before = new Date().toISOString().slice(0, 10);
    const { code } = optibench(['leaderboard', '--db', db, '-o', 'today']);
    const after = new Date().toISOString().slice(0, 10);
    expect(code).toBe(0);
    const [day] = await readdir(path.join(work, 'today', 'snapshots'));
    expect([before, after]).toContain(day);
  });

  it('refuses a missing database, a newer schema and a file that is not a database, naming the file (exit 1)', async () => {
    const missing = optibench(['leaderboard', '--db', 'nope.sqlite', '-o', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('optibench: error: nope.sqlite: results database not found\n');

    const newer = path.join(work, 'newer.sqlite');
    const raw = new Database(newer);
    raw.pragma('user_version = 7');
    raw.close();
    const wrongVersion = optibench(['leaderboard', '--db', newer, '-o', 'x']);
    expect(wrongVersion.code).toBe(1);
    expect(wrongVersion.stderr).toBe(`optibench: error: ${newer}: results database has schema version 7, newer than this optibench (3): upgrade optibench\n`);

    await writeFile(path.join(work, 'notes.txt'), 'not sqlite at all, just some text that is long enough to have a header'.repeat(4));
    const notDb = optibench(['leaderboard', '--db', 'notes.txt', '-o', 'x']);
    expect(notDb.code).toBe(1);
    expect(notDb.stderr).toMatch(/^optibench: error: notes\.txt: not a usable results database: file is not a database\n$/);
    expect(existsSync(path.join(work, 'x'))).toBe(false);
  });

  it('refuses to take the site back to an older day (exit 1)', () => {
    const { code, stderr } = optibench(['leaderboard', '--db', db, '-o', 'site', '--date', '2025-03-01']);
    expect(code).toBe(1);
    expect(stderr).toContain('this site already holds the board of 2025-03-04, newer than 2025-03-01');
  });

  it('treats bad flags as usage errors (exit 2)', () => {
    const badDate = optibench(['leaderboard', '--db', db, '-o', 'site', '--date', '2025-02-30']);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain("option '--date <YYYY-MM-DD>' argument '2025-02-30' is invalid. expected a calendar day as YYYY-MM-DD");
    const badTop = optibench(['leaderboard', '--db', db, '-o', 'site', '--top', '0']);
    expect(badTop.code).toBe(2);
    expect(badTop.stderr).toContain('expected a positive integer');
    const noDb = optibench(['leaderboard', '-o', 'site']);
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toContain("required option '--db <file>' not specified");
  });
});
