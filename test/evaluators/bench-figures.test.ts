/**
 * The figures `optibench bench` derives: forward FLOPs (checked against LLaMA-7B's published parameter
 * count and by hand on the tiny shape), the representative batches, and the MatMul peak's graph (its
 * product checked against plain arithmetic) and tinybench figures.
 */
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TokenRequest } from '../../src/core/backend.js';
import type { InferenceResult } from '../../src/evaluators/inference/results.js';
import { forwardFlops, layerWeightParameters, runFlops, shapeFromConfig } from '../../src/evaluators/inference/flops.js';
import { representativeBatches, timeWithTinybench } from '../../src/evaluators/inference/micro.js';
import { filled, matmulModel, measureMatmulPeak } from '../../src/evaluators/inference/peak.js';
import { tinyRun } from './tiny-run.js';

describe('forward FLOPs', () => {
  it("LLaMA-7B: layer weights + embeddings + LM head + norms = the published 6,738,415,616 parameters", () => {
    const shape = shapeFromConfig({ hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, vocab_size: 32000 });
    // 32 x (4 x 4096^2 + 3 x 4096 x 11008) = 32 x 202,375,168.
    expect(layerWeightParameters(shape)).toBe(6_476_005_376);
    const embeddingAndHead = 2 * 32000 * 4096;
    const norms = 32 * 2 * 4096 + 4096;
    expect(layerWeightParameters(shape) + embeddingAndHead + norms).toBe(6_738_415_616);
  });

  it('the tiny shape with grouped-query attention, worked by hand', () => {
    const shape = shapeFromConfig({ hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, vocab_size: 512 });
    // q, o: 64 x 64 each; k, v: 64 x 32 each -> 12,288; MLP 3 x 64 x 172 = 33,024; per layer 45,312; two layers 90,624.
    expect(layerWeightParameters(shape)).toBe(90_624);
    // 10 tokens, head at 3 positions: 2 x 90,624 x 10 + 2 x 64 x 512 x 3 = 1,812,480 + 196,608.
    expect(forwardFlops(shape, 10, 3)).toBe(2_009_088);
  });

  describe('on real runs', () => {
    let plain: InferenceResult;
    let pruned: InferenceResult;
    beforeAll(async () => {
      plain = await tinyRun({ limit: 12 });
      pruned = await tinyRun({ limit: 12, plugins: ['head-pruning'] });
    });

    it('the LM head runs at every computed position without head-pruning', () => {
      const f = runFlops(plain);
      expect(f.headAt).toBe('all');
      expect(f.tokens).toBe(plain.payload.throughput.tokensThroughModel);
      expect(f.headPositions).toBe(plain.payload.throughput.tokensThroughModel);
      const shape = shapeFromConfig(plain.payload.model.config);
      expect(f.flops).toBe(forwardFlops(shape, f.tokens, f.tokens));
      expect(f.gflopsPerSecond).toBeCloseTo(f.flops / (plain.timings.inference.medianMs! / 1000) / 1e9, 9);
    });

    it('and only at the scored positions (the continuation tokens) with it', () => {
      const f = runFlops(pruned);
      expect(f.headAt).toBe('scored');
      const continuation = pruned.payload.items.flatMap((i) => i.continuationTokens).reduce((a, b) => a + b, 0);
      expect(f.headPositions).toBe(continuation);
      expect(f.headPositions).toBeLessThan(f.tokens);
      expect(f.flops).toBeLessThan(runFlops(plain).flops);
    });
  });
});

describe('representative batches', () => {
  const request = (id: number, length: number): TokenRequest => ({ id, group: id, context: Array(length).fill(1), continuation: [2] });
  // Tokens per batch (context + continuation - 1 per request): 30, 10, 50, 20, 40.
  const batches = [[request(0, 30)], [request(1, 10)], [request(2, 25), request(3, 25)], [request(4, 20)], [request(5, 40)]];

  it('the median-token batch and the longest', () => {
    expect(representativeBatches(batches)).toEqual([
      { batch: 'median', position: 0 },
      { batch: 'longest', position: 2 },
    ]);
  });

  it('one entry when they coincide; none for no batches', () => {
    expect(representativeBatches([batches[0]!])).toEqual([{ batch: 'median', position: 0 }]);
    expect(representativeBatches([])).toEqual([]);
  });
});

describe('the MatMul peak', () => {
  it('the one-node graph computes A x B', async () => {
    const shape = { m: 2, k: 3, n: 4 };
    const session = await ort.InferenceSession.create(matmulModel(shape));
    const a = filled(6, 1);
    const b = filled(12, 2);
    const out = await session.run({ a: new ort.Tensor('float32', a, [2, 3]) });
    const c = out.c!.data as Float32Array;
    expect(out.c!.dims).toEqual([2, 4]);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 4; j++) {
        let sum = 0;
        for (let k = 0; k < 3; k++) sum += a[i * 3 + k]! * b[k * 4 + j]!;
        expect(c[i * 4 + j]).toBeCloseTo(sum, 6);
      }
    }
    await session.release();
  });

  it('reports 2mkn FLOPs over the fastest sample (the peak), and over the p50 for reference', async () => {
    const peak = await measureMatmulPeak({ executionProvider: 'cpu', intraOpThreads: 2 }, { timeMs: 50, minSamples: 5 }, { m: 64, k: 128, n: 256 });
    expect(peak.flops).toBe(2 * 64 * 128 * 256);
    expect(peak.intraOpThreads).toBe(2);
    expect(peak.latency.samples).toBeGreaterThanOrEqual(5);
    expect(peak.latency.p50Ms).toBeGreaterThan(0);
    expect(peak.latency.p99Ms).toBeGreaterThanOrEqual(peak.latency.p50Ms);
    expect(peak.gflopsPerSecond).toBeCloseTo(peak.flops / (peak.latency.minMs / 1000) / 1e9, 9);
    expect(peak.p50GflopsPerSecond).toBeCloseTo(peak.flops / (peak.latency.p50Ms / 1000) / 1e9, 9);
    expect(peak.gflopsPerSecond).toBeGreaterThanOrEqual(peak.p50GflopsPerSecond!);
  });

  it('tinybench never runs two calls at once (a backend such as the PyTorch worker takes one request at a time)', async () => {
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    // A plain function returning a promise, as micro.ts passes `() => backend.loglikelihood(batch)`.
    const call = () => {
      calls++;
      most = Math.max(most, ++inFlight);
      return new Promise<void>((resolve) => setTimeout(() => resolve(void inFlight--), 1));
    };
    await timeWithTinybench('one at a time', call, { timeMs: 1, minSamples: 5 });
    expect(calls).toBeGreaterThanOrEqual(5);
    expect(most).toBe(1);
  });

  it('tinybench takes at least the minimum samples of an async function', async () => {
    let calls = 0;
    // At least 2 ms of real time per call: a plain setTimeout(2) may fire up to a millisecond early, since libuv
    // counts from the time cached at the start of the event-loop turn.
    const sleep = () =>
      new Promise((resolve) => {
        const until = performance.now() + 2;
        const check = () => (performance.now() >= until ? resolve(++calls) : setTimeout(check, 1));
        setTimeout(check, 2);
      });
    const latency = await timeWithTinybench('sleep', sleep, { timeMs: 1, minSamples: 4 });
    expect(latency.samples).toBeGreaterThanOrEqual(4);
    expect(calls).toBeGreaterThanOrEqual(latency.samples);
    expect(latency.minMs).toBeGreaterThanOrEqual(1.5);
  });
});
