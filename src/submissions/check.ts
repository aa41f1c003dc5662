/**
 * `optibench submission check`: finds and validates the manifest of a submission folder and the files it
 * names, and lists every problem (file, line, key, what was expected), not just the first.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { z } from 'zod';
import { describeIssue, keyName } from '../core/config-file.js';
import { OptibenchError } from '../core/errors.js';
import { MANIFEST_NAMES, submissionSchema, versionProblem, type SubmissionManifest } from './manifest.js';
import { parsePositioned } from './yaml-positions.js';

export interface Problem {
  readonly file: string;
  readonly line?: number;
  readonly key?: string;
  readonly message: string;
}

export interface SubmissionCheck {
  /** The manifest file found, if any. */
  readonly file: string | undefined;
  /** Set when the manifest itself is valid (the files it names may still have problems). */
  readonly manifest: SubmissionManifest | undefined;
  readonly problems: readonly Problem[];
}

export function formatProblem(problem: Problem): string {
  return new OptibenchError(problem.message, problem).oneLine();
}

const run = promisify(execFile);

function describeManifestIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_union' && issue.path.join('.') === 'run') return 'expected exactly one of "config" (an optibench config file) or "command" (a list of strings)';
  return describeIssue(issue);
}

/** In a git checkout, the manifest's commit must be one of its commits (a typo, or a commit never made, is caught here rather than by the organizer's clone). */
async function commitProblem(root: string, commit: string): Promise<string | undefined> {
  if (!existsSync(path.join(root, '.git'))) return undefined;
  try {
    await run('git', ['-C', root, 'cat-file', '-e', `${commit}^{commit}`], { timeout: 30_000 });
    return undefined;
  } catch (error) {
    // Only git's own answer that the object is not there counts; a repository git will not read (another owner,
    // a damaged one) is left to the organizer's clone to judge.
    return /Not a valid object name/.test(String((error as { stderr?: unknown }).stderr ?? ''))
      ? `commit ${commit} does not exist in this repository (commit the submission, or fix repository.commit)`
      : undefined;
  }
}

function findManifest(dir: string): { file?: string; problem?: Problem } {
  const present = MANIFEST_NAMES.map((name) => path.join(dir, name)).filter((f) => existsSync(f));
  if (present.length === 0) return { problem: { file: dir, message: `no submission manifest: expected ${MANIFEST_NAMES.join(' or ')} at the root of the submission` } };
  if (present.length > 1) return { problem: { file: dir, message: `more than one manifest (${present.map((f) => path.basename(f)).join(', ')}): keep exactly one` } };
  return { file: present[0] };
}

/** A path the manifest names: inside the repository, an existing regular file. */
function fileProblem(root: string, relative: string, manifestFile: string, line: number | undefined, key: string, what: string): Problem | undefined {
  const full = path.resolve(root, relative);
  if (!existsSync(full)) return { file: manifestFile, line, key, message: `${what} ${relative} does not exist in the submission` };
  if (!statSync(full).isFile()) return { file: manifestFile, line, key, message: `${what} ${relative} is not a file` };
  return undefined;
}

/**
 * Checks a submission folder. `readConfig` reads the config the manifest names as its evaluator reads it (the
 * submissions code knows no evaluator): its errors become problems with their line and key.
 */
export async function checkSubmission(dir: string, readConfig?: (file: string, root: string) => Promise<unknown>): Promise<SubmissionCheck> {
  const root = path.resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    return { file: undefined, manifest: undefined, problems: [{ file: root, message: 'submission folder does not exist' }] };
  }
  const found = findManifest(root);
  if (!found.file) return { file: undefined, manifest: undefined, problems: [found.problem!] };
  const file = found.file;
  const parsed = parsePositioned(await readFile(file, 'utf8'));
  if (parsed.syntaxError) {
    return { file, manifest: undefined, problems: [{ file, line: parsed.syntaxError.line, message: `not valid YAML or JSON: ${parsed.syntaxError.message}` }] };
  }
  const outdated = versionProblem(parsed.data);
  if (outdated) return { file, manifest: undefined, problems: [{ file, line: parsed.lineOf(['version']), key: 'version', message: outdated }] };
  const result = submissionSchema.safeParse(parsed.data ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((issue) => ({ file, line: parsed.lineOf(issue.path), key: keyName(issue.path), message: describeManifestIssue(issue) }));
    return { file, manifest: undefined, problems };
  }
  const manifest = result.data;
  const problems: Problem[] = [];
  const document = fileProblem(root, manifest.document, file, parsed.lineOf(['document']), 'document', 'the document');
  if (document) problems.push(document);
  const commit = await commitProblem(root, manifest.repository.commit);
  if (commit) problems.push({ file, line: parsed.lineOf(['repository', 'commit']), key: 'repository.commit', message: commit });
  if ('config' in manifest.run) {
    const line = parsed.lineOf(['run', 'config']);
    const missing = fileProblem(root, manifest.run.config, file, line, 'run.config', 'the config file');
    if (missing) problems.push(missing);
    else if (readConfig) {
      try {
        await readConfig(path.join(root, manifest.run.config), root);
      } catch (error) {
        if (!(error instanceof OptibenchError)) throw error;
        problems.push({ file: error.location?.file ?? path.join(root, manifest.run.config), line: error.location?.line, key: error.location?.key, message: error.message });
      }
    }
  }
  return { file, manifest, problems };
}
