/**
 * Scoring a batch of requests with any backend that runs the LLaMA forward with optibench's signature
 * (inputs `input_ids`, `position_ids`, `attention_mask` or `tree_mask`, `score_positions`, `target_ids`;
 * outputs the target log-probabilities and greedy flags at the scored slots). The ONNX session and the
 * PyTorch worker share this: packing (pack.ts), summing, and the positions computed.
 */
import type { BatchAnswer, TokenRequest } from '../core/backend.js';
import { packPairwise, packTree, sumRow } from './onnx/pack.js';

export interface NamedTensor {
  readonly type: 'int64' | 'bool';
  readonly data: BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
}

/** One forward: named inputs in, [rows, scored] log-probabilities and greedy flags out. */
export type Forward = (inputs: Record<string, NamedTensor>) => Promise<{ logprobs: Float32Array; greedy: Uint8Array }>;

/** Refuses requests no backend can score, before any work. */
export function checkRequests(batch: readonly TokenRequest[], maxLength: number): void {
  for (const r of batch) {
    if (r.continuation.length === 0 || r.context.length === 0) {
      throw new Error(`request ${r.id}: context and continuation must each hold at least one token`);
    }
    if (r.context.length + r.continuation.length - 1 > maxLength) {
      throw new Error(`request ${r.id}: ${r.context.length + r.continuation.length - 1} positions exceed the model's ${maxLength}`);
    }
  }
}

const int64 = (data: BigInt64Array, dims: number[]): NamedTensor => ({ type: 'int64', data, dims });

/** Every request as its own row, as lm-evaluation-harness runs it. */
export async function scorePairwise(forward: Forward, batch: readonly TokenRequest[]): Promise<BatchAnswer> {
  const pass = packPairwise(batch);
  const { logprobs, greedy } = await forward({
    input_ids: int64(pass.inputIds, [pass.rows, pass.seq]),
    position_ids: int64(pass.positionIds, [pass.rows, pass.seq]),
    attention_mask: int64(pass.attentionMask, [pass.rows, pass.total]),
    score_positions: int64(pass.scorePositions, [pass.rows, pass.scored]),
    target_ids: int64(pass.targetIds, [pass.rows, pass.scored]),
  });
  const answers = batch.map((request, row) => ({ id: request.id, ...sumRow(pass, logprobs, greedy, row) }));
  return { answers, positions: pass.positions, paddedPositions: pass.rows * pass.seq };
}

/** Each document's context and the trie of its endings in one row, under a tree mask (see pack.ts). */
export async function scoreTree(forward: Forward, batch: readonly TokenRequest[]): Promise<BatchAnswer> {
  const pass = packTree(batch);
  const { logprobs, greedy } = await forward({
    input_ids: int64(pass.inputIds, [pass.rows, pass.seq]),
    position_ids: int64(pass.positionIds, [pass.rows, pass.seq]),
    tree_mask: { type: 'bool', data: pass.treeMask, dims: [pass.rows, pass.seq, pass.seq] },
    score_positions: int64(pass.scorePositions, [pass.rows, pass.scored]),
    target_ids: int64(pass.targetIds, [pass.rows, pass.scored]),
  });
  const answers = pass.requestSlots.map(({ id, row, scored }) => {
    let logprob = 0;
    let isGreedy = true;
    for (const k of scored) {
      logprob += logprobs[row * pass.scored + k]!;
      if (!greedy[row * pass.scored + k]) isGreedy = false;
    }
    return { id, logprob, isGreedy };
  });
  return { answers, positions: pass.positions, paddedPositions: pass.rows * pass.seq };
}
