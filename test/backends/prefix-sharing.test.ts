/**
 * The optimized ways of running the same requests (prefix sharing, head pruning, both) against the plain
 * graph on real HellaSwag requests, and batch-size invariance: the batch a request lands in must not change
 * its answer (in lm-evaluation-harness the HellaSwag score moves with the batch size).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import documentBatchesPlugin, { documentBatches } from '../../plugins/prefix-sharing/index.js';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import { groupByPrefix, packContinuationPass, packPairwise, packPrefixPass, packTree } from '../../src/backends/onnx/pack.js';
import type { TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { buildPlan } from '../../src/evaluators/inference/plan.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { selectSubset } from '../../src/core/subset.js';
import { readLlamaConfig } from '../../src/models/llama/hf-model.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { HELLASWAG_FULL, sharedFile } from '../helpers/shared.js';

describe('packing (worked by hand)', () => {
  // Two documents: A has context [1, 5, 6] and endings [7, 8] and [7, 9, 4] (sharing their first token 7);
  // B has context [1, 3] and the single ending [2].
  const requests: TokenRequest[] = [
    { id: 0, group: 0, context: [1, 5, 6], continuation: [7, 8] },
    { id: 1, group: 0, context: [1, 5, 6], continuation: [7, 9, 4] },
    { id: 2, group: 1, context: [1, 3], continuation: [2] },
  ];

  it('pairwise: (context + continuation)[:-1], continuation positions scored, right-padded', () => {
    const pass = packPairwise(requests);
    expect([pass.rows, pass.seq, pass.total, pass.scored]).toEqual([3, 5, 5, 3]);
    expect([...pass.inputIds].map(Number)).toEqual([1, 5, 6, 7, 0, 1, 5, 6, 7, 9, 1, 3, 0, 0, 0]);
    expect([...pass.attentionMask].map(Number)).toEqual([1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    // A's first ending: tokens 7, 8 are predicted at positions 2, 3.
    expect([...pass.scorePositions].map(Number)).toEqual([2, 3, 0, 2, 3, 4, 1, 0, 0]);
    expect([...pass.targetIds].map(Number)).toEqual([7, 8, 0, 7, 9, 4, 2, 0, 0]);
    expect(pass.positions).toBe(4 + 5 + 2);
  });

  it('shared prefix: context + common ending tokens once, then each ending on the cache', () => {
    const groups = groupByPrefix(requests);
    expect(groups.map((g) => [g.prefix, g.sharedContinuation])).toEqual([
      [[1, 5, 6, 7], 1],
      [[1, 3], 0],
    ]);
    const first = packPrefixPass(groups);
    // A runs [1, 5, 6] and scores its shared 7 at position 2; B runs [1] and scores nothing.
    expect([...first.inputIds].map(Number)).toEqual([1, 5, 6, 1, 0, 0]);
    expect([...first.scorePositions].map(Number)).toEqual([2, 0]);
    expect([...first.targetIds].map(Number)).toEqual([7, 0]);
    expect(first.scoredPerRow).toEqual([1, 0]);
    const { pass: second, rowGroup } = packContinuationPass(groups, first.seq);
    expect(rowGroup).toEqual([0, 0, 1]);
    // Each row: the prefix's last token, then its own tokens but the last; the past is 3 wide.
    expect([second.seq, second.total]).toEqual([2, 5]);
    expect([...second.inputIds].map(Number)).toEqual([7, 0, 7, 9, 3, 0]);
    // Key slots in position order: the row's real past first, then its own tokens (slot k = position k).
    expect([...second.attentionMask].map(Number)).toEqual([1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    // concat(past, current) has the 3 past columns first, so B's token (current column 0) is slot 3.
    expect([...second.keyOrder].map(Number)).toEqual([0, 1, 2, 3, 0, 0, 1, 2, 3, 4, 0, 3, 0, 0, 0]);
    expect([...second.positionIds].map(Number)).toEqual([3, 0, 3, 4, 1, 0]);
    expect([...second.targetIds].map(Number)).toEqual([8, 0, 9, 4, 2, 0]);
    // 3 + 1 positions in the first pass, 1 + 2 + 1 in the second, against 11 pairwise.
    expect(first.positions + second.positions).toBe(8);
  });

  it('tree: the context and the trie of the endings in one row, each slot seeing its ancestors', () => {
    const pass = packTree(requests);
    // Row A: context slots 0-2 ([1, 5, 6]); the endings' inputs [7] and [7, 9] share slot 3 (token 7), and
    // slot 4 (token 9) hangs under it. Row B: context [1, 3]; its ending [2] has no input slot.
    expect([pass.rows, pass.seq]).toEqual([2, 5]);
    expect([...pass.inputIds].map(Number)).toEqual([1, 5, 6, 7, 9, 1, 3, 0, 0, 0]);
    expect([...pass.positionIds].map(Number)).toEqual([0, 1, 2, 3, 4, 0, 1, 0, 0, 0]);
    const mask = (row: number) => Array.from({ length: 5 }, (_, i) => [...pass.treeMask.subarray((row * 5 + i) * 5, (row * 5 + i + 1) * 5)].join(''));
    expect(mask(0)).toEqual(['10000', '11000', '11100', '11110', '11111']);
    expect(mask(1)).toEqual(['10000', '11000', '00100', '00010', '00001']);
    // Scored (slot, target) pairs, deduplicated: A's 7 at slot 2 serves both endings; 8 and 9 at slot 3; 4 at slot 4.
    expect([...pass.scorePositions].map(Number)).toEqual([2, 3, 3, 4, 1, 0, 0, 0]);
    expect([...pass.targetIds].map(Number)).toEqual([7, 8, 9, 4, 2, 0, 0, 0]);
    expect(pass.requestSlots).toEqual([
      { id: 0, row: 0, scored: [0, 1] },
      { id: 1, row: 0, scored: [0, 2, 3] },
      { id: 2, row: 1, scored: [0] },
    ]);
    // 5 + 2 slots computed, against 11 pairwise and 8 with the two-pass cache.
    expect(pass.positions).toBe(7);
  });

  it('batches whole documents, longest first', () => {
    expect(documentBatches(requests, 1).map((b) => b.map((r) => r.id))).toEqual([[0, 1], [2]]);
    expect(documentBatchesPlugin.name).toBe('prefix-sharing');
  });
});

interface Mode {
  kvCache: boolean;
  treeMask: boolean;
  head: 'all' | 'scored';
}

const shares = (mode: Mode) => mode.kvCache || mode.treeMask;

let modelDir: string;
let cacheDir: string;
let requests: TokenRequest[];

beforeAll(async () => {
  cacheDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'optibench-ps-')), 'cache');
  modelDir = await ensureDefaultModel(cacheDir);
  const docs = selectSubset(await hellaswagTask.load(sharedFile(HELLASWAG_FULL)), 40, 3);
  const config = await readLlamaConfig(modelDir);
  requests = [...buildPlan(hellaswagTask, docs, await loadTokenizer(modelDir), config.max_position_embeddings).requests];
});

async function answers(mode: Mode, batches: readonly TokenRequest[][]): Promise<{ byId: Map<number, TokenAnswer>; positions: number }> {
  const backend = new OnnxBackend();
  await backend.load({
    modelDir,
    build: { dtype: 'fp32', extra: { ...mode } },
    session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} },
    cacheDir,
  });
  const byId = new Map<number, TokenAnswer>();
  let positions = 0;
  try {
    for (const batch of batches) {
      const result = await backend.loglikelihood(batch);
      positions += result.positions;
      for (const a of result.answers) byId.set(a.id, a);
    }
  } finally {
    await backend.close();
  }
  return { byId, positions };
}

/** Per document, the choice with the highest summed log-probability (acc's prediction). */
function predictions(byId: Map<number, TokenAnswer>): number[] {
  const byDoc = new Map<number, number[]>();
  for (const r of requests) byDoc.set(r.group, [...(byDoc.get(r.group) ?? []), byId.get(r.id)!.logprob]);
  return [...byDoc.values()].map((lls) => lls.indexOf(Math.max(...lls)));
}

function maxDifference(a: Map<number, TokenAnswer>, b: Map<number, TokenAnswer>): number {
  return Math.max(...requests.map((r) => Math.abs(a.get(r.id)!.logprob - b.get(r.id)!.logprob)));
}

describe('optimized runs equal the plain graph (fp32, real HellaSwag requests)', () => {
  it('head pruning, prefix sharing (tree, key/value cache) and both: log-probs within 1e-4, same predictions and greedy flags', async () => {
    const plain = await answers({ kvCache: false, treeMask: false, head: 'all' }, lengthSortedBatches(requests, 8));
    for (const mode of [
      { kvCache: false, treeMask: false, head: 'scored' },
      { kvCache: true, treeMask: false, head: 'all' },
      { kvCache: true, treeMask: false, head: 'scored' },
      { kvCache: false, treeMask: true, head: 'all' },
      { kvCache: false, treeMask: true, head: 'scored' },
    ] as Mode[]) {
      const batches = shares(mode) ? documentBatches(requests, 2) : lengthSortedBatches(requests, 8);
      const run = await answers(mode, batches);
      expect([mode, maxDifference(plain.byId, run.byId)]).toEqual([mode, expect.any(Number)]);
      expect(maxDifference(plain.byId, run.byId)).toBeLessThan(1e-4);
      expect(predictions(run.byId)).toEqual(predictions(plain.byId));
      expect(requests.map((r) => run.byId.get(r.id)!.isGreedy)).toEqual(requests.map((r) => plain.byId.get(r.id)!.isGreedy));
    }
  });

  it('the tree computes each item\'s context once and every distinct ending prefix once', async () => {
    // Independently: per document, the context plus the number of distinct proper prefixes of the endings'
    // inputs (ending[:-1]), i.e. the trie's nodes.
    let expected = 0;
    for (const doc of new Set(requests.map((r) => r.group))) {
      const own = requests.filter((r) => r.group === doc);
      const prefixes = new Set(own.flatMap((r) => r.continuation.slice(0, -1).map((_, j) => r.continuation.slice(0, j + 1).join(','))));
      expected += own[0]!.context.length + prefixes.size;
    }
    const tree = await answers({ kvCache: false, treeMask: true, head: 'scored' }, documentBatches(requests, 4));
    expect(tree.positions).toBe(expected);
  });

  it('prefix sharing with the cache computes exactly the shared-prefix count of positions', async () => {
    const pairwise = requests.reduce((sum, r) => sum + r.context.length + r.continuation.length - 1, 0);
    // Independently: per document, (context + the endings' common leading tokens, short of the shortest) - 1
    // once, plus each ending's remaining tokens.
    let expected = 0;
    for (const doc of new Set(requests.map((r) => r.group))) {
      const own = requests.filter((r) => r.group === doc);
      let common = 0;
      while (common < Math.min(...own.map((r) => r.continuation.length)) - 1 && own.every((r) => r.continuation[common] === own[0]!.continuation[common])) common++;
      expected += own[0]!.context.length + common - 1 + own.reduce((sum, r) => sum + r.continuation.length - common, 0);
    }
    const shared = await answers({ kvCache: true, treeMask: false, head: 'scored' }, documentBatches(requests, 4));
    expect(shared.positions).toBe(expected);
    expect(shared.positions / pairwise).toBeLessThan(0.6);
  });
});

describe('batch-size invariance', () => {
  it.each([
    ['without prefix sharing', { kvCache: false, treeMask: false, head: 'all' }],
    ['with prefix sharing as a tree', { kvCache: false, treeMask: true, head: 'all' }],
    ['with prefix sharing on a key/value cache', { kvCache: true, treeMask: false, head: 'all' }],
  ] as [string, Mode][])('%s: predictions identical and log-probs within 1e-5 for batch sizes 1, 3, 8 and 32', async (_, mode) => {
    const batchesOf = (size: number) => (shares(mode) ? documentBatches(requests, size) : lengthSortedBatches(requests, size));
    const reference = await answers(mode, batchesOf(1));
    for (const size of [3, 8, 32]) {
      const run = await answers(mode, batchesOf(size));
      expect(predictions(run.byId)).toEqual(predictions(reference.byId));
      expect([size, maxDifference(reference.byId, run.byId)]).toEqual([size, expect.any(Number)]);
      expect(maxDifference(reference.byId, run.byId)).toBeLessThan(1e-5);
    }
  });
});
