/**
 * What a solution leaves in its work dir is read as untrusted input: a link is not followed, a FIFO or a folder
 * is refused without blocking, and nothing over the cap is read.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { outputCap } from '../../src/evaluators/compression/protocols/call.js';
import { readCappedBytes } from '../../src/evaluators/compression/protocols/output.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-compression-output-'));
});

describe('reading a solution output', () => {
  it('reads a regular file within the cap', async () => {
    await writeFile(path.join(dir, 'ok.bin'), Buffer.from([1, 2, 3]));
    expect([...(await readCappedBytes(path.join(dir, 'ok.bin'), 3, 'output'))]).toEqual([1, 2, 3]);
  });

  it('refuses a file one byte over the cap', async () => {
    await expect(readCappedBytes(path.join(dir, 'ok.bin'), 2, 'output')).rejects.toThrow('the output is 3 bytes, more than the 2 allowed');
  });

  it('does not follow a link to a host file', async () => {
    await symlink('/etc/passwd', path.join(dir, 'link.bin'));
    await expect(readCappedBytes(path.join(dir, 'link.bin'), 1 << 20, 'output')).rejects.toThrow('the output is a symbolic link, which is not followed');
  });

  it('refuses a FIFO and a folder without waiting on them', async () => {
    execFileSync('mkfifo', [path.join(dir, 'fifo.bin')]);
    await expect(readCappedBytes(path.join(dir, 'fifo.bin'), 1 << 20, 'output')).rejects.toThrow('the output is not a regular file');
    await mkdir(path.join(dir, 'folder.bin'));
    await expect(readCappedBytes(path.join(dir, 'folder.bin'), 1 << 20, 'output')).rejects.toThrow('the output is not a regular file');
  });

  it('says when there is none', async () => {
    await expect(readCappedBytes(path.join(dir, 'missing.bin'), 1, 'compress output')).rejects.toThrow('the solution wrote no compress output');
  });

  it('caps compressed output at 4x the original plus 1 MiB', () => {
    // 4 * 1000 + 1,048,576 = 1,052,576
    expect(outputCap(1000)).toBe(1_052_576);
  });
});
