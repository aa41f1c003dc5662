/**
 * Reading an evaluator's config file: YAML or JSON (YAML 1.2 is a superset of JSON, so one parser gives both
 * formats line positions), validated with the evaluator's schema, every error naming the file, the line, the
 * key and what was expected.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { OptibenchError } from './errors.js';
import { lineOf } from './yaml-lines.js';

export type LineLookup = (keyPath: readonly PropertyKey[]) => number | undefined;

export function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

export function keyName(keyPath: readonly PropertyKey[]): string {
  return keyPath.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') || '(top level)';
}

/** Reads a config file into a plain object, with a line lookup for error messages. */
export async function readConfigFile(file: string): Promise<{ data: Record<string, unknown>; lineFor: LineLookup }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new OptibenchError(code === 'ENOENT' ? 'config file does not exist' : `cannot read config file: ${(error as Error).message}`, { file });
  }
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    throw new OptibenchError(`not valid YAML or JSON: ${first.message.split('\n')[0]}`, { file, line: counter.linePos(first.pos[0]).line });
  }
  const data = doc.toJS() as unknown;
  if (data === null || data === undefined) return { data: {}, lineFor: () => undefined };
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new OptibenchError('expected a mapping of settings at the top level', { file, line: 1 });
  }
  return { data: data as Record<string, unknown>, lineFor: (keyPath) => lineOf(doc, counter, keyPath) };
}

/** Reads `file` (or nothing: the defaults) and validates it with `schema`; the first problem names its line and key. */
export async function loadConfigFile<Schema extends z.ZodType>(schema: Schema, file: string | undefined): Promise<z.infer<Schema>> {
  const { data, lineFor } = file ? await readConfigFile(file) : { data: {}, lineFor: (() => undefined) as LineLookup };
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(describeIssue(issue), { file, line: lineFor(issue.path), key: keyName(issue.path) });
  }
  return parsed.data;
}
