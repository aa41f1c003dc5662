/**
 * Shared by the results-database tests: the `sqlite3` command-line shell as an independent reader of the
 * files optibench writes, and the CLI run from source (tsx) as a user runs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultCorpus } from '../../src/evaluators/inference/embedded-default.js';
import { generateLlama } from '../../src/models/llama/generate.js';
import { REPO_ROOT } from '../helpers/shared.js';

/** Rows from `sqlite3 -json`: Debian's sqlite3 shell reads the file, not better-sqlite3. */
export function sqlite3<T = Record<string, unknown>>(file: string, sql: string): T[] {
  const result = spawnSync('sqlite3', ['-json', file, sql], { encoding: 'utf8' });
  if (result.error) throw new Error(`sqlite3 could not start (apt-get install sqlite3): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`sqlite3 failed on ${file}: ${result.stderr}`);
  return result.stdout.trim() === '' ? [] : (JSON.parse(result.stdout) as T[]);
}

/**
 * Items a run being watched has recorded so far (a poll while the run writes): 0 until its database and tables
 * exist, since the file appears before the transaction that makes its tables commits.
 */
export function recordedItems(file: string, runId?: string): number {
  if (!existsSync(file)) return 0;
  try {
    return sqlite3<{ n: number }>(file, `SELECT COUNT(*) AS n FROM inference_items${runId ? ` WHERE run_id = '${runId}'` : ''}`)[0]?.n ?? 0;
  } catch {
    return 0;
  }
}

export const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const CLI = [`--import=${TSX_LOADER}`, path.join(REPO_ROOT, 'src/cli/main.ts')];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function optibench(args: readonly string[], cwd: string, cacheDir: string): CliResult {
  const result = spawnSync(process.execPath, [...CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir },
    timeout: 300_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same in the background, so the test can watch the database and kill it. */
export function optibenchChild(args: readonly string[], cwd: string, cacheDir: string) {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd, env: { ...process.env, OPTIBENCH_CACHE_DIR: cacheDir } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr };
}

/**
 * A generated LLaMA larger than the embedded tiny one, so a pass over real items lasts long enough to stop a run
 * half-way with some of it finished (the resume tests).
 */
export async function interruptibleModel(dir: string): Promise<string> {
  await generateLlama(dir, {
    shape: { hiddenSize: 256, intermediateSize: 688, numHeads: 4, numKeyValueHeads: 4, numLayers: 4, maxPositions: 1024, bpeMerges: 253 },
    seed: 3,
    corpus: await defaultCorpus(),
  });
  return dir;
}
