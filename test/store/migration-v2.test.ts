/**
 * A database written before team registrations (test/fixtures/v2: store schema version 2, a team was its name)
 * migrates to version 3: every team gets a registration id of its own, and nothing else changes. Every expectation
 * is read from the untouched fixture with the sqlite3 shell, not from the code under test.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { queryStandings } from '../../src/evaluators/inference/board/query.js';
import { openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { optibench, sqlite3 } from './helpers.js';

const FIXTURE_DB = path.join(REPO_ROOT, 'test/fixtures/v2/results-v2.sqlite');

let work: string;

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

async function copyOfFixture(name: string): Promise<string> {
  const file = path.join(work, name);
  await copyFile(FIXTURE_DB, file);
  return file;
}

/** The rows of a table in a stable order, as the sqlite3 shell reads them. */
const rows = (file: string, table: string, order: string) => sqlite3(file, `SELECT * FROM ${table} ORDER BY ${order}`);

const UNCHANGED: readonly [string, string][] = [
  ['submissions', 'id'],
  ['runs', 'id'],
  ['run_metrics', 'run_id, name'],
  ['verdicts', 'run_id'],
  ['inference_gates', 'run_id'],
  ['inference_items', 'run_id, item_index'],
  ['store_versions', 'evaluator'],
];

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-migration-v2-'));
  expect(sqlite3(FIXTURE_DB, 'PRAGMA user_version')).toEqual([{ user_version: 2 }]);
  expect(sqlite3<{ name: string }>(FIXTURE_DB, 'PRAGMA table_info(teams)').map((c) => c.name)).toEqual(['id', 'name', 'members', 'created_at']);
});

describe('a version 2 database, opened for writing', () => {
  let file: string;

  beforeAll(async () => {
    file = await copyOfFixture('migrated.sqlite');
    openInferenceStore(file).close();
  });

  it('is at schema version 3, whole and consistent', () => {
    expect(sqlite3(file, 'PRAGMA user_version')).toEqual([{ user_version: 3 }]);
    expect(sqlite3(file, 'PRAGMA foreign_key_check')).toEqual([]);
    expect(sqlite3(file, 'PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
  });

  it('gives every team, with submissions or without, a registration id of its own and keeps the rest of the row', () => {
    const teams = sqlite3<{ id: number; registration_id: string; name: string; members: string; created_at: string }>(file, 'SELECT * FROM teams ORDER BY id');
    expect(teams.map(({ registration_id: _issued, ...t }) => t)).toEqual(rows(FIXTURE_DB, 'teams', 'id'));
    expect(teams.map((t) => t.name)).toEqual(['Fast Llamas', 'Slow Alpacas', 'Quiet Quokkas']);
    for (const t of teams) expect(t.registration_id).toMatch(/^team-[a-z2-7]{8}$/);
    expect(new Set(teams.map((t) => t.registration_id)).size).toBe(3);
  });

  it('leaves every other table exactly as it was', () => {
    for (const [table, order] of UNCHANGED) expect([table, rows(file, table, order)]).toEqual([table, rows(FIXTURE_DB, table, order)]);
  });

  it('has the teams table a new file gets: the id NOT NULL and UNIQUE', async () => {
    const fresh = path.join(work, 'fresh.sqlite');
    openInferenceStore(fresh).close();
    const shape = (f: string) => sqlite3(f, 'PRAGMA table_info(teams)');
    expect(shape(file)).toEqual(shape(fresh));
    const uniques = (f: string) =>
      sqlite3<{ name: string; unique: number; origin: string }>(f, 'PRAGMA index_list(teams)')
        .map((i) => [sqlite3<{ name: string }>(f, `PRAGMA index_info('${i.name}')`).map((c) => c.name).join(','), i.unique])
        .sort();
    expect(uniques(file)).toEqual([['name', 1], ['registration_id', 1]]);
    expect(uniques(file)).toEqual(uniques(fresh));
  });

  it('the ids it issued are registrations: the store finds each team by its id, and the board still reads', () => {
    const store = openInferenceStore(file, { readonly: true });
    try {
      for (const t of sqlite3<{ registration_id: string; name: string; members: string }>(file, 'SELECT registration_id, name, members FROM teams')) {
        expect(store.teamByRegistration(t.registration_id)).toMatchObject({ name: t.name, members: JSON.parse(t.members) });
      }
      const standings = queryStandings(store);
      const [old] = sqlite3<{ speedup: number }>(FIXTURE_DB, "SELECT speedup FROM inference_gates WHERE run_id = 'v2-rerun-complete'");
      expect(standings.find((s) => s.team === 'Fast Llamas')).toMatchObject({ state: 'judged', runId: 'v2-rerun-complete', speedup: old!.speedup });
      expect(standings.find((s) => s.team === 'Slow Alpacas')).toMatchObject({ state: 'failed', note: 'sandbox: wall-time limit of 3600 s exceeded; process tree killed' });
    } finally {
      store.close();
    }
  });
});

describe('a version 2 database, read only', () => {
  it('gives the leaderboard command a board with the teams\' names, without writing the file', async () => {
    const file = await copyOfFixture('board.sqlite');
    const before = await sha256(file);
    const { code, stderr } = optibench(['leaderboard', '--db', file, '-o', path.join(work, 'site'), '--date', '2026-12-11'], work, path.join(work, 'cache'));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const board = JSON.parse(await readFile(path.join(work, 'site', 'leaderboard.json'), 'utf8')) as { ranked: { team: string }[]; failed: { team: string }[] };
    expect([board.ranked.map((r) => r.team), board.failed.map((r) => r.team)]).toEqual([['Fast Llamas'], ['Slow Alpacas']]);
    expect(await sha256(file)).toBe(before);
  });
});

describe('optibench team list on a version 2 database', () => {
  it('brings the file up to date, so the ids it lists are the ones kept: listing again gives the same', async () => {
    const file = await copyOfFixture('listed.sqlite');
    const list = () => {
      const { code, stdout, stderr } = optibench(['team', 'list', '--db', file, '--json'], work, path.join(work, 'cache'));
      expect(stderr).toBe('');
      expect(code).toBe(0);
      return JSON.parse(stdout) as { id: string; name: string; members: unknown; registeredAt: string }[];
    };
    const listed = list();
    const fixture = sqlite3<{ name: string; members: string; created_at: string }>(FIXTURE_DB, 'SELECT name, members, created_at FROM teams ORDER BY id');
    expect(listed.map(({ id: _id, ...t }) => t)).toEqual(fixture.map((t) => ({ name: t.name, members: JSON.parse(t.members), registeredAt: t.created_at })));
    expect(listed.map((t) => t.id)).toEqual(sqlite3<{ registration_id: string }>(file, 'SELECT registration_id FROM teams ORDER BY id').map((t) => t.registration_id));
    expect(list()).toEqual(listed);
    expect(sqlite3(file, 'PRAGMA user_version')).toEqual([{ user_version: 3 }]);
  });
});
