/**
 * Reading and writing results files. A complete run writes `results.json`; a run that failed part-way
 * writes `results.incomplete.json` (status `incomplete`), so nothing half-done is ever mistaken for a
 * finished run, and nothing already computed is lost. Writes are atomic (temp file + rename).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-file.js';
import { OptibenchError } from '../../core/errors.js';
import { RESULTS_SCHEMA_ID, RESULTS_VERSION, resultsSchema, type Results } from './results.js';

export function resultsFileName(results: Results): string {
  return results.status === 'complete' ? 'results.json' : 'results.incomplete.json';
}

export async function writeResultsFile(results: Results, dir: string): Promise<string> {
  return writeFileAtomic(path.join(dir, resultsFileName(results)), `${JSON.stringify(results, null, 1)}\n`);
}

export async function readResultsFile(file: string): Promise<Results> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OptibenchError('results file does not exist', { file });
    throw new OptibenchError(`not a valid results file: ${(error as Error).message}`, { file });
  }
  const header = json as { schema?: unknown; version?: unknown } | null;
  if (header?.schema !== RESULTS_SCHEMA_ID) {
    throw new OptibenchError(`not an optibench results file (expected "schema": "${RESULTS_SCHEMA_ID}")`, { file });
  }
  if (header.version !== RESULTS_VERSION) {
    throw new OptibenchError(`results version ${String(header.version)} is not supported by this optibench (reads version ${RESULTS_VERSION})`, { file });
  }
  const parsed = resultsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(issue.message, { file, key: issue.path.join('.') });
  }
  return parsed.data;
}
