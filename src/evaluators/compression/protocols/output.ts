/**
 * Reading what a solution wrote, as untrusted input, by the rules of `core/result-file.ts`'s `readCappedText`:
 * not through a link (O_NOFOLLOW), a regular file only (never a FIFO or a device), at most `maxBytes`, read
 * through the one handle that was checked.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/** Why an output is refused, in a sentence for the report; the call then scores 0. */
export class OutputRefused extends Error {}

export async function readCappedBytes(file: string, maxBytes: number, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OutputRefused(`the solution wrote no ${what}`);
    if (code === 'ELOOP') throw new OutputRefused(`the ${what} is a symbolic link, which is not followed`);
    throw new OutputRefused(`cannot read the ${what}: ${code ?? (error as Error).message}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new OutputRefused(`the ${what} is not a regular file`);
    if (stat.size > maxBytes) throw new OutputRefused(`the ${what} is ${stat.size} bytes, more than the ${maxBytes} allowed`);
    // Read at most maxBytes + 1 even if the file grows after the stat: what is checked is what is used.
    const buffer = Buffer.alloc(Math.min(maxBytes + 1, stat.size + 1));
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length === buffer.length) break;
    }
    if (length > maxBytes) throw new OutputRefused(`the ${what} grew beyond the ${maxBytes} bytes allowed`);
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
