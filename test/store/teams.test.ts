/**
 * Team registrations: the store's registry on real SQLite files (read back with the sqlite3 shell) and the
 * `optibench team` verbs as the organizer runs them. Expected values are written out by hand.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { newRegistrationId, parseMember } from '../../src/core/team.js';
import { openInferenceStore } from '../../src/evaluators/inference/store/runs.js';
import { optibench, sqlite3 } from './helpers.js';

let work: string;
let counter = 0;
const ID = /^team-[a-z2-7]{8}$/;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-teams-'));
});

const freshFile = () => path.join(work, `teams-${++counter}.sqlite`);

function withStore<T>(file: string, fn: (store: ReturnType<typeof openInferenceStore>) => T): T {
  const store = openInferenceStore(file);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

describe('the registry of teams in the store', () => {
  it('issues each registered team an id of its own and stores the team as given', () => {
    const file = freshFile();
    const before = Date.now();
    const team = withStore(file, (s) => s.registerTeam({ name: '  Fast \t Llamas ', members: [{ name: 'Ada Lovelace', email: 'ada@example.org' }, { name: 'Alan Turing' }] }));
    expect(team.registrationId).toMatch(ID);
    const [row] = sqlite3<{ id: number; registration_id: string; name: string; members: string; created_at: string }>(file, 'SELECT * FROM teams');
    // Spacing in the name is one space, as the board shows it.
    expect(row).toMatchObject({ id: team.rowId, registration_id: team.registrationId, name: 'Fast Llamas', members: '[{"name":"Ada Lovelace","email":"ada@example.org"},{"name":"Alan Turing"}]' });
    expect(Date.parse(row!.created_at)).toBeGreaterThanOrEqual(before - 1000);
    expect(row!.created_at).toBe(team.registeredAt);
  });

  it('never issues an id twice: 300 registrations, 300 ids, all of the form', () => {
    const file = freshFile();
    const ids = withStore(file, (s) => Array.from({ length: 300 }, (_, i) => s.registerTeam({ name: `Team ${i}`, members: [{ name: 'M' }] }).registrationId));
    expect(new Set(ids).size).toBe(300);
    expect(ids.every((id) => ID.test(id))).toBe(true);
    expect(sqlite3(file, 'SELECT COUNT(DISTINCT registration_id) AS n FROM teams')).toEqual([{ n: 300 }]);
    // The generator alone: every character of the alphabet turns up (8 draws x 2000 ids), nothing else does.
    const chars = new Set(Array.from({ length: 2000 }, () => newRegistrationId().slice(5)).join(''));
    expect([...chars].sort().join('')).toBe('234567abcdefghijklmnopqrstuvwxyz');
  });

  it('refuses a name already registered, case and spacing aside, and leaves the file as it was', () => {
    const file = freshFile();
    const first = withStore(file, (s) => s.registerTeam({ name: 'Fast Llamas', members: [{ name: 'Ada' }] }));
    for (const name of ['Fast Llamas', 'fast  LLAMAS', ' Fast Llamas ']) {
      expect(() => withStore(file, (s) => s.registerTeam({ name, members: [{ name: 'Mallory' }] }))).toThrow(
        `a team named "Fast Llamas" is already registered (${first.registrationId}): team names are unique`,
      );
    }
    expect(sqlite3(file, 'SELECT name, members FROM teams')).toEqual([{ name: 'Fast Llamas', members: '[{"name":"Ada"}]' }]);
  });

  it('refuses a team without a name, with no member or more than three, or with a bad member', () => {
    const file = freshFile();
    const cases: [Parameters<ReturnType<typeof openInferenceStore>['registerTeam']>[0], string][] = [
      [{ name: '   ', members: [{ name: 'A' }] }, 'a team needs a non-empty name'],
      [{ name: 'x'.repeat(81), members: [{ name: 'A' }] }, 'a team name has at most 80 characters'],
      [{ name: 'Bell\u0007', members: [{ name: 'A' }] }, 'a team name must not hold control characters'],
      [{ name: 'None', members: [] }, 'a team has 1 to 3 members'],
      [{ name: 'Four', members: [{ name: 'A' }, { name: 'B' }, { name: 'C' }, { name: 'D' }] }, 'a team has 1 to 3 members'],
      [{ name: 'Nameless', members: [{ name: ' ' }] }, 'a member needs a name'],
      [{ name: 'Bad mail', members: [{ name: 'A', email: 'not-an-address' }] }, 'expected an e-mail address'],
    ];
    for (const [team, message] of cases) {
      let error: unknown;
      try {
        withStore(file, (s) => s.registerTeam(team));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(OptibenchError);
      expect((error as Error).message).toBe(message);
    }
    expect(sqlite3(file, 'SELECT COUNT(*) AS n FROM teams')).toEqual([{ n: 0 }]);
  });

  it("updates a registration's name or members and keeps its id; refuses a taken name and an unknown id", () => {
    const file = freshFile();
    const [a, b] = withStore(file, (s) => [s.registerTeam({ name: 'Alpha', members: [{ name: 'Ada' }] }), s.registerTeam({ name: 'Bravo', members: [{ name: 'Bo' }] })]);
    withStore(file, (s) => s.updateTeam(a!.registrationId, { members: [{ name: 'Ada', email: 'ada@example.org' }, { name: 'Cy' }] }));
    withStore(file, (s) => s.updateTeam(a!.registrationId, { name: 'Alpha Prime' }));
    expect(sqlite3(file, 'SELECT registration_id, name, members, created_at FROM teams ORDER BY id')).toEqual([
      { registration_id: a!.registrationId, name: 'Alpha Prime', members: '[{"name":"Ada","email":"ada@example.org"},{"name":"Cy"}]', created_at: a!.registeredAt },
      { registration_id: b!.registrationId, name: 'Bravo', members: '[{"name":"Bo"}]', created_at: b!.registeredAt },
    ]);
    expect(() => withStore(file, (s) => s.updateTeam(b!.registrationId, { name: 'ALPHA prime' }))).toThrow(`a team named "Alpha Prime" is already registered (${a!.registrationId})`);
    // Its own name in another case is no clash.
    expect(withStore(file, (s) => s.updateTeam(b!.registrationId, { name: 'BRAVO' })).name).toBe('BRAVO');
    expect(() => withStore(file, (s) => s.updateTeam('team-zzzz2222', { name: 'Ghost' }))).toThrow('no team team-zzzz2222 is registered');
    expect(() => withStore(file, (s) => s.updateTeam('Bravo', { name: 'Ghost' }))).toThrow('"Bravo" is not a team id');
  });

  it('finds a team by its id only, and lists teams in the order they registered', () => {
    const file = freshFile();
    const [a, b] = withStore(file, (s) => [s.registerTeam({ name: 'Alpha', members: [{ name: 'Ada' }] }), s.registerTeam({ name: 'Bravo', members: [{ name: 'Bo' }] })]);
    withStore(file, (s) => {
      expect(s.teamByRegistration(b!.registrationId)).toEqual(b);
      expect(s.teamByRegistration('Bravo')).toBeUndefined();
      expect(s.teamByRegistration(b!.registrationId.toUpperCase())).toBeUndefined();
      expect(s.listTeams()).toEqual([a, b]);
    });
  });
});

describe('members as the organizer types them', () => {
  it('reads "Name <email>" and "Name"', () => {
    expect(parseMember('Ada Lovelace <ada@example.org>')).toEqual({ name: 'Ada Lovelace', email: 'ada@example.org' });
    expect(parseMember('  Alan Turing  ')).toEqual({ name: 'Alan Turing' });
    expect(parseMember('Grace Hopper<grace@example.org>')).toEqual({ name: 'Grace Hopper', email: 'grace@example.org' });
  });

  it('refuses an address without a name, a bad address, and stray brackets', () => {
    expect(() => parseMember('<ada@example.org>')).toThrow('"<ada@example.org>" is not a member: expected "Name" or "Name <email>", with a name');
    expect(() => parseMember('Ada <ada-at-example.org>')).toThrow('"Ada <ada-at-example.org>" is not a member: <ada-at-example.org> is not an e-mail address');
    expect(() => parseMember('Ada <>')).toThrow('"Ada <>" is not a member: empty <>');
    expect(() => parseMember('Ada <a@b.org> <c@d.org>')).toThrow('"Ada <a@b.org> <c@d.org>" is not a member: expected "Name" or "Name <email>"');
  });
});

describe('optibench team, as the organizer runs it', () => {
  let file: string;
  let cwd: string;
  let fast: string;
  const cache = () => path.join(work, 'cache');

  beforeAll(() => {
    cwd = work;
    file = path.join(work, 'cli.sqlite');
  });

  it('register prints the id alone on stdout, and says what it registered on stderr', () => {
    const { code, stdout, stderr } = optibench(['team', 'register', '--db', file, '--name', 'Fast Llamas', '--member', 'Ada Lovelace <ada@example.org>', '--member', 'Alan Turing'], cwd, cache());
    expect(code).toBe(0);
    expect(stdout).toMatch(/^team-[a-z2-7]{8}\n$/);
    fast = stdout.trim();
    expect(stderr).toBe('optibench: registered "Fast Llamas" (Ada Lovelace <ada@example.org>, Alan Turing) in cli.sqlite\n');
    expect(sqlite3(file, 'SELECT registration_id, name, members FROM teams')).toEqual([
      { registration_id: fast, name: 'Fast Llamas', members: '[{"name":"Ada Lovelace","email":"ada@example.org"},{"name":"Alan Turing"}]' },
    ]);
  });

  it('register refuses a taken name, a bad member and no member, with exit 1 and one line', () => {
    const taken = optibench(['team', 'register', '--db', file, '--name', 'FAST LLAMAS', '--member', 'Mallory'], cwd, cache());
    expect([taken.code, taken.stdout, taken.stderr]).toEqual([1, '', `optibench: error: ${file}: a team named "Fast Llamas" is already registered (${fast}): team names are unique\n`]);
    const bad = optibench(['team', 'register', '--db', file, '--name', 'Slow Alpacas', '--member', 'Bo <bo-at-example>'], cwd, cache());
    expect([bad.code, bad.stderr]).toEqual([1, 'optibench: error: --member: "Bo <bo-at-example>" is not a member: <bo-at-example> is not an e-mail address\n']);
    const none = optibench(['team', 'register', '--db', file, '--name', 'Slow Alpacas'], cwd, cache());
    expect([none.code, none.stderr]).toEqual([1, 'optibench: error: --member: a team has 1 to 3 members: give each with --member "Name <email>"\n']);
    const four = optibench(['team', 'register', '--db', file, '--name', 'Slow Alpacas', '--member', 'A', '--member', 'B', '--member', 'C', '--member', 'D'], cwd, cache());
    expect([four.code, four.stderr]).toEqual([1, 'optibench: error: members: a team has 1 to 3 members\n']);
    expect(sqlite3(file, 'SELECT COUNT(*) AS n FROM teams')).toEqual([{ n: 1 }]);
  });

  it('list shows id, registration day, name and members, as a table or as JSON', () => {
    const slow = optibench(['team', 'register', '--db', file, '--name', 'Slow Alpacas', '--member', 'Bo'], cwd, cache()).stdout.trim();
    const [{ fastDay, slowDay }] = sqlite3<{ fastDay: string; slowDay: string }>(
      file,
      `SELECT substr((SELECT created_at FROM teams WHERE registration_id = '${fast}'), 1, 10) AS fastDay, substr((SELECT created_at FROM teams WHERE registration_id = '${slow}'), 1, 10) AS slowDay`,
    ) as [{ fastDay: string; slowDay: string }];
    const table = optibench(['team', 'list', '--db', file], cwd, cache());
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      [
        'id             registered  name          members',
        `${fast}  ${fastDay}  Fast Llamas   Ada Lovelace <ada@example.org>, Alan Turing`,
        `${slow}  ${slowDay}  Slow Alpacas  Bo`,
        '',
      ].join('\n'),
    );
    const json = optibench(['team', 'list', '--db', file, '--json'], cwd, cache());
    const created = sqlite3<{ created_at: string }>(file, 'SELECT created_at FROM teams ORDER BY id').map((r) => r.created_at);
    expect(JSON.parse(json.stdout)).toEqual([
      { id: fast, name: 'Fast Llamas', members: [{ name: 'Ada Lovelace', email: 'ada@example.org' }, { name: 'Alan Turing' }], registeredAt: created[0] },
      { id: slow, name: 'Slow Alpacas', members: [{ name: 'Bo' }], registeredAt: created[1] },
    ]);
  });

  it('update changes the name or the members and prints the registration; nothing to change is an error', () => {
    const updated = optibench(['team', 'update', fast, '--db', file, '--member', 'Ada Lovelace <ada@example.org>', '--member', 'Grace Hopper'], cwd, cache());
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain(`${fast}  `);
    expect(updated.stdout).toContain('Fast Llamas  Ada Lovelace <ada@example.org>, Grace Hopper\n');
    expect(sqlite3(file, `SELECT name, members FROM teams WHERE registration_id = '${fast}'`)).toEqual([
      { name: 'Fast Llamas', members: '[{"name":"Ada Lovelace","email":"ada@example.org"},{"name":"Grace Hopper"}]' },
    ]);
    const nothing = optibench(['team', 'update', fast, '--db', file], cwd, cache());
    expect([nothing.code, nothing.stderr]).toEqual([1, `optibench: error: ${fast}: nothing to change: give --name, --member or both\n`]);
    const ghost = optibench(['team', 'update', 'team-zzzz2222', '--db', file, '--name', 'Ghost'], cwd, cache());
    expect([ghost.code, ghost.stderr]).toEqual([1, `optibench: error: ${file}: no team team-zzzz2222 is registered (optibench team list shows those that are)\n`]);
  });

  it('list and update refuse a database that does not exist, creating nothing', () => {
    const missing = path.join(work, 'no-such.sqlite');
    const list = optibench(['team', 'list', '--db', missing], cwd, cache());
    expect([list.code, list.stderr]).toEqual([1, `optibench: error: ${missing}: results database not found\n`]);
    expect(optibench(['team', 'update', fast, '--db', missing, '--name', 'X'], cwd, cache()).code).toBe(1);
    expect(sqlite3(path.join(work, 'cli.sqlite'), 'SELECT COUNT(*) AS n FROM teams')).toEqual([{ n: 2 }]);
  });

  it('has help for each verb, with its defaults and examples', () => {
    const help = optibench(['team', 'register', '--help'], cwd, cache());
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--member <"Name <email>">');
    expect(help.stdout).toContain('Prints the id (team-xxxxxxxx) on stdout');
    expect(optibench(['team', '--help'], cwd, cache()).stdout).toMatch(/register \[options\][\s\S]*list \[options\][\s\S]*update \[options\] <id>/);
  });
});
