/** `optibench submission check` and `optibench schema submission`, through the CLI (run from source). */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { optibench } from '../store/helpers.js';
import { PDF, makeRepo, writeManifest } from './git-repo.js';

let root: string;
let cache: string;

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
    await writeManifest(dir, commit, { config: 'bench.yaml' });
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`${path.join(dir, 'optibench-submission.json')}: valid submission`);
    expect(stdout).toContain('team       Fast Llamas (Ada Lovelace, Alan Turing)');
    expect(stdout).toContain(`commit     ${commit} of ${dir}`);
    expect(stdout).toContain('runs       optibench config bench.yaml');
  });

  it('lists every problem of an invalid manifest with its line and key, and exits 1', async () => {
    const dir = path.join(root, 'invalid');
    await makeRepo(dir, { 'README.md': 'no document here\n' });
    const yaml = [
      'schema: optibench/submission', // 1
      'version: 1', // 2
      'team: Slow Llamas', // 3
      'members:', // 4
      '  - name: A', // 5
      '  - name: B', // 6
      '  - name: C', // 7
      '  - name: D', // 8
      'repository:', // 9
      '  url: https://example.org/team.git', // 10
      '  commit: abc123', // 11
      'document: notes.txt', // 12
      'run:', // 13
      '  config: bench.yaml', // 14
      '  command: [python3, run.py]', // 15
      'colour: blue', // 16
    ].join('\n');
    const file = path.join(dir, 'optibench-submission.yaml');
    await writeFile(file, `${yaml}\n`);
    const { code, stdout, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const errors = stderr.split('\n').filter((l) => l.startsWith('optibench: error:'));
    expect(errors).toEqual(
      expect.arrayContaining([
        `optibench: error: ${file}:4: members: a team has 1 to 3 members`,
        `optibench: error: ${file}:11: repository.commit: expected the full 40-character commit hash (lower case)`,
        `optibench: error: ${file}:12: document: expected a .pdf, .doc, .docx file`,
        `optibench: error: ${file}:13: run: expected exactly one of "config" (an optibench config file) or "command" (a list of strings)`,
        `optibench: error: ${file}:1: (top level): unknown key "colour"`,
      ]),
    );
    expect(errors).toHaveLength(5);
    expect(stderr).toContain(`optibench: 5 problems in ${dir}`);
  });

  it('checks the files the manifest names: a missing document and a bad config', async () => {
    const dir = path.join(root, 'missing-files');
    const commit = await makeRepo(dir, { 'bench.yaml': 'batchSize: 0\n' });
    await writeManifest(dir, commit, { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    const manifest = path.join(dir, 'optibench-submission.json');
    expect(stderr).toContain(`optibench: error: ${manifest}:18: document: the document docs/optimizations.pdf does not exist in the submission`);
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
    await writeManifest(dir, 'f'.repeat(40), { config: 'bench.yaml' });
    const { code, stderr } = optibench(['submission', 'check', dir], root, cache);
    expect(code).toBe(1);
    const manifest = path.join(dir, 'optibench-submission.json');
    expect(stderr).toContain(`optibench: error: ${manifest}:16: repository.commit: commit ${'f'.repeat(40)} does not exist in this repository (commit the submission, or fix repository.commit)`);
    expect(stderr).toMatch(new RegExp(`optibench: error: ${path.join(dir, 'bench.yaml')}: plugins\\[1\\]: unknown plugin "no-such-plugin"`));
    expect(existsSync(path.join(root, 'ran.txt'))).toBe(false);
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
    const schema = JSON.parse(stdout) as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['team', 'members', 'repository', 'document', 'round', 'run']));
    expect(schema.required).toEqual(expect.arrayContaining(['schema', 'version', 'team', 'members', 'repository', 'document', 'run']));
  });
});
