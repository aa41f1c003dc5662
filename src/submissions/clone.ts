/** A fresh checkout of a submission's repository at exactly the manifest's commit. */
import { execFile } from 'node:child_process';
import { OptibenchError } from '../core/errors.js';

function git(args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // No prompt for credentials, no hooks from the user's config: nothing may wait on a terminal.
    execFile('git', ['-c', 'core.hooksPath=/dev/null', '-c', 'protocol.file.allow=always', ...args], { cwd, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(stderr.trim().split('\n').at(-1) || error.message));
      else resolve(stdout.trim());
    });
  });
}

export async function cloneAtCommit(url: string, commit: string, dest: string): Promise<void> {
  try {
    await git(['clone', '--quiet', '--no-checkout', url, dest]);
    await git(['checkout', '--quiet', '--detach', commit], dest);
  } catch (error) {
    throw new OptibenchError(`cannot check out commit ${commit} of ${url}: ${(error as Error).message}`);
  }
  const head = await git(['rev-parse', 'HEAD'], dest);
  if (head !== commit) throw new OptibenchError(`checked out ${head}, expected ${commit}`, { file: url });
}
