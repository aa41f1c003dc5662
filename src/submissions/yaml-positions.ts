/** Reads a YAML or JSON file into plain data and tells the line of any key path in it, for error messages. */
import { LineCounter, parseDocument } from 'yaml';
import { lineOf as lineOfKeyPath } from '../core/yaml-lines.js';

export interface PositionedData {
  readonly data: unknown;
  /** Line (1-based) of the deepest existing node on the key path. */
  lineOf(keyPath: readonly PropertyKey[]): number | undefined;
  /** A syntax error, if the text does not parse. */
  readonly syntaxError?: { readonly message: string; readonly line: number };
}

export function parsePositioned(text: string): PositionedData {
  const counter = new LineCounter();
  // YAML 1.2 is a superset of JSON, so one parser gives both formats line positions.
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (keyPath: readonly PropertyKey[]): number | undefined => lineOfKeyPath(doc, counter, keyPath);
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    return { data: undefined, lineOf, syntaxError: { message: first.message.split('\n')[0]!, line: counter.linePos(first.pos[0]).line } };
  }
  return { data: doc.toJS() as unknown, lineOf };
}
