/**
 * The ONNX backend's log-probabilities against an independent PyTorch forward (test/reference/), on real
 * HellaSwag requests tokenized exactly as a run tokenizes them. fp32 must agree within 1e-4.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import type { Dtype, TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { defaultCorpus, ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { buildPlan } from '../../src/evaluators/inference/plan.js';
import { selectSubset } from '../../src/core/subset.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { PRESETS, generateLlama } from '../../src/models/llama/generate.js';
import { readLlamaConfig } from '../../src/models/llama/hf-model.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { runPython } from '../helpers/python.js';
import { HELLASWAG_FULL, REPO_ROOT, sharedFile } from '../helpers/shared.js';

interface ReferenceAnswer {
  id: number;
  logprob: number;
  isGreedy: boolean;
  tokenLogprobs: number[];
}

let cacheDir: string;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'optibench-ref-'));
  cacheDir = path.join(work, 'cache');
});

async function realRequests(modelDir: string, limit: number): Promise<TokenRequest[]> {
  const docs = selectSubset(await hellaswagTask.load(sharedFile(HELLASWAG_FULL)), limit, 11);
  const tokenizer = await loadTokenizer(modelDir);
  const config = await readLlamaConfig(modelDir);
  return [...buildPlan(hellaswagTask, docs, tokenizer, config.max_position_embeddings).requests];
}

/** float64 gives the near-exact value: both float32 implementations may each be ~1e-4 away from it. */
async function reference(modelDir: string, requests: readonly TokenRequest[], file: string, dtype: 'float32' | 'float64' = 'float32'): Promise<ReferenceAnswer[]> {
  await writeFile(file, JSON.stringify({ requests }));
  const out = runPython([path.join(REPO_ROOT, 'test/reference/llama_reference.py'), '--model', modelDir, '--requests', file, '--dtype', dtype]);
  return (JSON.parse(out) as { answers: ReferenceAnswer[] }).answers;
}

async function onnxAnswers(modelDir: string, requests: readonly TokenRequest[], dtype: Dtype, batchSize: number): Promise<Map<number, TokenAnswer>> {
  const backend = new OnnxBackend();
  await backend.load({
    modelDir,
    build: { dtype, extra: {} },
    session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} },
    cacheDir,
  });
  const answers = new Map<number, TokenAnswer>();
  try {
    for (const batch of lengthSortedBatches(requests, batchSize)) for (const a of (await backend.loglikelihood(batch)).answers) answers.set(a.id, a);
  } finally {
    await backend.close();
  }
  return answers;
}

function compare(requests: readonly TokenRequest[], ours: Map<number, TokenAnswer>, theirs: ReferenceAnswer[]) {
  expect(theirs).toHaveLength(requests.length);
  let maxDiff = 0;
  let greedyMismatch = 0;
  for (const ref of theirs) {
    const mine = ours.get(ref.id)!;
    maxDiff = Math.max(maxDiff, Math.abs(mine.logprob - ref.logprob));
    if (mine.isGreedy !== ref.isGreedy) greedyMismatch++;
  }
  return { maxDiff, greedyMismatch };
}

describe('ONNX forward pass vs the PyTorch reference', () => {
  it('agrees within 1e-4 (fp32) on real HellaSwag requests with the embedded default model', async () => {
    const modelDir = await ensureDefaultModel(cacheDir);
    const requests = await realRequests(modelDir, 12);
    expect(requests).toHaveLength(48);
    const theirs = await reference(modelDir, requests, path.join(work, 'requests-default.json'));
    // The model is not trivial: log-probs spread well away from uniform (log 1/512 = -6.2 per token).
    const perToken = theirs.map((a) => a.logprob / a.tokenLogprobs.length);
    expect(Math.max(...perToken) - Math.min(...perToken)).toBeGreaterThan(1);
    const ours = await onnxAnswers(modelDir, requests, 'fp32', 8);
    const { maxDiff, greedyMismatch } = compare(requests, ours, theirs);
    expect(maxDiff).toBeLessThan(1e-4);
    expect(greedyMismatch).toBe(0);
    const exact = compare(requests, ours, await reference(modelDir, requests, path.join(work, 'requests-default.json'), 'float64'));
    expect(exact.maxDiff).toBeLessThan(1e-4);
  });

  it('agrees on a sharded bf16 checkpoint with tied embeddings (the other weight layouts)', async () => {
    const modelDir = path.join(work, 'sharded-bf16-tied');
    await generateLlama(modelDir, { shape: PRESETS.tiny, seed: 5, corpus: await defaultCorpus(), shards: 3, weightDtype: 'BF16', tieWordEmbeddings: true });
    const requests = await realRequests(modelDir, 6);
    const theirs = await reference(modelDir, requests, path.join(work, 'requests-bf16.json'), 'float64');
    const { maxDiff, greedyMismatch } = compare(requests, await onnxAnswers(modelDir, requests, 'fp32', 5), theirs);
    expect(maxDiff).toBeLessThan(1e-4);
    expect(greedyMismatch).toBe(0);
  });

  it('an fp16 graph stays close to the fp32 reference', async () => {
    const modelDir = await ensureDefaultModel(cacheDir);
    const requests = await realRequests(modelDir, 6);
    const theirs = await reference(modelDir, requests, path.join(work, 'requests-fp16.json'));
    const { maxDiff } = compare(requests, await onnxAnswers(modelDir, requests, 'fp16', 8), theirs);
    // Half precision keeps ~3 significant digits per operation; summed over ~40 tokens that is ~0.1 nats.
    expect(maxDiff).toBeLessThan(0.25);
  });
});
