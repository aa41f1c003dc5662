/** Local git repositories made in the test, standing in for a team's repository. */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TeamMember } from '../../src/core/team.js';
import { openInferenceStore } from '../../src/evaluators/inference/store/runs.js';

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test Team', '-c', 'user.email=team@example.org', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, encoding: 'utf8' }).trim();
}

/** Creates a repository with these files in one commit; returns that commit's hash. */
export async function makeRepo(dir: string, files: Record<string, string | Buffer>): Promise<string> {
  await mkdir(dir, { recursive: true });
  git(dir, 'init', '--quiet');
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  git(dir, 'add', '--all');
  git(dir, 'commit', '--quiet', '-m', 'submission');
  return git(dir, 'rev-parse', 'HEAD');
}

/**
 * The manifest is written after the commit it names, as a team would, naming the team by the registration id
 * the organizer issued it (`registerTeam`).
 */
export async function writeManifest(dir: string, commit: string, team: string, run: object, extra: object = {}): Promise<void> {
  const manifest = {
    schema: 'optibench/submission',
    version: 2,
    team,
    repository: { url: dir, commit },
    document: 'docs/optimizations.pdf',
    round: 1,
    run,
    ...extra,
  };
  await writeFile(path.join(dir, 'optibench-submission.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Registers a team in the results database (created if missing) as the organizer would; returns the id issued. */
export function registerTeam(db: string, name = 'Fast Llamas', members: TeamMember[] = [{ name: 'Ada Lovelace', email: 'ada@example.org' }, { name: 'Alan Turing' }]): string {
  const store = openInferenceStore(db);
  try {
    return store.registerTeam({ name, members }).registrationId;
  } finally {
    store.close();
  }
}

export const PDF = Buffer.from('%PDF-1.4\n% optimizations\n%%EOF\n');
