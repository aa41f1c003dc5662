/** Lines of key paths in a parsed YAML (or JSON) document, so errors can say `file:line: key`. */
import { isMap, isSeq, type Document, type LineCounter } from 'yaml';

/** Where a key path sits in the file, for error messages: the deepest existing node's line. */
export function lineOf(doc: Document, counter: LineCounter, keyPath: readonly PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  const record = (n: unknown) => {
    const range = (n as { range?: [number, number, number] } | null)?.range;
    if (range) line = counter.linePos(range[0]).line;
  };
  record(node);
  for (const key of keyPath) {
    if (isMap(node)) {
      const pair = node.items.find((item) => (item.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      record(pair.key);
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      record(node);
    } else {
      break;
    }
  }
  return line;
}
