/**
 * The CLI's small manners, through the built command as a user meets them: a closed stdout, the help texts,
 * flags that mean the same on every verb.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const CLI = path.join(REPO_ROOT, 'dist/src/cli/main.js');

function optibench(args: string[]) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it first)`);
});

describe('a reader that closes stdout early', () => {
  it('ends the command quietly with 141, as SIGPIPE would, not with an EPIPE stack trace', async () => {
    // Closing our end before the child writes makes its first write fail with EPIPE every time, where
    // `| head -3` only does when the text outgrows the pipe's buffer.
    const child = spawn(process.execPath, [CLI, 'help', 'run'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });
});
