/**
 * A solution folder's `optibench-solution.yaml` (PROTOCOL.md, "Solutions"): which protocol it speaks and the
 * command that runs it. A team's file, so read as untrusted: a regular file, not a link, small; every field
 * checked, errors naming the file, the line and the key.
 */
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../../core/config-file.js';
import { OptibenchError } from '../../core/errors.js';

export const SOLUTION_FILE = 'optibench-solution.yaml';
const MAX_MANIFEST_BYTES = 64 * 1024;

export const solutionManifestSchema = z.strictObject({
  schema: z.literal('optibench/compression-solution'),
  version: z.literal(1),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a short name: letters, digits, dot, dash, underscore'),
  protocol: z.enum(['cli', 'http']),
  /** argv, run from the folder; the protocol's arguments are added after it. */
  command: z.array(z.string().min(1).refine((s) => !s.includes('\0'), 'no NUL bytes')).min(1),
});

export type SolutionManifest = z.infer<typeof solutionManifestSchema>;

export interface Solution {
  /** The folder, absolute: mounted read-only in every sandbox, and the command's working directory. */
  readonly root: string;
  readonly manifest: SolutionManifest;
}

export async function readSolution(folder: string): Promise<Solution> {
  const root = path.resolve(folder);
  const stat = await lstat(root).catch(() => null);
  if (!stat?.isDirectory()) throw new OptibenchError(`a compression solution is a folder with ${SOLUTION_FILE} at its root`, { file: root });
  const file = path.join(root, SOLUTION_FILE);
  const fileStat = await lstat(file).catch(() => null);
  if (!fileStat) throw new OptibenchError(`the solution has no ${SOLUTION_FILE} (see src/evaluators/compression/PROTOCOL.md)`, { file });
  if (!fileStat.isFile()) throw new OptibenchError(`${SOLUTION_FILE} must be a regular file (a link is not followed)`, { file });
  if (fileStat.size > MAX_MANIFEST_BYTES) throw new OptibenchError(`${SOLUTION_FILE} is ${fileStat.size} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`, { file });
  return { root, manifest: await loadConfigFile(solutionManifestSchema, file) };
}
