/**
 * Reading and writing result files, for any evaluator. A complete run writes `results.json`; a run that failed
 * part-way writes `results.incomplete.json` (status `incomplete`), so nothing half-done is ever mistaken for a
 * finished run, and nothing already computed is lost. Writes are atomic (temp file + rename).
 *
 * Reading is in two steps: `readResultJson` checks the file is an optibench results file and says which
 * version and evaluator wrote it; the evaluator then parses (and, for older versions, upgrades) its payload.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { writeFileAtomic } from './atomic-file.js';
import { OptibenchError } from './errors.js';
import { RESULT_SCHEMA_ID, resultFileName, type Result } from './result.js';

/** InferenceResult of the full HellaSwag set are ~30 MB; anything far beyond that is not a results file. */
export const MAX_RESULT_BYTES = 512 * 1024 * 1024;

export async function writeResultFile(result: Result<unknown, { totalMs: number }>, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, resultFileName(result)), `${JSON.stringify(result, null, 1)}\n`);
}

export interface ResultJson {
  readonly json: unknown;
  readonly version: unknown;
  /** The evaluator's id; null for version 1, which only the inference challenge wrote. */
  readonly evaluator: string | null;
}

/**
 * Reads a file that may have come from anywhere (a team's sandbox too): a regular file only (not a FIFO, a
 * device or a directory), at most `maxBytes`, read through one open handle so what is checked is what is read.
 */
export async function readCappedText(
  file: string,
  options: { maxBytes?: number; what?: string; followLinks?: boolean; /** The message when the file is not there. */ missing?: string } = {},
): Promise<string> {
  const { maxBytes = MAX_RESULT_BYTES, what = 'results file', followLinks = true } = options;
  let handle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever (it is refused below).
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | (followLinks ? 0 : constants.O_NOFOLLOW));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OptibenchError(options.missing ?? `${what} does not exist`, { file });
    if (code === 'ELOOP') throw new OptibenchError(`the ${what} is a symbolic link, which is not followed`, { file });
    throw new OptibenchError(`cannot read the ${what}: ${code ?? (error as Error).message}`, { file });
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new OptibenchError(`the ${what} is not a regular file`, { file });
    if (stat.size > maxBytes) throw new OptibenchError(`the ${what} is ${stat.size} bytes, more than the ${maxBytes} allowed`, { file });
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

export async function readResultJson(file: string): Promise<ResultJson> {
  let json: unknown;
  const text = await readCappedText(file);
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OptibenchError(`not a valid results file: ${(error as Error).message}`, { file });
  }
  const header = json as { schema?: unknown; version?: unknown; evaluator?: { id?: unknown } } | null;
  if (header === null || typeof header !== 'object' || header.schema !== RESULT_SCHEMA_ID) {
    throw new OptibenchError(`not an optibench results file (expected "schema": "${RESULT_SCHEMA_ID}")`, { file });
  }
  return { json, version: header.version, evaluator: typeof header.evaluator?.id === 'string' ? header.evaluator.id : null };
}

/** Parses with `schema`, naming the first problem's key and the file. */
export function parseResult<T>(schema: z.ZodType<T>, json: unknown, file: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(issue.message, { file, key: issue.path.join('.') });
  }
  return parsed.data;
}
