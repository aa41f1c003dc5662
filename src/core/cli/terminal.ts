/** Terminal plumbing the commands share: paths for humans, Ctrl-C, progress lines. */
import path from 'node:path';
import { EXIT } from './exit-codes.js';

/**
 * A reader that stops early (`| head`) closes our stdout: Node turns the next write into an unhandled EPIPE
 * error with a stack trace, where a shell tool would end quietly on SIGPIPE. End as that tool would.
 */
export function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(EXIT.stdoutClosed);
    throw error;
  });
}

/**
 * Runs `fn` with Ctrl-C stopping the current run after its batch (what it finished is saved, exit 3);
 * a second Ctrl-C quits at once.
 */
export async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\noptibench: stopping after the current batch (Ctrl-C again to quit at once)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Relative to the current directory when inside it, absolute otherwise. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}
