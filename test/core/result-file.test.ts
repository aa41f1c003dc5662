/**
 * Reading files that may come from a team's sandbox: a regular file only, no FIFO waited on, links not followed
 * when asked, a size cap, and a version 1 or 2 results file recognised by its header.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptibenchError } from '../../src/core/errors.js';
import { readCappedText, readResultJson } from '../../src/core/result-file.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'optibench-result-file-'));
});

const message = async (promise: Promise<unknown>) => {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(OptibenchError);
  return (error as OptibenchError).oneLine();
};

describe('readCappedText', () => {
  it('reads a regular file, and follows a link unless told not to', async () => {
    const file = path.join(dir, 'plain.json');
    await writeFile(file, '{"a":1}');
    await symlink(file, path.join(dir, 'link.json'));
    expect(await readCappedText(file)).toBe('{"a":1}');
    expect(await readCappedText(path.join(dir, 'link.json'))).toBe('{"a":1}');
    expect(await message(readCappedText(path.join(dir, 'link.json'), { followLinks: false, what: "team's file" }))).toBe(
      `${path.join(dir, 'link.json')}: the team's file is a symbolic link, which is not followed`,
    );
  });

  it('refuses a FIFO at once instead of waiting for a writer', async () => {
    const fifo = path.join(dir, 'pipe.json');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(await message(readCappedText(fifo))).toBe(`${fifo}: the results file is not a regular file`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a directory, a file over the cap (a sparse one: nothing is read) and a missing file', async () => {
    await mkdir(path.join(dir, 'folder'));
    expect(await message(readCappedText(path.join(dir, 'folder')))).toBe(`${path.join(dir, 'folder')}: the results file is not a regular file`);
    const big = path.join(dir, 'big.json');
    await writeFile(big, '');
    await truncate(big, 2 ** 30);
    expect(await message(readCappedText(big, { maxBytes: 2 ** 20 }))).toBe(`${big}: the results file is 1073741824 bytes, more than the 1048576 allowed`);
    expect(await message(readCappedText(path.join(dir, 'none.json'), { missing: 'nothing was written' }))).toBe(`${path.join(dir, 'none.json')}: nothing was written`);
  });
});

describe('readResultJson', () => {
  it('names the version and the evaluator of a results file, and refuses anything else', async () => {
    const v2 = path.join(dir, 'v2.json');
    await writeFile(v2, JSON.stringify({ schema: 'optibench/results', version: 2, evaluator: { id: 'toy', version: '1' } }));
    expect(await readResultJson(v2)).toMatchObject({ version: 2, evaluator: 'toy' });
    const v1 = path.join(dir, 'v1.json');
    await writeFile(v1, JSON.stringify({ schema: 'optibench/results', version: 1 }));
    expect(await readResultJson(v1)).toMatchObject({ version: 1, evaluator: null });
    const other = path.join(dir, 'other.json');
    await writeFile(other, JSON.stringify({ schema: 'optibench/bench', version: 1 }));
    expect(await message(readResultJson(other))).toBe(`${other}: not an optibench results file (expected "schema": "optibench/results")`);
    await writeFile(other, '{not json');
    expect(await message(readResultJson(other))).toMatch(/: not a valid results file: /);
  });
});
