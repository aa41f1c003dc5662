/** `optibench submission check` and `optibench schema submission`, through the CLI (run from source). */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optibench } from '../store/helpers.js';
import { PDF, makeRepo, writeManifest } from './git-repo.js';

const TEAM_EXPECTED =
  'expected the registration id the organizer issued (team- and 8 characters a-z, 2-7), not a team name; ask the organizer to register your team: optibench team register --db <file> --name "<team name>" --member "Name <email>"';

let root: string;
let cache: string;
/** A well-formed id: the check reads no database, so it need not be registered anywhere. */
const TEAM = 'team-fa57llam';

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'optibench-submission-'));
  cache = path.join(root, 'cache');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('optibench submission check', () => {
  it('prints a summary of a valid submission and exits 0', async () => {
    const dir = path.join(root, 'valid');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'limit: 8\nplugins: [onnx-session]\n' });
    await writeManifest(dir, commit, TEAM, { config: 'bench.yaml' });
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`${path.join(dir, 'optibench-submission.json')}: valid submission`);
    expect(stdout).toContain("team       team-fa57llam (its name and members are in the organizer's registration)");
    expect(stdout).toContain(`commit     ${commit} of ${dir}`);
    expect(stdout).toContain('runs       optibench config bench.yaml');
  });

  it('lists every problem of an invalid manifest with its line and key, and exits 1', async () => {
    const dir = path.join(root, 'invalid');
    await makeRepo(dir, { 'README.md': 'no document here\n' });
    const yaml = [
      'schema: optibench/submission', // 1
      'version: 2', // 2
      'team: team-0123abcd', // 3: 0 and 1 are not base32
      'repository:', // 4
      '  url: https://example.org/team.git', // 5
      '  commit: abc123', // 6
      'document: notes.txt', // 7
      'run:', // 8
      '  config: bench.yaml', // 9
      '  command: [python3, run.py]', // 10
      'colour: blue', // 11
    ].join('\n');
    const file = path.join(dir, 'optibench-submission.yaml');
    await writeFile(file, `${yaml}\n`);
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const errors = stderr.split('\n').filter((l) => l.startsWith('optibench: error:'));
    expect(errors).toEqual(
      expect.arrayContaining([
        `optibench: error: ${file}:3: team: ${TEAM_EXPECTED}`,
        `optibench: error: ${file}:6: repository.commit: expected the full 40-character commit hash (lower case)`,
        `optibench: error: ${file}:7: document: expected a .pdf, .doc, .docx file`,
        `optibench: error: ${file}:8: run: expected exactly one of "config" (an optibench config file) or "command" (a list of strings)`,
        `optibench: error: ${file}:1: (top level): unknown key "colour"`,
      ]),
    );
    expect(errors).toHaveLength(5);
    expect(stderr).toContain(`optibench: 5 problems in ${dir}`);
  });

  it('checks the files the manifest names: a missing document and a bad config', async () => {
    const dir = path.join(root, 'missing-files');
    const commit = await makeRepo(dir, { 'bench.yaml': 'batchSize: 0\n' });
    await writeManifest(dir, commit, TEAM, { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    const manifest = path.join(dir, 'optibench-submission.json');
    expect(stderr).toContain(`optibench: error: ${manifest}:9: document: the document docs/optimizations.pdf does not exist in the submission`);
    expect(stderr).toMatch(new RegExp(`optibench: error: ${path.join(dir, 'bench.yaml')}:1: batchSize: .*>0`));
  });

  it('catches a commit the repository does not have and a plugin that does not exist, without running plugin code', async () => {
    const dir = path.join(root, 'wrong-commit');
    await makeRepo(dir, {
      'docs/optimizations.pdf': PDF,
      'bench.yaml': 'plugins:\n  - head-pruning\n  - no-such-plugin\n  - ./plugins/missing.mjs\n  - ./plugins/runs-code.mjs\n',
      // Would leave a mark if the check imported it.
      'plugins/runs-code.mjs': `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(path.join(root, 'ran.txt'))}, 'ran');\nexport default {};\n`,
    });
    await writeManifest(dir, 'f'.repeat(40), TEAM, { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    const manifest = path.join(dir, 'optibench-submission.json');
    expect(stderr).toContain(`optibench: error: ${manifest}:7: repository.commit: commit ${'f'.repeat(40)} does not exist in this repository (commit the submission, or fix repository.commit)`);
    expect(stderr).toMatch(new RegExp(`optibench: error: ${path.join(dir, 'bench.yaml')}: plugins\\[1\\]: unknown plugin "no-such-plugin"`));
    expect(existsSync(path.join(root, 'ran.txt'))).toBe(false);
  });

  it('refuses a version 1 manifest in one problem: what changed, and how to get a team id', async () => {
    const dir = path.join(root, 'version-1');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'limit: 8\n' });
    // As a team wrote it before registrations: a free-text name and its members.
    const yaml = [
      'schema: optibench/submission', // 1
      'version: 1', // 2
      'team: Fast Llamas', // 3
      'members: [{ name: Ada Lovelace, email: ada@example.org }]', // 4
      `repository: { url: ${dir}, commit: ${commit} }`, // 5
      'document: docs/optimizations.pdf', // 6
      'run: { config: bench.yaml }', // 7
    ].join('\n');
    await writeFile(path.join(dir, 'optibench-submission.yaml'), `${yaml}\n`);
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      `optibench: error: ${path.join(dir, 'optibench-submission.yaml')}:2: version: version 1 manifests are no longer accepted: in version 2, "team" is the registration id the organizer issued (team-xxxxxxxx) instead of the team's name, and "members" is gone (the registration holds them); ask the organizer to register your team: optibench team register --db <file> --name "<team name>" --member "Name <email>", then write version: 2 and team: <the id>\n` +
        `optibench: 1 problem in ${dir}\n`,
    );
  });

  it("refuses a team's name where its id belongs, naming the file, the line and the key", async () => {
    const dir = path.join(root, 'free-text-team');
    const commit = await makeRepo(dir, { 'docs/optimizations.pdf': PDF, 'bench.yaml': 'limit: 8\n' });
    await writeManifest(dir, commit, 'Fast Llamas', { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stderr).toBe(`optibench: error: ${path.join(dir, 'optibench-submission.json')}:4: team: ${TEAM_EXPECTED}\noptibench: 1 problem in ${dir}\n`);
  });

  it('says where the manifest should be when there is none', () => {
    const { code, stderr } = optibench(['submission', 'check', root], root, cache);
    expect(code).toBe(1);
    expect(stderr).toContain(`optibench: error: ${root}: no submission manifest: expected optibench-submission.yaml or optibench-submission.yml or optibench-submission.json at the root of the submission`);
  });
});

describe('optibench schema submission', () => {
  it('prints the manifest JSON Schema', () => {
    const { code, stdout } = optibench(['schema', 'submission'], root, cache);
    expect(code).toBe(0);
    const schema = JSON.parse(stdout) as { properties: Record<string, { const?: unknown; pattern?: string }>; required: string[] };
    expect(Object.keys(schema.properties).sort()).toEqual(['$schema', 'document', 'repository', 'round', 'run', 'schema', 'team', 'version']);
    expect(schema.required.sort()).toEqual(['document', 'repository', 'run', 'schema', 'team', 'version']);
    expect(schema.properties.version!.const).toBe(2);
    // The pattern as JSON Schema states it, tried on ids by hand: 8 characters of a-z and 2-7 after "team-".
    const pattern = new RegExp(schema.properties.team!.pattern!);
    expect(['team-abcd2345', 'team-zzzz7777'].map((id) => pattern.test(id))).toEqual([true, true]);
    expect(['Fast Llamas', 'team-abcd234', 'team-abcd23456', 'team-ABCD2345', 'team-abcd2341', 'xteam-abcd2345'].map((id) => pattern.test(id))).toEqual([false, false, false, false, false, false]);
  });
});
