/**
 * Turning token requests into the LLaMA graph's input tensors, right-padded, in two ways:
 *
 * - pairwise: each request alone, as lm-evaluation-harness runs it (the whole sequence but its last token,
 *   scoring the continuation positions);
 * - shared prefix: the requests of one document share their context, and the endings' common leading tokens
 *   with it. A first pass runs each document's shared prefix once and keeps its keys and values; a second
 *   pass runs each ending's remaining tokens on that cache. The log-probabilities are the same sums; only
 *   the work is shared.
 *
 * Everything here is pure arithmetic on arrays, so it is tested without a model.
 */
import type { TokenRequest } from '../../core/backend.js';

/** One pass of the graph: [rows, seq] inputs, [rows, total] mask, [rows, scored] positions and targets. */
export interface Pass {
  readonly rows: number;
  readonly seq: number;
  /** past + seq: the attention mask's width. */
  readonly total: number;
  readonly scored: number;
  readonly inputIds: BigInt64Array;
  readonly positionIds: BigInt64Array;
  /** [rows, total]: key slots in position order, real ones first (see keyOrder). */
  readonly attentionMask: BigInt64Array;
  /**
   * [rows, total]: which slot of concat(past, current) each key slot takes, so a row's keys sit in position
   * order from slot 0 whatever the past's padded width: its attention then adds the same numbers in the same
   * order as when the row runs alone, and answers do not depend on the batch.
   */
  readonly keyOrder: BigInt64Array;
  readonly scorePositions: BigInt64Array;
  readonly targetIds: BigInt64Array;
  /** For each row, how many of its scored slots are real. */
  readonly scoredPerRow: readonly number[];
  /** Real (unpadded) positions computed in this pass. */
  readonly positions: number;
}

interface Row {
  /** Tokens fed at this pass (the current segment). */
  tokens: readonly number[];
  /** Real past positions this row continues (0 without a cache). */
  past: number;
  /** Positions (0-based, within `tokens`) whose next token is scored, with that token. */
  scoredAt: readonly number[];
  targets: readonly number[];
}

function packRows(rows: readonly Row[], pastWidth: number): Pass {
  const seq = Math.max(0, ...rows.map((r) => r.tokens.length));
  // At least one scored slot (a padding one, ignored), because ONNX Runtime's ArgMax fails on an empty axis.
  const scored = Math.max(1, ...rows.map((r) => r.scoredAt.length));
  const total = pastWidth + seq;
  const inputIds = new BigInt64Array(rows.length * seq);
  const positionIds = new BigInt64Array(rows.length * seq);
  const attentionMask = new BigInt64Array(rows.length * total);
  const keyOrder = new BigInt64Array(rows.length * total);
  const scorePositions = new BigInt64Array(rows.length * scored);
  const targetIds = new BigInt64Array(rows.length * scored);
  rows.forEach((row, r) => {
    for (let t = 0; t < row.tokens.length; t++) {
      inputIds[r * seq + t] = BigInt(row.tokens[t]!);
      positionIds[r * seq + t] = BigInt(row.past + t);
    }
    const real = row.past + row.tokens.length;
    for (let slot = 0; slot < real; slot++) {
      attentionMask[r * total + slot] = 1n;
      keyOrder[r * total + slot] = BigInt(slot < row.past ? slot : pastWidth + slot - row.past);
    }
    row.scoredAt.forEach((position, k) => {
      scorePositions[r * scored + k] = BigInt(position);
      targetIds[r * scored + k] = BigInt(row.targets[k]!);
    });
  });
  return {
    rows: rows.length,
    seq,
    total,
    scored,
    inputIds,
    positionIds,
    attentionMask,
    keyOrder,
    scorePositions,
    targetIds,
    scoredPerRow: rows.map((r) => r.scoredAt.length),
    positions: rows.reduce((sum, r) => sum + r.tokens.length, 0),
  };
}

/** lm-eval's way: feed (context + continuation)[:-1], score the continuation's positions. */
export function packPairwise(batch: readonly TokenRequest[]): Pass {
  return packRows(
    batch.map((request) => {
      const whole = [...request.context, ...request.continuation];
      const length = whole.length - 1;
      const first = length - request.continuation.length;
      return {
        tokens: whole.slice(0, length),
        past: 0,
        scoredAt: Array.from({ length: request.continuation.length }, (_, k) => first + k),
        targets: request.continuation,
      };
    }),
    0,
  );
}

/** Requests that share one prefix: a document's context and its endings' common leading tokens. */
export interface PrefixGroup {
  /** context + the endings' common leading tokens. */
  readonly prefix: readonly number[];
  /** How many leading continuation tokens the prefix holds (scored in the first pass, for every request). */
  readonly sharedContinuation: number;
  readonly requests: readonly TokenRequest[];
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}

/**
 * Groups a batch by shared context (requests of one document normally share it exactly; truncation can make
 * them differ, and then they are grouped apart). The shared continuation stops one token short of the
 * shortest ending, so every request keeps a token of its own for the second pass.
 */
export function groupByPrefix(batch: readonly TokenRequest[]): PrefixGroup[] {
  const groups: { context: readonly number[]; requests: TokenRequest[] }[] = [];
  const byGroup = new Map<number, { context: readonly number[]; requests: TokenRequest[] }[]>();
  for (const request of batch) {
    const candidates = byGroup.get(request.group) ?? [];
    let group = candidates.find((g) => sameTokens(g.context, request.context));
    if (!group) {
      group = { context: request.context, requests: [] };
      candidates.push(group);
      byGroup.set(request.group, candidates);
      groups.push(group);
    }
    group.requests.push(request);
  }
  return groups.map(({ context, requests }) => {
    const limit = Math.min(...requests.map((r) => r.continuation.length)) - 1;
    let shared = 0;
    while (shared < limit && requests.every((r) => r.continuation[shared] === requests[0]!.continuation[shared])) shared++;
    return { prefix: [...context, ...requests[0]!.continuation.slice(0, shared)], sharedContinuation: shared, requests };
  });
}

/**
 * First pass: each group's prefix but its last token (the last token is fed in the second pass, where it
 * predicts each ending's first own token). Scores the shared continuation tokens.
 */
export function packPrefixPass(groups: readonly PrefixGroup[]): Pass {
  return packRows(
    groups.map((group) => {
      const contextLength = group.prefix.length - group.sharedContinuation;
      return {
        tokens: group.prefix.slice(0, -1),
        past: 0,
        scoredAt: Array.from({ length: group.sharedContinuation }, (_, k) => contextLength - 1 + k),
        targets: group.prefix.slice(contextLength),
      };
    }),
    0,
  );
}

/**
 * Second pass: for every request, the prefix's last token and the request's own continuation tokens but
 * the last, on the cache of its group's first pass (`pastWidth` columns, of which the group's own
 * `prefix.length - 1` are real). Scores every own continuation token. `rowGroup[i]` is request i's group.
 */
export function packContinuationPass(groups: readonly PrefixGroup[], pastWidth: number): { pass: Pass; requests: TokenRequest[]; rowGroup: number[] } {
  const rows: Row[] = [];
  const requests: TokenRequest[] = [];
  const rowGroup: number[] = [];
  groups.forEach((group, g) => {
    for (const request of group.requests) {
      const own = request.continuation.slice(group.sharedContinuation);
      rows.push({
        tokens: [group.prefix[group.prefix.length - 1]!, ...own.slice(0, -1)],
        past: group.prefix.length - 1,
        scoredAt: own.map((_, k) => k),
        targets: own,
      });
      requests.push(request);
      rowGroup.push(g);
    }
  });
  return { pass: packRows(rows, pastWidth), requests, rowGroup };
}

/** Sums the real scored slots of row `row`: log-probability and whether every token was the arg-max. */
export function sumRow(pass: Pass, logprobs: Float32Array, greedy: ArrayLike<number | boolean>, row: number): { logprob: number; isGreedy: boolean } {
  let logprob = 0;
  let isGreedy = true;
  for (let k = 0; k < pass.scoredPerRow[row]!; k++) {
    logprob += logprobs[row * pass.scored + k]!;
    if (!greedy[row * pass.scored + k]) isGreedy = false;
  }
  return { logprob, isGreedy };
}

/** One pass where each row holds a document's context and the trie of its endings (see packTree). */
export interface TreePass {
  readonly rows: number;
  readonly seq: number;
  readonly scored: number;
  readonly inputIds: BigInt64Array;
  readonly positionIds: BigInt64Array;
  /** [rows, seq, seq]: 1 where the slot (row index) may attend to the slot (column index). */
  readonly treeMask: Uint8Array;
  readonly scorePositions: BigInt64Array;
  readonly targetIds: BigInt64Array;
  /** For each request, in batch order: its row and the scored slots (indices into [row, scored]) it sums. */
  readonly requestSlots: readonly { readonly id: number; readonly row: number; readonly scored: readonly number[] }[];
  /** Real slots (positions computed): context tokens plus trie nodes. */
  readonly positions: number;
}

/**
 * The context once, then the endings as a trie in the same row: each ending's tokens but its last are
 * slots whose parent is the previous token, so endings that begin alike share slots, and each slot attends
 * only to its ancestors (the tree mask). Ending token j is predicted at its parent's slot, exactly as in
 * `(context + ending)[:-1]`. The row's count of slots is the exact shared-prefix count, lower still where
 * endings share leading tokens. No key/value cache is needed: one pass per batch.
 */
export function packTree(batch: readonly TokenRequest[]): TreePass {
  const groups = new Map<string, TokenRequest[]>();
  for (const request of batch) {
    // Requests of a document share the context; truncation can make it differ, and then they part.
    const key = `${request.group}:${request.context.join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), request]);
  }
  interface Slot {
    token: number;
    parent: number;
    position: number;
  }
  const rows = [...groups.values()].map((requests) => {
    const context = requests[0]!.context;
    const slots: Slot[] = context.map((token, i) => ({ token, parent: i - 1, position: i }));
    const children = new Map<string, number>();
    const scoredPairs: [number, number][] = [];
    const pairIndex = new Map<string, number>();
    const requestPairs = requests.map((request) => {
      let parent = context.length - 1;
      return request.continuation.map((target, j) => {
        // Token j is predicted at its parent's slot; then (but for the last token) it becomes a slot itself.
        const pairKey = `${parent}:${target}`;
        let pair = pairIndex.get(pairKey);
        if (pair === undefined) {
          pair = scoredPairs.length;
          scoredPairs.push([parent, target]);
          pairIndex.set(pairKey, pair);
        }
        if (j < request.continuation.length - 1) {
          const childKey = `${parent}:${target}`;
          let child = children.get(childKey);
          if (child === undefined) {
            child = slots.length;
            slots.push({ token: target, parent, position: slots[parent]!.position + 1 });
            children.set(childKey, child);
          }
          parent = child;
        }
        return pair;
      });
    });
    return { requests, slots, scoredPairs, requestPairs };
  });

  const seq = Math.max(1, ...rows.map((r) => r.slots.length));
  // At least one scored slot (a padding one), because ONNX Runtime's ArgMax fails on an empty axis.
  const scored = Math.max(1, ...rows.map((r) => r.scoredPairs.length));
  const inputIds = new BigInt64Array(rows.length * seq);
  const positionIds = new BigInt64Array(rows.length * seq);
  const treeMask = new Uint8Array(rows.length * seq * seq);
  const scorePositions = new BigInt64Array(rows.length * scored);
  const targetIds = new BigInt64Array(rows.length * scored);
  const requestSlots: { id: number; row: number; scored: number[] }[] = [];
  rows.forEach((row, r) => {
    row.slots.forEach((slot, i) => {
      inputIds[r * seq + i] = BigInt(slot.token);
      positionIds[r * seq + i] = BigInt(slot.position);
      for (let ancestor = i; ancestor >= 0; ancestor = row.slots[ancestor]!.parent) treeMask[(r * seq + i) * seq + ancestor] = 1;
    });
    // Padding slots attend to themselves only, so their softmax has something to normalise.
    for (let i = row.slots.length; i < seq; i++) treeMask[(r * seq + i) * seq + i] = 1;
    row.scoredPairs.forEach(([slot, target], k) => {
      scorePositions[r * scored + k] = BigInt(slot);
      targetIds[r * scored + k] = BigInt(target);
    });
    row.requests.forEach((request, i) => requestSlots.push({ id: request.id, row: r, scored: row.requestPairs[i]! }));
  });
  return {
    rows: rows.length,
    seq,
    scored,
    inputIds,
    positionIds,
    treeMask,
    scorePositions,
    targetIds,
    requestSlots,
    positions: rows.reduce((sum, r) => sum + r.slots.length, 0),
  };
}
