/**
 * The plain LLaMA forward in standard ONNX operators, as Hugging Face computes it: RMSNorm in float32,
 * rotary embeddings in the rotate-half convention with float32 angles, softmax in float32, grouped-query
 * attention by repeating key/value heads.
 */
import { ElemType, attr } from '../../onnx-builder.js';
import type { LlamaConfig } from '../hf-model.js';
import { shared, toFloat, toModel, type BuildContext } from './context.js';
import type { AttentionInput, AttentionOutput, AttentionPart, GraphParts, LinearPart, LinearWeight, NormPart } from './parts.js';

export const plainLinear: LinearPart = {
  async prepare(ctx, name) {
    const initializer = await ctx.weights.float(name, ctx.T, true);
    const [outFeatures, inFeatures] = weightShape(ctx.config, name);
    return { names: { weight: initializer }, inFeatures, outFeatures };
  },
  apply(ctx, x, weight: LinearWeight) {
    return ctx.g.op('MatMul', [x, weight.names.weight!]);
  },
};

export const plainNorm: NormPart = {
  rmsNorm(ctx, x, weight) {
    const { g } = ctx;
    return g.within('rms_norm', () => {
      const xf = toFloat(ctx, x);
      const meanSquare = g.op('ReduceMean', [g.op('Mul', [xf, xf])], { axes: attr.ints([-1]), keepdims: attr.int(1) });
      const eps = g.scalar(ElemType.FLOAT, ctx.config.rms_norm_eps);
      const inverseRms = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, eps])])]);
      return g.op('Mul', [weight, toModel(ctx, g.op('Mul', [xf, inverseRms]))]);
    });
  },
  addAndNorm(ctx, residual, x, weight) {
    const sum = ctx.g.op('Add', [residual, x]);
    return { sum, normed: plainNorm.rmsNorm(ctx, sum, weight) };
  },
};

/** Rotary tables as Hugging Face computes them: frequencies and angles in float32. */
export function rotaryTables(config: LlamaConfig): { cos: Float32Array; sin: Float32Array } {
  const dim = config.head_dim;
  const half = dim / 2;
  const positions = config.max_position_embeddings;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = Math.fround(1 / Math.fround(config.rope_theta ** Math.fround((2 * i) / dim)));
  const cos = new Float32Array(positions * dim);
  const sin = new Float32Array(positions * dim);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(p * invFreq[i]!);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * dim + i] = c;
      cos[p * dim + i + half] = c;
      sin[p * dim + i] = s;
      sin[p * dim + i + half] = s;
    }
  }
  return { cos, sin };
}

/** cos and sin for the current positions, [batch, 1, seq, head_dim], built once per graph. */
function rotaryAt(ctx: BuildContext): [string, string] {
  const { g, config } = ctx;
  const make = (which: 'cos' | 'sin') =>
    shared(ctx, `rotary.${which}`, () =>
      g.within('rotary', () => {
        const table = g.constant(ctx.T, [config.max_position_embeddings, config.head_dim], rotaryTables(config)[which]);
        return g.op('Unsqueeze', [g.op('Gather', [table, ctx.positions], { axis: attr.int(0) }), g.int64s([1])]);
      }),
    );
  return [make('cos'), make('sin')];
}

/** x [batch, heads, seq, head_dim] rotated by its positions (rotate-half convention). */
export function applyRotary(ctx: BuildContext, x: string): string {
  const { g } = ctx;
  const hd = ctx.config.head_dim;
  const [cos, sin] = rotaryAt(ctx);
  const firstHalf = g.op('Slice', [x, g.int64s([0]), g.int64s([hd / 2]), g.int64s([3])]);
  const secondHalf = g.op('Slice', [x, g.int64s([hd / 2]), g.int64s([hd]), g.int64s([3])]);
  const rotated = g.op('Concat', [g.op('Neg', [secondHalf]), firstHalf], { axis: attr.int(3) });
  return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
}

/** [batch, seq, heads * head_dim] -> [batch, heads, seq, head_dim] */
export function splitHeads(ctx: BuildContext, x: string, heads: number): string {
  const { g } = ctx;
  return g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, ctx.config.head_dim])])], { perm: attr.ints([0, 2, 1, 3]) });
}

export const plainAttention: AttentionPart = {
  attend(ctx: BuildContext, input: AttentionInput): AttentionOutput {
    const { config } = ctx;
    const q = applyRotary(ctx, splitHeads(ctx, input.q, config.num_attention_heads));
    const k = applyRotary(ctx, splitHeads(ctx, input.k, config.num_key_value_heads));
    return attendRotated(ctx, q, k, splitHeads(ctx, input.v, config.num_key_value_heads), input);
  },
};

/** [batch, kv_heads, slots, head_dim] -> [batch, heads, slots, head_dim], each key/value head repeated for its group. */
export function repeatKv(ctx: BuildContext, x: string): string {
  const { g, config } = ctx;
  const nh = config.num_attention_heads;
  const nkv = config.num_key_value_heads;
  if (nkv === nh) return x;
  const expanded = g.op('Expand', [g.op('Unsqueeze', [x, g.int64s([2])]), g.int64s([1, 1, nh / nkv, 1, 1])]);
  return g.op('Reshape', [expanded, g.int64s([0, nh, -1, config.head_dim])]);
}

/**
 * Scaled dot-product attention from standard operators on already rotated heads ([batch, heads, seq, head_dim]
 * queries, [batch, kv_heads, seq, head_dim] keys and values), with the past keys and values appended first.
 */
export function attendRotated(ctx: BuildContext, q: string, kRotated: string, vHeads: string, input: AttentionInput): AttentionOutput {
  const { g, config } = ctx;
  let k = kRotated;
  let v = vHeads;
  let presentKey: string | undefined;
  let presentValue: string | undefined;
  if (input.pastKey && input.pastValue) {
    presentKey = k = g.op('Concat', [input.pastKey, k], { axis: attr.int(2) });
    presentValue = v = g.op('Concat', [input.pastValue, v], { axis: attr.int(2) });
    k = inKeyOrder(ctx, k);
    v = inKeyOrder(ctx, v);
  }
  const scale = shared(ctx, 'attention.scale', () => g.scalar(ctx.T, 1 / Math.sqrt(config.head_dim)));
  const lowest = shared(ctx, 'attention.lowest', () => g.scalar(ElemType.FLOAT, -3.4028234663852886e38));
  const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [repeatKv(ctx, k)], { perm: attr.ints([0, 1, 3, 2]) })]), scale]);
  // Softmax in float32 even for fp16 models, as Hugging Face does.
  const probs = toModel(ctx, g.op('Softmax', [g.op('Where', [ctx.allowed, toFloat(ctx, scores), lowest])], { axis: attr.int(-1) }));
  const context = g.op('Transpose', [g.op('MatMul', [probs, repeatKv(ctx, v)])], { perm: attr.ints([0, 2, 1, 3]) });
  const output = g.op('Reshape', [context, g.int64s([0, 0, config.hidden_size])]);
  return presentKey && presentValue ? { output, presentKey, presentValue } : { output };
}

/** [batch, kv_heads, slots, head_dim] rearranged along the slots by `key_order` (see onnx-graph.ts). */
export function inKeyOrder(ctx: BuildContext, x: string): string {
  const { g } = ctx;
  const order = shared(ctx, 'key_order.indices', () => g.op('Unsqueeze', [ctx.keyOrder!, g.int64s([2])]));
  const bySlot = g.op('Transpose', [x], { perm: attr.ints([0, 2, 1, 3]) });
  const picked = g.op('GatherND', [bySlot, order], { batch_dims: attr.int(1) });
  return g.op('Transpose', [picked], { perm: attr.ints([0, 2, 1, 3]) });
}

export const PLAIN_PARTS: GraphParts = { linear: plainLinear, norm: plainNorm, attention: plainAttention };

/** [out, in] of a linear weight, from the config (no file read). */
export function weightShape(config: LlamaConfig, name: string): [number, number] {
  const h = config.hidden_size;
  const kv = config.num_key_value_heads * config.head_dim;
  const m = config.intermediate_size;
  // Fused projections (WeightWriter.fuse): the stacked weights of one MatMul.
  if (name.endsWith('qkv_proj.weight')) return [h + 2 * kv, h];
  if (name.endsWith('gate_up_proj.weight')) return [2 * m, h];
  if (name.endsWith('q_proj.weight') || name.endsWith('o_proj.weight')) return [h, h];
  if (name.endsWith('k_proj.weight') || name.endsWith('v_proj.weight')) return [kv, h];
  if (name.endsWith('gate_proj.weight') || name.endsWith('up_proj.weight')) return [m, h];
  if (name.endsWith('down_proj.weight')) return [h, m];
  if (name === 'lm_head.weight' || name === 'model.embed_tokens.weight') return [config.vocab_size, h];
  throw new Error(`not a linear weight: ${name}`);
}
