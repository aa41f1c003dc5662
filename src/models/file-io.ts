/**
 * Positioned reads and writes of any length. Node refuses a single read or write over 2^31 - 1 bytes (a read
 * that long aborts the whole process on Node 20), and one weight tensor or external-data append can be
 * larger than that, so every call is split into pieces of at most 1 GiB.
 */
import type { FileHandle } from 'node:fs/promises';

/** The largest piece handed to one read or write call; well under Node's 2^31 - 1 limit. */
export const MAX_IO_CHUNK = 2 ** 30;

/** Reads `length` bytes at `position` into `buffer` from `offset`; returns how many were read before end of file. */
export async function readFully(handle: FileHandle, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const piece = Math.min(MAX_IO_CHUNK, length - done);
    const { bytesRead } = await handle.read(buffer, offset + done, piece, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `bytes` at `position`. */
export async function writeFully(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const piece = Math.min(MAX_IO_CHUNK, bytes.byteLength - done);
    const { bytesWritten } = await handle.write(bytes, done, piece, position + done);
    done += bytesWritten;
  }
}
