/** Reads a YAML or JSON file into plain data and tells the line of any key path in it, for error messages. */
import { LineCounter, isMap, isSeq, parseDocument } from 'yaml';

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
  const lineOf = (keyPath: readonly PropertyKey[]): number | undefined => {
    let node: unknown = doc.contents;
    let line: number | undefined;
    const note = (n: unknown) => {
      const range = (n as { range?: [number, number, number] } | null)?.range;
      if (range) line = counter.linePos(range[0]).line;
    };
    note(node);
    for (const key of keyPath) {
      if (isMap(node)) {
        const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
        if (!pair) break;
        note(pair.key);
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
        note(node);
      } else break;
    }
    return line;
  };
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    return { data: undefined, lineOf, syntaxError: { message: first.message.split('\n')[0]!, line: counter.linePos(first.pos[0]).line } };
  }
  return { data: doc.toJS() as unknown, lineOf };
}
