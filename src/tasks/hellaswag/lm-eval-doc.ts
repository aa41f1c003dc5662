/**
 * Each document as lm-evaluation-harness holds it after `process_docs`: the Hugging Face row of
 * Rowan/hellaswag (its columns in the dataset's order, `label` a string as HF stores it) with `query`,
 * `choices` and `gold` appended. lm-eval writes that object into its samples file and hashes it (`doc_hash`),
 * so the same item gives the same hash here as in lm-eval only when every column is there: the official
 * hellaswag_val.jsonl has them all. The 6-line text form has none of the raw columns; its documents are
 * `label`, `query`, `choices`, `gold` (what lm-eval reads), and their hashes are of that smaller object.
 */
import { OptibenchError } from '../../core/errors.js';
import { decodeUtf8, detectFormat, forEachJsonLine, parseJsonl, parseTextForm, readDatasetBytes } from './load.js';
import type { HellaswagDoc } from './load.js';

/** A document as lm-eval's samples file shows it; only strings, integers and lists of strings. */
export type LmEvalDoc = Record<string, string | number | string[]>;

/** Rowan/hellaswag's columns, in the order `datasets` gives them. */
export const HF_HELLASWAG_COLUMNS = ['ind', 'activity_label', 'ctx_a', 'ctx_b', 'ctx', 'endings', 'source_id', 'split', 'split_type', 'label'] as const;

export interface LmEvalDocs {
  /** The documents as optibench scores them (query, choices, gold), in file order. */
  readonly docs: HellaswagDoc[];
  /** The same documents as lm-eval shows them, index for index. */
  readonly lmEvalDocs: LmEvalDoc[];
  /** True when the documents hold every Hugging Face column, so their hashes are lm-eval's. */
  readonly complete: boolean;
}

export async function loadLmEvalDocs(file: string): Promise<LmEvalDocs> {
  const text = decodeUtf8(await readDatasetBytes(file), file);
  const format = detectFormat(file, text);
  if (format === 'unlabeled') {
    throw new OptibenchError('an unlabeled copy has no labels, so it has no lm-eval documents (target, acc): use the labelled dataset', { file });
  }
  if (format === 'text') {
    const docs = parseTextForm(text, file);
    return { docs, lmEvalDocs: docs.map((doc) => ({ label: String(doc.gold), ...processed(doc) })), complete: false };
  }
  const docs = parseJsonl(text, file);
  const rows: Record<string, unknown>[] = [];
  forEachJsonLine(text, file, (item) => rows.push(item as Record<string, unknown>));
  let complete = true;
  const lmEvalDocs = docs.map((doc, i) => {
    const row = rows[i]!;
    const out: LmEvalDoc = {};
    for (const column of HF_HELLASWAG_COLUMNS) {
      const value = row[column];
      if (value === undefined) {
        complete = false;
        continue;
      }
      // The loader has checked the types; HF keeps the label as a string ("3"), the official file as a number.
      out[column] = column === 'label' ? String(value as string | number) : (value as string | number | string[]);
    }
    return { ...out, ...processed(doc) };
  });
  return { docs, lmEvalDocs, complete };
}

function processed(doc: HellaswagDoc): LmEvalDoc {
  return { query: doc.query, choices: [...doc.choices], gold: doc.gold };
}
