/**
 * Reads HellaSwag in either published form into lm-eval documents: the official `hellaswag_val.jsonl`
 * (preprocessed here exactly as lm-eval does) or the 6-line text form (already mostly preprocessed; see
 * preprocess.ts for what is repaired and what cannot be). `.bz2` files are decompressed transparently.
 */
import { readFile } from 'node:fs/promises';
import unbzip2 from 'unbzip2-stream';
import { OptibenchError } from '../../core/errors.js';
import type { MultipleChoiceDoc } from '../../core/task.js';
import { choiceFromTextForm, processItem, pyStrip, queryFromTextForm } from './preprocess.js';

export type HellaswagDoc = MultipleChoiceDoc;
export type DatasetFormat = 'jsonl' | 'text' | 'unlabeled';

/**
 * What a sandboxed submission gets instead of the dataset: the selected documents, already preprocessed,
 * without labels (`{"index", "query", "choices"}` per line). The name marks the format, so a labelled file
 * with a missing label is still refused.
 */
export const UNLABELED_SUFFIX = '.unlabeled.jsonl';
/**
 * Documents of an unlabeled copy still need a `gold` to flow through the runner; choice 0 stands in. Metrics
 * computed against it mean nothing: the organizer rescores the log-likelihoods with the real labels outside.
 */
export const UNLABELED_PLACEHOLDER_GOLD = 0;

/** HellaSwag always has four endings; anything else is a different dataset, so it is refused. */
export const ENDINGS = 4;
const TEXT_LINES_PER_ITEM = 2 + ENDINGS;

export async function loadHellaswag(file: string): Promise<HellaswagDoc[]> {
  const text = decodeUtf8(await readDatasetBytes(file), file);
  const format = detectFormat(file, text);
  const docs = format === 'unlabeled' ? parseUnlabeled(text, file) : format === 'jsonl' ? parseJsonl(text, file) : parseTextForm(text, file);
  if (docs.length === 0) throw new OptibenchError('no HellaSwag items in the file (it is empty)', { file });
  return docs;
}

/** The file's bytes, decompressed when it is bzip2 (by its `.bz2` name or its `BZh` magic). */
export async function readDatasetBytes(file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error));
    throw new OptibenchError(`cannot read the dataset file: ${why}`, { file }, { cause: error });
  }
  const magic = bytes.length >= 4 && bytes.toString('latin1', 0, 3) === 'BZh' && bytes[3]! >= 0x31 && bytes[3]! <= 0x39;
  return magic || file.toLowerCase().endsWith('.bz2') ? bunzip2(bytes, file) : bytes;
}

function bunzip2(compressed: Buffer, file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const stream = unbzip2();
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    // The stream can report an error and then still end: the first outcome wins.
    stream.on('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(new OptibenchError(`not a valid bzip2 file: ${error.message}`, { file }, { cause: error }));
    });
    stream.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks));
    });
    stream.end(compressed);
  });
}

export function decodeUtf8(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (error) {
    throw new OptibenchError('the dataset is not UTF-8 text', { file }, { cause: error });
  }
}

/** By name first (`.jsonl`, `.json`, `.txt`, each optionally `.bz2`), else `{` opening the first line. */
export function detectFormat(file: string, text: string): DatasetFormat {
  const name = file.toLowerCase().replace(/\.bz2$/, '');
  if (name.endsWith(UNLABELED_SUFFIX)) return 'unlabeled';
  if (name.endsWith('.jsonl') || name.endsWith('.json')) return 'jsonl';
  if (name.endsWith('.txt')) return 'text';
  return pyStrip(text).startsWith('{') ? 'jsonl' : 'text';
}

/** Lines without their terminator; a final newline does not start an extra line. */
function splitLines(text: string): string[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The official format: one JSON object per line; blank lines are skipped. */
export function parseJsonl(text: string, file: string): HellaswagDoc[] {
  const docs: HellaswagDoc[] = [];
  forEachJsonLine(text, file, (item, line) => docs.push(docFromItem(item, docs.length, file, line)));
  return docs;
}

/** Calls `visit` with each non-blank line parsed as JSON and its 1-based line number; bad JSON names the line. */
export function forEachJsonLine(text: string, file: string, visit: (item: unknown, line: number) => void): void {
  splitLines(text).forEach((raw, i) => {
    if (pyStrip(raw) === '') return;
    const line = i + 1;
    let item: unknown;
    try {
      item = JSON.parse(raw);
    } catch (error) {
      throw new OptibenchError(`invalid JSON: ${(error as Error).message}`, { file, line }, { cause: error });
    }
    visit(item, line);
  });
}

function docFromItem(item: unknown, index: number, file: string, line: number): HellaswagDoc {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new OptibenchError(`expected a JSON object (one HellaSwag item per line), got ${describe(item)}`, { file, line });
  }
  const record = item as Record<string, unknown>;
  const fail = (key: string, message: string): never => {
    throw new OptibenchError(message, { file, line, key });
  };
  const text = (key: string): string => {
    const value = record[key];
    if (value === undefined) return fail(key, `missing field "${key}" (a string)`);
    return typeof value === 'string' ? value : fail(key, `expected a string, got ${describe(value)}`);
  };
  // Fields lm-eval does not read are only type-checked, so HF exports with fewer fields still load.
  for (const key of ['ctx', 'source_id', 'split', 'split_type']) {
    if (record[key] !== undefined && typeof record[key] !== 'string') fail(key, `expected a string, got ${describe(record[key])}`);
  }
  if (record.ind !== undefined && !Number.isInteger(record.ind)) fail('ind', `expected an integer, got ${describe(record.ind)}`);

  const endings = record.endings;
  if (!Array.isArray(endings)) fail('endings', `expected a list of ${ENDINGS} strings, got ${describe(endings)}`);
  const list = endings as unknown[];
  if (list.length !== ENDINGS) fail('endings', `expected exactly ${ENDINGS} endings, got ${list.length}`);
  list.forEach((ending, i) => {
    if (typeof ending !== 'string') fail(`endings[${i}]`, `expected a string, got ${describe(ending)}`);
  });
  const { query, choices } = processItem({
    activity_label: text('activity_label'),
    ctx_a: text('ctx_a'),
    ctx_b: text('ctx_b'),
    endings: list as string[],
  });
  // An empty choice has no characters to normalize acc_norm by, and is no HellaSwag ending anyway.
  choices.forEach((choice, i) => {
    if (choice === '') fail(`endings[${i}]`, 'the ending is empty (after preprocessing)');
  });
  return { index, source: `${file}:${line}`, query, choices, gold: parseLabel(record.label, fail) };
}

/** lm-eval's `int(doc["label"])`: the official file has numbers, the Hugging Face copy strings. */
function parseLabel(label: unknown, fail: (key: string, message: string) => never): number {
  let gold: number;
  if (typeof label === 'number' && Number.isInteger(label)) gold = label;
  else if (typeof label === 'string' && /^\s*[+-]?\d+\s*$/.test(label)) gold = Number.parseInt(label, 10);
  else if (label === undefined) return fail('label', 'missing field "label" (the index of the correct ending, 0-3)');
  else return fail('label', `expected an integer 0-3 (or a string holding one), got ${describe(label)}`);
  if (gold < 0 || gold >= ENDINGS) fail('label', `expected an integer 0-3 (an index into the ${ENDINGS} endings), got ${gold}`);
  return gold;
}

/** One line of an unlabeled copy, from already preprocessed documents. */
export function unlabeledLine(doc: Pick<HellaswagDoc, 'index' | 'query' | 'choices'>): string {
  return JSON.stringify({ index: doc.index, query: doc.query, choices: doc.choices });
}

/** An unlabeled copy (see UNLABELED_SUFFIX): documents keep their dataset index; a label is refused. */
export function parseUnlabeled(text: string, file: string): HellaswagDoc[] {
  const docs: HellaswagDoc[] = [];
  forEachJsonLine(text, file, (item, line) => {
    const fail = (key: string, message: string): never => {
      throw new OptibenchError(message, { file, line, key });
    };
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return fail('(line)', `expected a JSON object, got ${describe(item)}`);
    const record = item as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!['index', 'query', 'choices'].includes(key)) fail(key, `unknown key in an unlabeled copy (expected index, query, choices)`);
    }
    const index = record.index;
    if (!Number.isSafeInteger(index) || (index as number) < 0) fail('index', `expected a non-negative integer, got ${describe(index)}`);
    if (typeof record.query !== 'string') fail('query', `expected a string, got ${describe(record.query)}`);
    const choices = record.choices;
    if (!Array.isArray(choices) || choices.length !== ENDINGS || !choices.every((c) => typeof c === 'string' && c !== '')) {
      fail('choices', `expected ${ENDINGS} non-empty strings, got ${describe(choices)}`);
    }
    docs.push({ index: index as number, source: `${file}:${line}`, query: record.query as string, choices: choices as string[], gold: UNLABELED_PLACEHOLDER_GOLD });
  });
  return docs;
}

/** The 6-line text form: `activity_label: ctx`, the gold label, then the four endings, per item. */
export function parseTextForm(text: string, file: string): HellaswagDoc[] {
  const lines = splitLines(text);
  if (lines.every((line) => pyStrip(line) === '')) return [];
  const complete = lines.length - (lines.length % TEXT_LINES_PER_ITEM);
  if (complete !== lines.length) {
    throw new OptibenchError(
      `truncated: the item starting here has ${lines.length - complete} of its ${TEXT_LINES_PER_ITEM} lines (context, gold label, ${ENDINGS} endings); the file has ${lines.length} lines, not a multiple of ${TEXT_LINES_PER_ITEM}`,
      { file, line: complete + 1 },
    );
  }
  const docs: HellaswagDoc[] = [];
  for (let start = 0; start < lines.length; start += TEXT_LINES_PER_ITEM) {
    const at = (offset: number): { text: string; line: number } => ({ text: lines[start + offset]!, line: start + offset + 1 });
    const context = at(0);
    if (pyStrip(context.text) === '') {
      throw new OptibenchError('expected "activity_label: context", got an empty line', { file, line: context.line });
    }
    const label = at(1);
    if (!/^[0-9]+$/.test(label.text) || Number(label.text) >= ENDINGS) {
      throw new OptibenchError(`expected the gold label, an integer 0-${ENDINGS - 1}, got ${JSON.stringify(label.text)}`, {
        file,
        line: label.line,
      });
    }
    const choices = Array.from({ length: ENDINGS }, (_, i) => {
      const ending = at(2 + i);
      const choice = choiceFromTextForm(ending.text);
      if (pyStrip(choice) === '') {
        throw new OptibenchError(`expected ending ${i + 1} of ${ENDINGS}, got an empty line`, { file, line: ending.line });
      }
      return choice;
    });
    docs.push({
      index: docs.length,
      source: `${file}:${context.line}`,
      query: queryFromTextForm(context.text),
      choices,
      gold: Number(label.text),
    });
  }
  return docs;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}
