/**
 * The kernel-fusion plugin's fused graph against the plain graph, on real HellaSwag requests: each fusion
 * alone and all together, in each layout the backend runs (plain causal, key/value cache with reordered keys,
 * tree mask), on the embedded tiny model (grouped-query: 4 heads, 2 key/value heads) and on the same shape
 * without grouped-query attention. No mocks: real graphs, real ONNX Runtime sessions.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import kernelFusion from '../../plugins/kernel-fusion/index.js';
import { documentBatches } from '../../plugins/prefix-sharing/index.js';
import { OnnxBackend } from '../../src/backends/onnx/backend.js';
import type { JsonValue, TokenAnswer, TokenRequest } from '../../src/core/backend.js';
import { defaultCorpus, ensureDefaultModel } from '../../src/evaluators/inference/embedded-default.js';
import { OptibenchError } from '../../src/core/errors.js';
import { loadPlugins } from '../../src/evaluators/inference/plugins.js';
import { buildPlan } from '../../src/evaluators/inference/plan.js';
import { lengthSortedBatches } from '../../src/evaluators/inference/schedule.js';
import { selectSubset } from '../../src/core/subset.js';
import { parseOnnxBuildExtra } from '../../src/models/llama/graph/build-settings.js';
import { FUSION_OPERATORS, type FusionSettings } from '../../src/models/llama/graph/fused.js';
import { PRESETS, generateLlama } from '../../src/models/llama/generate.js';
import { readLlamaConfig } from '../../src/models/llama/hf-model.js';
import { hellaswagTask } from '../../src/tasks/hellaswag/index.js';
import { loadTokenizer } from '../../src/tokenizers/tokenizer.js';
import { HELLASWAG_FULL, sharedFile } from '../helpers/shared.js';

type Layout = 'plain' | 'kvCache' | 'treeMask';

const NONE: FusionSettings = { rmsNorm: false, skipRmsNorm: false, rotary: false, attention: 'none', projections: false, scoredLogSoftmax: false };
const ALL: FusionSettings = { rmsNorm: true, skipRmsNorm: true, rotary: true, attention: 'mha', projections: true, scoredLogSoftmax: true };

/** Each fusion alone, then all together; with the operators the facts must name. */
const FUSION_CASES: [string, FusionSettings, string[]][] = [
  ['rmsNorm', { ...NONE, rmsNorm: true }, [FUSION_OPERATORS.rmsNorm]],
  ['skipRmsNorm', { ...NONE, skipRmsNorm: true }, [FUSION_OPERATORS.skipRmsNorm]],
  ['rotary', { ...NONE, rotary: true }, [FUSION_OPERATORS.rotary]],
  ['attention', { ...NONE, attention: 'mha' }, [FUSION_OPERATORS.attention]],
  ['projections', { ...NONE, projections: true }, [FUSION_OPERATORS.projections]],
  ['scoredLogSoftmax', { ...NONE, scoredLogSoftmax: true }, [FUSION_OPERATORS.scoredLogSoftmax]],
  ['all', ALL, Object.values(FUSION_OPERATORS)],
];

interface Run {
  byId: Map<number, TokenAnswer>;
  facts: { [key: string]: JsonValue };
}

let cacheDir: string;
let docs: Awaited<ReturnType<typeof hellaswagTask.load>>;

beforeAll(async () => {
  cacheDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'optibench-fusion-')), 'cache');
  docs = selectSubset(await hellaswagTask.load(sharedFile(HELLASWAG_FULL)), 40, 3);
});

async function requestsFor(modelDir: string): Promise<TokenRequest[]> {
  const config = await readLlamaConfig(modelDir);
  return [...buildPlan(hellaswagTask, docs, await loadTokenizer(modelDir), config.max_position_embeddings).requests];
}

function layoutExtra(layout: Layout): { kvCache: boolean; treeMask: boolean } {
  return { kvCache: layout === 'kvCache', treeMask: layout === 'treeMask' };
}

function batchesFor(layout: Layout, requests: readonly TokenRequest[]): TokenRequest[][] {
  return layout === 'plain' ? lengthSortedBatches(requests, 8) : documentBatches(requests, 2);
}

async function run(modelDir: string, extra: { [key: string]: JsonValue }, batches: readonly TokenRequest[][], dtype: 'fp32' | 'fp16' = 'fp32'): Promise<Run> {
  const backend = new OnnxBackend();
  const info = await backend.load({
    modelDir,
    build: { dtype, extra },
    session: { executionProvider: 'cpu', intraOpThreads: 0, interOpThreads: 1, extra: {} },
    cacheDir,
  });
  const byId = new Map<number, TokenAnswer>();
  try {
    for (const batch of batches) for (const answer of (await backend.loglikelihood(batch)).answers) byId.set(answer.id, answer);
  } finally {
    await backend.close();
  }
  return { byId, facts: info.details };
}

function maxDifference(requests: readonly TokenRequest[], a: Run, b: Run): number {
  return Math.max(...requests.map((r) => Math.abs(a.byId.get(r.id)!.logprob - b.byId.get(r.id)!.logprob)));
}

/** Per document, the choice with the highest summed log-probability (acc's prediction). */
function predictions(requests: readonly TokenRequest[], run: Run): number[] {
  const byDoc = new Map<number, number[]>();
  for (const r of requests) byDoc.set(r.group, [...(byDoc.get(r.group) ?? []), run.byId.get(r.id)!.logprob]);
  return [...byDoc.values()].map((lls) => lls.indexOf(Math.max(...lls)));
}

const MODELS: [string, (dir: string) => Promise<string>][] = [
  ['the embedded tiny model (grouped-query: 4 heads, 2 key/value heads)', (dir) => ensureDefaultModel(dir)],
  [
    'the tiny shape without grouped-query attention (4 heads, 4 key/value heads)',
    async (dir) => {
      const modelDir = path.join(dir, 'models', 'tiny-mha');
      await generateLlama(modelDir, { shape: { ...PRESETS.tiny, numKeyValueHeads: PRESETS.tiny.numHeads }, seed: 11, corpus: await defaultCorpus() });
      return modelDir;
    },
  ],
];

describe.each(MODELS)('fused equals plain (fp32, real HellaSwag requests): %s', (_, makeModel) => {
  let modelDir: string;
  let requests: TokenRequest[];

  beforeAll(async () => {
    modelDir = await makeModel(cacheDir);
    requests = await requestsFor(modelDir);
  });

  it.each(['plain', 'kvCache', 'treeMask'] as Layout[])(
    '%s layout: each fusion alone and all together within 1e-4, same predictions and greedy flags, facts naming the fusions',
    async (layout) => {
      const batches = batchesFor(layout, requests);
      const plain = await run(modelDir, layoutExtra(layout), batches);
      expect(plain.facts.fusions).toBeUndefined();
      const cases: [string, { [key: string]: JsonValue }, string[]][] = FUSION_CASES.map(([name, fusions, applied]) => [
        name,
        { ...layoutExtra(layout), fusions: { ...fusions } },
        applied,
      ]);
      // All fusions with the head on the scored positions only (the last add + norm runs on gathered rows).
      // (The log-softmax then runs on the scored rows anyway: scoredLogSoftmax has nothing left to do.)
      cases.push([
        'all, head pruned',
        { ...layoutExtra(layout), head: 'scored', fusions: { ...ALL } },
        Object.values(FUSION_OPERATORS).filter((op) => op !== FUSION_OPERATORS.scoredLogSoftmax),
      ]);
      for (const [name, extra, applied] of cases) {
        const fused = await run(modelDir, extra, batches);
        const difference = maxDifference(requests, plain, fused);
        expect([name, difference]).toEqual([name, expect.any(Number)]);
        expect(difference).toBeLessThan(1e-4);
        // Row-wise: the scored rows' log-softmax is the same computation on the same numbers, bit for bit.
        if (name === 'scoredLogSoftmax') expect(difference).toBe(0);
        expect(predictions(requests, fused)).toEqual(predictions(requests, plain));
        expect(requests.map((r) => fused.byId.get(r.id)!.isGreedy)).toEqual(requests.map((r) => plain.byId.get(r.id)!.isGreedy));
        expect([name, [...(fused.facts.fusions as string[])].sort()]).toEqual([name, [...applied].sort()]);
        expect(fused.facts.fusionNotes).toBeUndefined();
      }
    },
  );

  it('the fully fused graph holds one fused operator per norm, rotary and attention, and no plain softmax or RMSNorm', async () => {
    const config = await readLlamaConfig(modelDir);
    const layers = config.num_hidden_layers;
    const fused = await run(modelDir, { fusions: { ...ALL } }, [requests.slice(0, 4)]);
    const operators = fused.facts.operators as Record<string, number>;
    expect(operators.SimplifiedLayerNormalization).toBe(1);
    // Per layer: after attention and before the next layer's attention (the last before the head).
    expect(operators['com.microsoft.SkipSimplifiedLayerNormalization']).toBe(2 * layers);
    expect(operators['com.microsoft.RotaryEmbedding']).toBe(2 * layers);
    expect(operators['com.microsoft.MultiHeadAttention']).toBe(layers);
    expect(operators.Softmax).toBeUndefined();
    expect(operators.ReduceMean).toBeUndefined();
    expect(operators.Sqrt).toBeUndefined();
    // Per layer: q/k/v as one MatMul, gate/up as one, o and down; and the LM head.
    expect(operators.MatMul).toBe(4 * layers + 1);
    expect(operators.Split).toBe(2 * layers);
  });

  it.each([
    ['dynamic int8', { mode: 'dynamic-int8' }],
    ['weight-only 4-bit', { mode: 'weight-only', bits: 4, blockSize: 32 }],
  ])('fused projections with %s quantization: the same answers as quantized separate projections (per-channel and per-block scales do not change when weights are stacked)', async (_, quantization) => {
    const batches = batchesFor('plain', requests);
    const separate = await run(modelDir, { quantization }, batches);
    const stacked = await run(modelDir, { quantization, fusions: { ...NONE, projections: true } }, batches);
    expect(maxDifference(requests, separate, stacked)).toBeLessThan(1e-5);
    expect(predictions(requests, stacked)).toEqual(predictions(requests, separate));
  });
});

describe('fp16', () => {
  it('the fused fp16 graph runs on CPU, as close to the fp32 plain graph as the plain fp16 graph is; attention runs in float32 and says so', async () => {
    const modelDir = await ensureDefaultModel(cacheDir);
    const requests = await requestsFor(modelDir);
    const batches = batchesFor('plain', requests);
    const reference = await run(modelDir, {}, batches, 'fp32');
    const plain16 = await run(modelDir, {}, batches, 'fp16');
    const fused16 = await run(modelDir, { fusions: { ...ALL } }, batches, 'fp16');
    const plainError = maxDifference(requests, reference, plain16);
    const fusedError = maxDifference(requests, reference, fused16);
    expect([plainError, fusedError]).toEqual([expect.any(Number), expect.any(Number)]);
    expect(fusedError).toBeLessThan(Math.max(2 * plainError, 1e-3));
    expect(fusedError).toBeLessThan(0.1);
    const agree = predictions(requests, fused16).filter((p, i) => p === predictions(requests, reference)[i]).length;
    const agreePlain = predictions(requests, plain16).filter((p, i) => p === predictions(requests, reference)[i]).length;
    expect(agree).toBeGreaterThanOrEqual(Math.min(agreePlain, docs.length) - 1);
    expect([...(fused16.facts.fusions as string[])].sort()).toEqual([...Object.values(FUSION_OPERATORS)].sort());
    expect(fused16.facts.fusionNotes).toEqual([expect.stringMatching(/^MultiHeadAttention runs in float32/)]);
  });
});

describe('the kernel-fusion plugin', () => {
  async function loadError(options: unknown, others: string[] = []): Promise<string> {
    const error = await loadPlugins([...others, { name: 'kernel-fusion', options: options as never }], 'onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptibenchError);
    return (error as OptibenchError).oneLine();
  }

  it('defaults to every fusion but the stacked projections and optimisation level "all", and sets the build and session settings', async () => {
    const [plugin] = await loadPlugins(['kernel-fusion'], 'onnx');
    const DEFAULTS = { ...ALL, projections: false };
    expect(plugin!.options).toEqual({ ...DEFAULTS, graphOptimizationLevel: 'all' });
    const build = { dtype: 'fp32' as const, extra: {} };
    const model = { hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, vocabSize: 512 };
    plugin!.hooks.modelBuild!({ backend: 'onnx', model, build });
    expect(build.extra).toEqual({ fusions: DEFAULTS });
    // What the plugin writes is what the builder accepts.
    expect(parseOnnxBuildExtra(build.extra).fusions).toEqual(DEFAULTS);
    const session = { executionProvider: 'cpu' as const, intraOpThreads: 0, interOpThreads: 1, extra: {} };
    plugin!.hooks.sessionOptions!({ backend: 'onnx', session });
    expect(session.extra).toEqual({ graphOptimizationLevel: 'all' });
    expect(plugin!.hooks.describe!()).toEqual({ requested: DEFAULTS, graphOptimizationLevel: 'all' });
  });

  it('takes a subset of the fusions and another optimisation level', async () => {
    const [plugin] = await loadPlugins([{ name: 'kernel-fusion', options: { attention: 'none', rotary: false, graphOptimizationLevel: 'disabled' } }], 'onnx');
    const build = { dtype: 'fp32' as const, extra: {} };
    plugin!.hooks.modelBuild!({ backend: 'onnx', model: { hiddenSize: 64, intermediateSize: 172, numLayers: 2, numHeads: 4, numKeyValueHeads: 2, vocabSize: 512 }, build });
    expect(build.extra).toEqual({ fusions: { rmsNorm: true, skipRmsNorm: true, rotary: false, attention: 'none', projections: false, scoredLogSoftmax: true } });
    expect(plugin!.hooks.describe!()).toMatchObject({ graphOptimizationLevel: 'disabled' });
  });

  it('refuses unknown values, unknown keys and a configuration that fuses nothing', async () => {
    expect(await loadError({ attention: 'gqa' })).toMatch(/^plugins\[0\]\.options\.attention: Invalid option/);
    expect(await loadError({ graphOptimizationLevel: 'max' })).toMatch(/^plugins\[0\]\.options\.graphOptimizationLevel: Invalid option/);
    expect(await loadError({ fuseEverything: true })).toMatch(/fuseEverything/);
    expect(await loadError({ rmsNorm: 'yes' })).toMatch(/^plugins\[0\]\.options\.rmsNorm: /);
    expect(await loadError({ rmsNorm: false, skipRmsNorm: false, rotary: false, attention: 'none', projections: false, scoredLogSoftmax: false })).toMatch(/no fusion chosen/);
  });

  it('refuses to run with onnx-session, which sets the same optimisation level, in either order', async () => {
    expect(await loadError({}, ['onnx-session'])).toMatch(/plugins "onnx-session" and "kernel-fusion" cannot run together: .*graphOptimizationLevel/);
    const error = await loadPlugins(['kernel-fusion', 'onnx-session'], 'onnx').catch((e: unknown) => e);
    expect((error as OptibenchError).oneLine()).toMatch(/cannot run together/);
  });

  it('the builder refuses a malformed fusions setting', () => {
    expect(() => parseOnnxBuildExtra({ fusions: { attention: 'flash' } })).toThrow(/fusions\.attention/);
    expect(() => parseOnnxBuildExtra({ fusions: { layerNorm: true } })).toThrow(OptibenchError);
    expect(kernelFusion.name).toBe('kernel-fusion');
  });
});
