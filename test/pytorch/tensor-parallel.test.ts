/**
 * Tensor parallelism for real on the CPU: the worker under torchrun with 2 ranks (gloo). Its outputs must
 * equal the single-process run's, and each rank must hold only its shard of the weights (the shapes each
 * rank reports). A rank killed mid-run must end the run with a clear error and leave no process behind.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import tensorParallel from '../../plugins/tensor-parallel/index.js';
import { documentBatches } from '../../plugins/prefix-sharing/index.js';
import type { BuildSettings, TokenRequest } from '../../src/core/backend.js';
import { ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { alive, answerAll, childPids, eventually, greedyFlags, loadPytorch, maxDifference, predictions, realRequests, tempDir, tokenOutputs } from './helpers.js';

let cacheDir: string;
let modelDir: string;
let requests: TokenRequest[];

beforeAll(async () => {
  cacheDir = path.join(await tempDir('optibench-pt-tp-'), 'cache');
  modelDir = await ensureDefaultModel(cacheDir);
  requests = await realRequests(modelDir, 12, 5);
});

const tp = (embeddings: 'replicated' | 'sharded', extra: BuildSettings['extra'] = {}): BuildSettings => ({
  dtype: 'fp32',
  extra: { ...extra, tensorParallel: { ranks: 2, embeddings, backend: 'gloo' } },
});

/** Token outputs, summed answers and the shapes each rank holds. */
async function runOn(build: BuildSettings, tree: boolean) {
  const batches = tree ? documentBatches(requests, 3) : lengthSortedBatches(requests, 8);
  const backend = await loadPytorch(modelDir, cacheDir, build);
  const shapes = await backend.weightShapes();
  const tokens = await tokenOutputs(backend, batches, tree);
  const answers = await answerAll(backend, batches); // closes the backend
  return { shapes, tokens, answers };
}

function compare(single: Awaited<ReturnType<typeof runOn>>, parallel: Awaited<ReturnType<typeof runOn>>) {
  expect(parallel.tokens.logprobs).toHaveLength(single.tokens.logprobs.length);
  const tokenDiff = Math.max(...single.tokens.logprobs.map((x, i) => Math.abs(x - parallel.tokens.logprobs[i]!)));
  expect(tokenDiff).toBeLessThan(1e-5);
  expect(parallel.tokens.greedy).toEqual(single.tokens.greedy);
  // A request sums ~40 of those tokens; float32's spacing at its magnitude (up to ~1000) is 6e-5.
  expect(maxDifference(requests, single.answers, parallel.answers)).toBeLessThan(1e-4);
  expect(predictions(requests, parallel.answers)).toEqual(predictions(requests, single.answers));
  expect(greedyFlags(requests, parallel.answers)).toEqual(greedyFlags(requests, single.answers));
}

const shape = (rank: Record<string, [number[], number]>, name: string) => rank[name]![0];

describe('tensor parallelism on the CPU, 2 ranks (gloo)', () => {
  it('replicated embeddings: outputs equal the single process (every token within 1e-5); each rank holds half of every layer', async () => {
    const single = await runOn({ dtype: 'fp32', extra: {} }, false);
    const parallel = await runOn(tp('replicated'), false);
    compare(single, parallel);

    // The tiny model: hidden 64, 4 heads of 16, 2 key/value heads, MLP 172, vocabulary 512.
    expect(single.shapes).toHaveLength(1);
    expect(parallel.shapes).toHaveLength(2);
    for (const rank of parallel.shapes) {
      for (const layer of [0, 1]) {
        const p = `model.layers.${layer}.`;
        expect(shape(rank, `${p}self_attn.q_proj.weight`)).toEqual([32, 64]); // 2 of 4 heads
        expect(shape(rank, `${p}self_attn.k_proj.weight`)).toEqual([16, 64]); // 1 of 2 kv heads
        expect(shape(rank, `${p}self_attn.v_proj.weight`)).toEqual([16, 64]);
        expect(shape(rank, `${p}self_attn.o_proj.weight`)).toEqual([64, 32]); // row-parallel: its heads' inputs
        expect(shape(rank, `${p}mlp.gate_proj.weight`)).toEqual([86, 64]);
        expect(shape(rank, `${p}mlp.up_proj.weight`)).toEqual([86, 64]);
        expect(shape(rank, `${p}mlp.down_proj.weight`)).toEqual([64, 86]);
        expect(shape(rank, `${p}input_layernorm.weight`)).toEqual([64]);
      }
      expect(shape(rank, 'model.embed_tokens.weight')).toEqual([512, 64]);
      expect(shape(rank, 'lm_head.weight')).toEqual([512, 64]);
    }
    expect(shape(single.shapes[0]!, 'model.layers.0.self_attn.q_proj.weight')).toEqual([64, 64]);
    // Each rank holds the replicated embeddings and head plus half of the layers.
    const bytes = (rank: Record<string, [number[], number]>) => Object.values(rank).reduce((sum, [, b]) => sum + b, 0);
    const layers = (rank: Record<string, [number[], number]>) =>
      Object.entries(rank).reduce((sum, [name, [, b]]) => sum + (name.startsWith('model.layers.') && !name.includes('layernorm') ? b : 0), 0);
    expect(layers(parallel.shapes[0]!) * 2).toBe(layers(single.shapes[0]!));
    expect(bytes(parallel.shapes[0]!)).toBeLessThan(bytes(single.shapes[0]!));
  });

  it('sharded embeddings and LM head (vocabulary halves), with the prefix-sharing tree: outputs equal the single process', async () => {
    const single = await runOn({ dtype: 'fp32', extra: { treeMask: true } }, true);
    const parallel = await runOn(tp('sharded', { treeMask: true }), true);
    compare(single, parallel);
    for (const rank of parallel.shapes) {
      expect(shape(rank, 'model.embed_tokens.weight')).toEqual([256, 64]);
      expect(shape(rank, 'lm_head.weight')).toEqual([256, 64]);
      expect(shape(rank, 'model.layers.1.self_attn.q_proj.weight')).toEqual([32, 64]);
    }
  });

  it('a rank killed mid-run: a clear error within seconds, and no process of the group left', async () => {
    const backend = await loadPytorch(modelDir, cacheDir, tp('replicated'));
    const launcher = backend.workerPid!;
    const rank0 = backend.workerInfo!.pid;
    const ranks = childPids(launcher);
    expect(ranks).toHaveLength(2);
    expect(ranks).toContain(rank0);
    const victim = ranks.find((pid) => pid !== rank0)!;
    const batches = lengthSortedBatches([...requests, ...requests.map((r) => ({ ...r, id: r.id + 1000 }))], 4);
    const t0 = Date.now();
    const running = (async () => {
      for (let pass = 0; pass < 200; pass++) for (const batch of batches) await backend.loglikelihood(batch);
    })();
    setTimeout(() => process.kill(victim, 'SIGKILL'), 300);
    await expect(running).rejects.toThrow(/the PyTorch worker \(.*\) (failed on the forward request|was killed by SIGKILL|exited with code \d+)/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    await backend.close();
    expect(await eventually(() => ![launcher, ...ranks].some(alive), 5000)).toBe(true);
  });
});

describe('the tensor-parallel plugin', () => {
  const model = { hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, vocabSize: 512 };

  it('sets the build setting from its options', () => {
    const build: BuildSettings = { dtype: 'fp32', extra: {} };
    tensorParallel.create({ ranks: 2, embeddings: 'sharded', backend: 'auto' }).modelBuild!({ backend: 'pytorch', model, build });
    expect(build.extra).toEqual({ tensorParallel: { ranks: 2, embeddings: 'sharded', backend: 'auto' } });
  });

  it('refuses a model that does not split evenly, naming what does not divide', () => {
    const build: BuildSettings = { dtype: 'fp32', extra: {} };
    expect(() => tensorParallel.create({ ranks: 3, embeddings: 'replicated', backend: 'auto' }).modelBuild!({ backend: 'pytorch', model, build })).toThrow(
      'tensor-parallel over 3 ranks needs num_attention_heads (4), num_key_value_heads (2), intermediate_size (172) divisible by 3',
    );
    expect(() =>
      tensorParallel.create({ ranks: 4, embeddings: 'replicated', backend: 'auto' }).modelBuild!({ backend: 'pytorch', model, build }),
    ).toThrow('tensor-parallel over 4 ranks needs num_key_value_heads (2) divisible by 4');
  });

  it('refuses NCCL on the CPU', () => {
    expect(() =>
      tensorParallel.create({ ranks: 2, embeddings: 'replicated', backend: 'nccl' }).sessionOptions!({
        backend: 'pytorch',
        session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} },
      }),
    ).toThrow('nccl runs on GPUs');
  });
});
