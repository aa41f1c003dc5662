/**
 * The PyTorch worker runs for real (Debian's python3 with torch) and must give the ONNX backend's numbers:
 * on real HellaSwag requests with the embedded default model, fp32 log-probabilities within 1e-4, pairwise
 * and as a prefix-sharing tree, with the same predictions and greedy flags; and, independently of the ONNX
 * path, within 1e-4 of test/reference/llama_reference.py.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { documentBatches } from '../../plugins/prefix-sharing/index.js';
import { PyTorchBackend } from '../../src/backends/pytorch/backend.js';
import type { TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { runPython } from '../helpers/python.js';
import { REPO_ROOT } from '../helpers/shared.js';
import {
  answerAll,
  greedyFlags,
  loadOnnx,
  loadPytorch,
  maxDifference,
  predictions,
  pytorchSession,
  realRequests,
  tempDir,
  tokenOutputs,
} from './helpers.js';

let work: string;
let cacheDir: string;
let modelDir: string;
let requests: TokenRequest[];

beforeAll(async () => {
  work = await tempDir('optibench-pt-agree-');
  cacheDir = path.join(work, 'cache');
  modelDir = await ensureDefaultModel(cacheDir);
  requests = await realRequests(modelDir, 16, 11);
});

describe('the PyTorch worker against the ONNX backend (fp32, real HellaSwag requests)', () => {
  it('pairwise: log-probs within 1e-4, same predictions and greedy flags', async () => {
    const batches = lengthSortedBatches(requests, 8);
    const onnx = await answerAll(await loadOnnx(modelDir, cacheDir, { dtype: 'fp32', extra: {} }), batches);
    const backend = await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} });
    expect(backend.workerInfo).toMatchObject({ protocol: 1, ranks: 1 });
    const torch = await answerAll(backend, batches);
    expect(requests).toHaveLength(64);
    expect(maxDifference(requests, onnx, torch)).toBeLessThan(1e-4);
    expect(predictions(requests, torch)).toEqual(predictions(requests, onnx));
    expect(greedyFlags(requests, torch)).toEqual(greedyFlags(requests, onnx));
    // Not trivially equal: the log-probs spread far from uniform (log 1/512 = -6.2 per token).
    const sums = requests.map((r) => torch.get(r.id)!.logprob);
    expect(Math.max(...sums) - Math.min(...sums)).toBeGreaterThan(10);
  });

  it('tree (prefix sharing): within 1e-4 of the ONNX tree and of the pairwise run, same predictions', async () => {
    const batches = documentBatches(requests, 3);
    const onnxTree = await answerAll(await loadOnnx(modelDir, cacheDir, { dtype: 'fp32', extra: { treeMask: true } }), batches);
    const torchTree = await answerAll(await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: { treeMask: true } }), batches);
    const torchPairwise = await answerAll(await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} }), lengthSortedBatches(requests, 8));
    expect(maxDifference(requests, onnxTree, torchTree)).toBeLessThan(1e-4);
    expect(maxDifference(requests, torchPairwise, torchTree)).toBeLessThan(1e-4);
    expect(predictions(requests, torchTree)).toEqual(predictions(requests, onnxTree));
    expect(greedyFlags(requests, torchTree)).toEqual(greedyFlags(requests, onnxTree));
  });

  it('token by token: every scored token within 1e-5 of the ONNX graph', async () => {
    // The sums above add up ~40 tokens; here the worker's raw forward output is compared with ONNX's.
    const batches = lengthSortedBatches(requests.slice(0, 24), 8);
    const backend = await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} });
    let torch: { logprobs: number[] };
    try {
      torch = await tokenOutputs(backend, batches, false);
    } finally {
      await backend.close();
    }
    const onnx = await loadOnnx(modelDir, cacheDir, { dtype: 'fp32', extra: {} });
    const reference: number[] = [];
    try {
      for (const batch of batches) {
        // The ONNX backend's sums, token by token: one request at a time, one token at a time is what the
        // reference does; here each request's tokens are recovered from single-token continuations.
        for (const r of batch) {
          for (let k = 0; k < r.continuation.length; k++) {
            const single = { id: 0, group: 0, context: [...r.context, ...r.continuation.slice(0, k)], continuation: [r.continuation[k]!] };
            reference.push((await onnx.loglikelihood([single])).answers[0]!.logprob);
          }
        }
      }
    } finally {
      await onnx.close();
    }
    expect(torch.logprobs).toHaveLength(reference.length);
    expect(Math.max(...torch.logprobs.map((x, i) => Math.abs(x - reference[i]!)))).toBeLessThan(1e-5);
  });

  it('batch-size invariance: batches of 1, 5 and 32 give the same predictions, log-probs within float32 rounding', async () => {
    // Unlike ONNX Runtime's, PyTorch's CPU GEMMs block differently as the batch grows, so sums of ~40 tokens
    // reaching -1000 move by ~1e-5 (float32's spacing there is 6e-5); predictions must not move.
    const backend = await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} });
    const runs: Map<number, TokenAnswer>[] = [];
    try {
      for (const size of [1, 5, 32]) {
        const byId = new Map<number, TokenAnswer>();
        for (const batch of lengthSortedBatches(requests, size)) for (const a of (await backend.loglikelihood(batch)).answers) byId.set(a.id, a);
        runs.push(byId);
      }
    } finally {
      await backend.close();
    }
    for (const run of runs.slice(1)) {
      expect(maxDifference(requests, runs[0]!, run)).toBeLessThan(1e-4);
      expect(predictions(requests, run)).toEqual(predictions(requests, runs[0]!));
    }
  });
});

describe('the PyTorch worker against the independent reference (test/reference/llama_reference.py)', () => {
  it('agrees within 1e-4 (fp32) and on every greedy flag', async () => {
    const file = path.join(work, 'requests.json');
    await writeFile(file, JSON.stringify({ requests }));
    const out = runPython([path.join(REPO_ROOT, 'test/reference/llama_reference.py'), '--model', modelDir, '--requests', file]);
    const reference = (JSON.parse(out) as { answers: { id: number; logprob: number; isGreedy: boolean }[] }).answers;
    const torch = await answerAll(await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} }), lengthSortedBatches(requests, 8));
    expect(reference).toHaveLength(requests.length);
    expect(Math.max(...reference.map((a) => Math.abs(a.logprob - torch.get(a.id)!.logprob)))).toBeLessThan(1e-4);
    expect(reference.map((a) => a.isGreedy)).toEqual(reference.map((a) => torch.get(a.id)!.isGreedy));
  });
});

describe('dtypes and settings', () => {
  it('bf16 runs on the CPU and stays near fp32; fp16 on the CPU is refused with the reason on torch 1.13', async () => {
    const batches = lengthSortedBatches(requests.slice(0, 16), 8);
    const fp32 = await answerAll(await loadPytorch(modelDir, cacheDir, { dtype: 'fp32', extra: {} }), batches);
    const bf16 = await answerAll(await loadPytorch(modelDir, cacheDir, { dtype: 'bf16', extra: {} }), batches);
    // bf16 keeps ~2-3 significant digits: summed over ~40 tokens, well under a nat.
    expect(maxDifference(requests.slice(0, 16), fp32, bf16)).toBeLessThan(1);
    const fp16 = new PyTorchBackend();
    try {
      await fp16.load({ modelDir, cacheDir, build: { dtype: 'fp16', extra: {} }, session: pytorchSession() });
      // A PyTorch with half-precision CPU kernels (>= 2.x) may run it: then it must answer.
      const answers = await answerAll(fp16, batches);
      expect(maxDifference(requests.slice(0, 16), fp32, answers)).toBeLessThan(1);
    } catch (error) {
      expect((error as Error).message).toMatch(/fp16 on the CPU: this PyTorch \(.*\) has no half-precision matmul on the CPU; use fp32 or bf16/);
    } finally {
      await fp16.close();
    }
  });

  it('refuses a build setting meant for another backend before starting python', async () => {
    const backend = new PyTorchBackend();
    await expect(backend.load({ modelDir, cacheDir, build: { dtype: 'fp32', extra: { head: 'scored' } }, session: pytorchSession() })).rejects.toThrow(
      'build setting "head" is not supported by the PyTorch backend (a plugin for another backend?)',
    );
    expect(backend.workerPid).toBeUndefined();
    await expect(
      backend.load({ modelDir, cacheDir, build: { dtype: 'fp32', extra: {} }, session: { ...pytorchSession(), extra: { graphOptimizationLevel: 'all' } } }),
    ).rejects.toThrow('session setting "graphOptimizationLevel" is not supported by the PyTorch backend');
  });

  it('reports what ran in the load facts', async () => {
    const backend = new PyTorchBackend();
    try {
      const info = await backend.load({ modelDir, cacheDir, build: { dtype: 'fp32', extra: {} }, session: pytorchSession() });
      expect(info).toMatchObject({ maxLength: 1024, vocabSize: 512, cacheHit: false });
      expect(info.details).toMatchObject({ implementation: 'builtin', dtype: 'fp32', device: 'cpu', workerProtocol: 1 });
      expect(String(info.details.torch)).toMatch(/^\d+\.\d+/);
      expect(String(info.details.weightsSha256)).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await backend.close();
    }
  });
});
