/**
 * What each pass asks. A measured pass holds every planned request once, the documents in a new order, each
 * document's endings in a new order, under ids and groups that mean nothing outside the pass: a SUT cannot
 * key answers by position, id or ending order. The warm-up holds random tokens with the shapes of real
 * requests (the longest among them), so nothing it sees comes back in a measured pass.
 */
import type { TokenRequest } from '../../../core/backend.js';
import { encodeHarnessMessage, type WireRequest } from './protocol.js';

/** The planned requests by document, the way `plan.ts` lays them out. */
export interface PassSource {
  readonly requests: readonly TokenRequest[];
  readonly requestsByDoc: readonly (readonly number[])[];
}

export interface BuiltPass {
  /** The pass as one protocol line, built before its clock starts. */
  readonly line: Buffer;
  readonly count: number;
  /** The plan's request id behind each of the pass's ids (empty for the warm-up). */
  readonly planIdOf: Int32Array;
}

function shuffled(n: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

export function measuredPass(source: PassSource, pass: number, random: () => number): BuiltPass {
  const requests: WireRequest[] = [];
  const planIdOf = new Int32Array(source.requests.length);
  shuffled(source.requestsByDoc.length, random).forEach((doc, group) => {
    const ids = source.requestsByDoc[doc]!;
    for (const k of shuffled(ids.length, random)) {
      const planned = source.requests[ids[k]!]!;
      planIdOf[requests.length] = planned.id;
      requests.push({ id: requests.length, group, context: planned.context, continuation: planned.continuation });
    }
  });
  return { line: encodeHarnessMessage({ op: 'pass', pass, phase: 'measured', requests }), count: requests.length, planIdOf };
}

/**
 * `items` documents' worth of requests of random tokens in [0, vocabSize), with the context and continuation
 * lengths of real documents (a shared random context per document, as real ones share theirs): the longest
 * documents first, so the largest shapes a pass will need (and the memory they take) are met before pass 1,
 * then randomly chosen ones.
 */
export function warmupPass(source: PassSource, items: number, vocabSize: number, random: () => number): BuiltPass {
  const token = () => Math.floor(random() * vocabSize);
  const requests: WireRequest[] = [];
  const docs = source.requestsByDoc.length;
  const length = (doc: number) => source.requestsByDoc[doc]!.reduce((sum, id) => sum + source.requests[id]!.context.length + source.requests[id]!.continuation.length, 0);
  const longest = [...Array(docs).keys()].sort((a, b) => length(b) - length(a)).slice(0, Math.ceil(items / 4));
  for (let group = 0; group < Math.min(items, docs); group++) {
    const ids = source.requestsByDoc[group < longest.length ? longest[group]! : Math.floor(random() * docs)]!;
    const context = Array.from({ length: source.requests[ids[0]!]!.context.length }, token);
    for (const id of ids) {
      const continuation = Array.from({ length: source.requests[id]!.continuation.length }, token);
      requests.push({ id: requests.length, group, context, continuation });
    }
  }
  return { line: encodeHarnessMessage({ op: 'pass', pass: 0, phase: 'warmup', requests }), count: requests.length, planIdOf: new Int32Array(0) };
}
