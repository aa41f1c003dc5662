/**
 * The pieces of the LLaMA forward that optimizations replace, each behind a small interface: how a linear
 * layer stores and applies its weight (plain, quantized), how RMSNorm and the residual add are done (plain,
 * fused), and how attention is computed (plain, fused). The graph skeleton in onnx-graph.ts calls only these.
 */
import type { BuildContext } from './context.js';

export interface LinearWeight {
  /** Whatever the implementation needs at apply time (initializer names, shapes). */
  readonly names: Record<string, string>;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface LinearPart {
  /** Streams the checkpoint weight `name` ([out, in]) into the graph in this implementation's form. */
  prepare(ctx: BuildContext, name: string): Promise<LinearWeight>;
  /** x [..., in] -> [..., out] in the model's float type. */
  apply(ctx: BuildContext, x: string, weight: LinearWeight): string;
}

export interface NormPart {
  rmsNorm(ctx: BuildContext, x: string, weight: string): string;
  /** residual + x, and RMSNorm of that sum (one fused kernel where available). */
  addAndNorm(ctx: BuildContext, residual: string, x: string, weight: string): { sum: string; normed: string };
}

export interface AttentionInput {
  readonly layer: number;
  /** [batch, seq, heads * head_dim] projections. */
  readonly q: string;
  readonly k: string;
  readonly v: string;
  /** With a key/value cache: [batch, kv_heads, past, head_dim], already picked per batch row. */
  readonly pastKey?: string;
  readonly pastValue?: string;
}

export interface AttentionOutput {
  /** [batch, seq, hidden]. */
  readonly output: string;
  /** With a key/value cache: [batch, kv_heads, past + seq, head_dim], rotary already applied to keys. */
  readonly presentKey?: string;
  readonly presentValue?: string;
}

export interface AttentionPart {
  attend(ctx: BuildContext, input: AttentionInput): AttentionOutput;
}

export interface GraphParts {
  readonly linear: LinearPart;
  readonly norm: NormPart;
  readonly attention: AttentionPart;
}
