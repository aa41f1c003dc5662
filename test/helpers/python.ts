/**
 * Runs the independent Python references (Debian's python3 with torch, numpy, sentencepiece). Tests that
 * use them fail loudly when they are missing: run test/setup/install-system-deps.sh.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian's interpreter: a pyenv or venv python3 earlier on PATH usually lacks the Debian packages. */
export const PYTHON = process.env.OPTIBENCH_TEST_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

export function runPython(args: readonly string[], input?: string): string {
  const result = spawnSync(PYTHON, args, { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (result.error) throw new Error(`cannot run ${PYTHON}: ${result.error.message} (run test/setup/install-system-deps.sh)`);
  if (result.status !== 0) {
    throw new Error(`${PYTHON} ${args.join(' ')} exited ${result.status}:\n${result.stderr}\n(run test/setup/install-system-deps.sh if a module is missing)`);
  }
  return result.stdout;
}

/** Evaluates a Python snippet that prints JSON, and parses it. */
export function pythonJson<T>(code: string): T {
  return JSON.parse(runPython(['-c', code])) as T;
}
