/**
 * Reading an evaluator's config file: YAML or JSON (YAML 1.2 is a superset of JSON, so one parser gives both
 * formats line positions), validated with the evaluator's schema, every error naming the file, the line, the
 * key and what was expected.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { OptibenchError } from './errors.js';
import { recordPluginOrigin } from './plugin-entry.js';
import { didYouMean } from './suggest.js';
import { lineOf } from './yaml-lines.js';

export type LineLookup = (keyPath: readonly PropertyKey[]) => number | undefined;

export function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

export function keyName(keyPath: readonly PropertyKey[]): string {
  return keyPath.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('') || '(top level)';
}

/** The definition fields of the zod schemas a config is made of that say what a value nests. */
interface SchemaDef {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  options?: readonly z.ZodType[];
  in?: z.ZodType;
  valueType?: z.ZodType;
}

/** The keys a schema accepts at `keyPath` (through defaults, nullables, lists and unions): what a typo is compared with. */
export function keysAt(schema: z.ZodType, keyPath: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  const walk = (node: z.ZodType | undefined, rest: readonly PropertyKey[]): void => {
    const def = (node as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
    if (!def) return;
    if (def.innerType) return walk(def.innerType, rest);
    if (def.type === 'pipe') return walk(def.in, rest);
    if (def.type === 'union') return def.options?.forEach((option) => walk(option, rest));
    if (def.type === 'array') return typeof rest[0] === 'number' ? walk(def.element, rest.slice(1)) : undefined;
    if (def.type === 'record') return rest.length > 0 ? walk(def.valueType, rest.slice(1)) : undefined;
    if (def.type !== 'object' || !def.shape) return;
    if (rest.length === 0) Object.keys(def.shape).forEach((key) => keys.add(key));
    else if (typeof rest[0] === 'string') walk(def.shape[rest[0]], rest.slice(1));
  };
  walk(schema, keyPath);
  return [...keys];
}

/**
 * The error for a config's first schema issue. An unknown key is named at its own line (zod reports it on
 * the mapping that holds it) with the nearest known key of that mapping as a suggestion.
 */
export function configIssueError(schema: z.ZodType, issue: z.core.$ZodIssue, file: string | undefined, lineFor: LineLookup): OptibenchError {
  if (issue.code === 'unrecognized_keys') {
    const [first, ...others] = issue.keys;
    const keyPath = [...issue.path, first!];
    const also = others.length > 0 ? `; also unknown: ${others.map((k) => `"${k}"`).join(', ')}` : '';
    return new OptibenchError(`unknown key${didYouMean(first!, keysAt(schema, issue.path))}${also}`, { file, line: lineFor(keyPath), key: keyName(keyPath) });
  }
  return new OptibenchError(describeIssue(issue), { file, line: lineFor(issue.path), key: keyName(issue.path) });
}

/**
 * How many times one alias may expand its anchor's content when the document becomes plain data. A config
 * needs a handful; nested aliases ("billion laughs") grow exponentially and would exhaust memory, so the
 * yaml package stops past this count, and we say so instead of failing with its stack trace.
 */
const MAX_ALIAS_EXPANSIONS = 100;

function toPlainData(doc: Document, counter: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS });
  } catch (error) {
    if (!(error instanceof ReferenceError) || !/alias count/i.test(error.message)) throw error;
    let firstAlias: number | undefined;
    visit(doc, {
      Alias(_, node) {
        firstAlias = node.range?.[0];
        return visit.BREAK;
      },
    });
    throw new OptibenchError(
      `its YAML aliases expand to more than ${MAX_ALIAS_EXPANSIONS} copies of an anchor (an alias bomb, "billion laughs"): refused before it exhausts memory; the first alias is on this line`,
      { file, line: firstAlias === undefined ? undefined : counter.linePos(firstAlias).line },
    );
  }
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
  const data = toPlainData(doc, counter, file);
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
  if (!parsed.success) throw configIssueError(schema, parsed.error.issues[0]!, file, lineFor);
  // An evaluator's plugin list is its `plugins` key: its entries keep their lines for the plugin loader's errors.
  const plugins = (parsed.data as { plugins?: unknown } | null)?.plugins;
  if (file && Array.isArray(plugins)) recordPluginOrigin(plugins, file, (keyPath) => lineFor(['plugins', ...keyPath]));
  return parsed.data;
}
