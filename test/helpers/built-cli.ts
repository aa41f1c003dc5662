/**
 * The built CLI (dist/) in a child process, as a user runs it: `npm test` builds dist/ first. Every call has a
 * timeout, so a regression that hangs (a spin on /proc) fails the test instead of stalling CI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './shared.js';

export const BUILT_CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function cliPath(): string {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` (npm test does it first)`);
  return BUILT_CLI;
}

/** `prefix`: a command the CLI runs under (e.g. `unshare -m sh -c ...`); node and the CLI's arguments are appended to it. */
export function runBuiltCli(args: readonly string[], options: { cwd: string; cacheDir: string; timeoutMs?: number; prefix?: readonly string[] }): CliOutcome {
  const [command, ...rest] = options.prefix ?? [process.execPath];
  const result = spawnSync(command!, [...rest, ...(options.prefix ? [process.execPath] : []), cliPath(), ...args], {
    cwd: options.cwd,
    encoding: 'utf8',
    env: { ...process.env, OPTIBENCH_CACHE_DIR: options.cacheDir },
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
  });
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** The same in the background, so a test can watch it and send it a signal. */
export function startBuiltCli(args: readonly string[], options: { cwd: string; cacheDir: string }) {
  const child = spawn(process.execPath, [cliPath(), ...args], { cwd: options.cwd, env: { ...process.env, OPTIBENCH_CACHE_DIR: options.cacheDir } });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, exited, stderr: () => stderr, stdout: () => stdout };
}
