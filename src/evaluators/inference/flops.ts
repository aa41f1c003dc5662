/**
 * Floating-point work of the LLaMA forward, from the model config and the run's token counts. Weight
 * matmuls only: a multiply-add per weight per token is 2 FLOPs, so
 *
 *   FLOPs = 2 x L x (q + k + v + o + MLP weights per layer) x tokens   +   2 x hidden x vocab x headPositions
 *
 * with q = o = hidden x (heads x headDim), k = v = hidden x (kvHeads x headDim), MLP = 3 x hidden x
 * intermediate (gate, up, down). `tokens` is the run's tokensThroughModel (padding excluded: padded positions
 * are wasted work, not achieved work). `headPositions` is every computed position when the LM head runs
 * everywhere (lm-eval's way), and the scored positions (the continuation tokens) with head-pruning; with
 * prefix-sharing as well, the continuation tokens all endings share are scored once, so this is an upper
 * bound there. Attention scores (QK^T, AV; about 4 x seq x hidden per token per layer), norms, rotary
 * embeddings and the softmax are left out: about 2 % for the medium model (hidden 768) on HellaSwag's
 * ~100-token requests, but a quarter of the tiny model's work, whose layers are only 64 wide.
 */
import type { InferenceResult } from './results.js';

export interface ForwardShape {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly headDim: number;
  readonly vocabSize: number;
}

export function shapeFromConfig(config: Record<string, unknown>): ForwardShape {
  const num = (key: string): number => {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error(`model config lacks a numeric "${key}"`);
    return value;
  };
  const hiddenSize = num('hidden_size');
  const numHeads = num('num_attention_heads');
  return {
    hiddenSize,
    intermediateSize: num('intermediate_size'),
    numLayers: num('num_hidden_layers'),
    numHeads,
    numKeyValueHeads: typeof config.num_key_value_heads === 'number' ? config.num_key_value_heads : numHeads,
    headDim: typeof config.head_dim === 'number' ? config.head_dim : hiddenSize / numHeads,
    vocabSize: num('vocab_size'),
  };
}

/** Attention and MLP weight parameters of all layers (embeddings, norms and the LM head excluded). */
export function layerWeightParameters(s: ForwardShape): number {
  const attention = 2 * s.hiddenSize * s.numHeads * s.headDim + 2 * s.hiddenSize * s.numKeyValueHeads * s.headDim;
  const mlp = 3 * s.hiddenSize * s.intermediateSize;
  return s.numLayers * (attention + mlp);
}

export function forwardFlops(s: ForwardShape, tokens: number, headPositions: number): number {
  return 2 * layerWeightParameters(s) * tokens + 2 * s.hiddenSize * s.vocabSize * headPositions;
}

export interface RunFlops {
  readonly tokens: number;
  readonly headPositions: number;
  readonly headAt: 'all' | 'scored';
  /** FLOPs of one measured pass. */
  readonly flops: number;
  /** Over the median inference time; null when it was not measured. */
  readonly gflopsPerSecond: number | null;
}

export function runFlops(results: InferenceResult): RunFlops {
  const shape = shapeFromConfig(results.payload.model.config);
  const extra = results.payload.backend.build.extra as { head?: unknown } | null | undefined;
  const headAt = extra?.head === 'scored' ? 'scored' : 'all';
  const tokens = results.payload.throughput.tokensThroughModel;
  const scored = results.payload.items.reduce((sum, item) => sum + item.continuationTokens.reduce((a, b) => a + b, 0), 0);
  const headPositions = headAt === 'scored' ? scored : tokens;
  const flops = forwardFlops(shape, tokens, headPositions);
  const ms = results.timings.inference.medianMs;
  return { tokens, headPositions, headAt, flops, gflopsPerSecond: ms ? flops / (ms / 1000) / 1e9 : null };
}
