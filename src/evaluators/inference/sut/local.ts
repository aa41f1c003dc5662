/**
 * A SUT started on this machine without a sandbox: a team's own program on its own laptop (`optibench sut
 * check`), or the organizer's `optibench serve` in a benchmark. Never a team's code on the organizer's side:
 * re-runs start SUTs in the sandbox.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { SutChannel } from './client.js';
import { packageRoot } from '../../../core/paths.js';

export interface LocalSut extends SutChannel {
  /** Ends the SUT and every process it started. */
  stop(): void;
  /** Its stderr, last 64 KiB. */
  stderrTail(): string;
}

export function startLocalSut(command: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; echoStderr?: boolean } = {}): LocalSut {
  const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin.on('error', () => {});
  let tail = '';
  child.stderr.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-64 * 1024);
    if (options.echoStderr) process.stderr.write(chunk);
  });
  const ended = new Promise<string>((resolve) => {
    child.on('error', (error) => resolve(`it could not start: ${error.message}`));
    child.on('close', (code, signal) => resolve(signal ? `it was killed by ${signal}` : `it exited with code ${code}${lastLine(tail)}`));
  });
  return {
    stdin: child.stdin,
    stdout: child.stdout,
    ended,
    stop: () => {
      try {
        if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    },
    stderrTail: () => tail,
  };
}

function lastLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).filter(Boolean).at(-1);
  return line ? ` ("${line.slice(0, 300)}")` : '';
}

/** The command that runs `optibench serve` on a config: compiled, or (run from source, as in tests) through tsx. */
export function serveCommand(configFile: string | undefined, extra: readonly string[] = []): string[] {
  const here = fileURLToPath(import.meta.url);
  const args = [...(configFile ? [configFile] : []), ...extra];
  if (here.endsWith('.ts')) return [process.execPath, '--import', import.meta.resolve('tsx'), path.join(path.dirname(here), 'serve-entry.ts'), ...args];
  return [process.execPath, path.join(path.dirname(here), 'serve-entry.js'), ...args];
}

/** The organizer's optibench as a sandbox running `optibench serve` sees it: code and dependencies, never datasets or reports. */
export function optibenchMounts(): string[] {
  const root = packageRoot();
  return ['package.json', 'tsconfig.json', 'node_modules', 'dist', 'src', 'plugins'].map((p) => path.join(root, p)).filter((p) => existsSync(p));
}
