/**
 * Fused implementations of the norm and attention parts in ONNX Runtime's contrib operators (the
 * kernel-fusion plugin), each chosen by the `fusions` build setting:
 *
 * - `rmsNorm`: RMSNorm as `SimplifiedLayerNormalization` (ONNX domain, ORT's contrib schema since 1;
 *   float32 statistics through `stash_type: 1`).
 * - `skipRmsNorm`: the residual add and the RMSNorm after it as `com.microsoft.SkipSimplifiedLayerNormalization`
 *   (input = residual, skip = x; output 0 is the norm, output 3 the sum).
 * - `rotary`: rotary embeddings as `com.microsoft.RotaryEmbedding` (rotate-half, `interleaved: 0`), with cos and
 *   sin caches of [max_positions, head_dim / 2] taken from Hugging Face's float32 tables and the graph's
 *   `position_ids`.
 * - `attention: "mha"`: scaled dot-product attention as `com.microsoft.MultiHeadAttention`, the mask given as
 *   an additive `attention_bias` [batch, 1, seq, total] (0 where `ctx.allowed`, the float type's lowest value
 *   where not) built once per graph, so the causal, key/value-cache (reordered keys) and tree layouts all keep
 *   working. Grouped-query models repeat their key/value heads before it (see `attend`).
 *
 * Every applied fusion is recorded in the `fusions` fact; a fusion that is asked for but not applied is
 * recorded, with its reason, in `fusionFallbacks`.
 */
import { z } from 'zod';
import { ElemType, attr } from '../../onnx-builder.js';
import { recordFact, shared, toFloat, toModel, type BuildContext } from './context.js';
import type { AttentionInput, AttentionOutput, AttentionPart, NormPart } from './parts.js';
import { applyRotary, attendRotated, inKeyOrder, plainAttention, plainNorm, repeatKv, rotaryTables, splitHeads } from './plain.js';

/** The `fusions` build setting: which parts are built from fused operators (nothing unless named). */
export const fusionSettingsSchema = z.strictObject({
  /** RMSNorm -> SimplifiedLayerNormalization. */
  rmsNorm: z.boolean().default(false),
  /** residual add + RMSNorm -> com.microsoft.SkipSimplifiedLayerNormalization. */
  skipRmsNorm: z.boolean().default(false),
  /** rotary embeddings of queries and keys -> com.microsoft.RotaryEmbedding. */
  rotary: z.boolean().default(false),
  /** attention -> com.microsoft.MultiHeadAttention with an additive mask (`mha`), or the plain operators (`none`). */
  attention: z.enum(['none', 'mha']).default('none'),
  /**
   * The query, key and value projections as one MatMul over their stacked weights, and the gate and up
   * projections as another, each split after: fewer, wider matmuls, and with dynamic int8 one activation
   * quantization instead of three (or two).
   */
  projections: z.boolean().default(false),
  /**
   * With the head at every position (lm-eval's way), the log-softmax over the vocabulary only at the scored
   * positions: the logits are gathered first and LogSoftmax runs on those rows. It is row-wise, so each scored
   * row gets the same numbers; the rows nobody reads are not computed. (The LM head's matmul still runs at
   * every position: skipping that is head-pruning's.)
   */
  scoredLogSoftmax: z.boolean().default(false),
});

export type FusionSettings = z.infer<typeof fusionSettingsSchema>;

/** The names the `fusions` fact uses for each setting. */
export const FUSION_OPERATORS = {
  rmsNorm: 'SimplifiedLayerNormalization',
  skipRmsNorm: 'SkipSimplifiedLayerNormalization',
  rotary: 'RotaryEmbedding',
  attention: 'MultiHeadAttention',
  projections: 'fused projections (qkv, gate+up)',
  scoredLogSoftmax: 'LogSoftmax at the scored positions',
} as const;

const MS = 'com.microsoft';

export function fusedNorm(settings: FusionSettings): NormPart {
  if (!settings.rmsNorm && !settings.skipRmsNorm) return plainNorm;
  const norm: NormPart = {
    rmsNorm(ctx, x, weight) {
      if (!settings.rmsNorm) return plainNorm.rmsNorm(ctx, x, weight);
      recordFact(ctx, 'fusions', FUSION_OPERATORS.rmsNorm);
      return ctx.g.op('SimplifiedLayerNormalization', [x, weight], {
        axis: attr.int(-1),
        epsilon: attr.float(ctx.config.rms_norm_eps),
        // Mean square and its inverse root in float32 even for fp16 models, as the plain part computes them.
        stash_type: attr.int(1),
      });
    },
    addAndNorm(ctx, residual, x, weight) {
      if (!settings.skipRmsNorm) {
        const sum = ctx.g.op('Add', [residual, x]);
        return { sum, normed: norm.rmsNorm(ctx, sum, weight) };
      }
      recordFact(ctx, 'fusions', FUSION_OPERATORS.skipRmsNorm);
      // Outputs: the norm, mean and inverse std (unused), and input + skip.
      const [normed, , , sum] = ctx.g.node('SkipSimplifiedLayerNormalization', [residual, x, weight], { epsilon: attr.float(ctx.config.rms_norm_eps) }, { domain: MS, outputs: 4 });
      return { sum: sum!, normed: normed! };
    },
  };
  return norm;
}

/** cos and sin caches [max_positions, head_dim / 2] in the model's float type, built once per graph. */
function rotaryCaches(ctx: BuildContext): [string, string] {
  const { g, config } = ctx;
  const make = (which: 'cos' | 'sin') =>
    shared(ctx, `fused.rotary.${which}`, () => {
      const full = rotaryTables(config)[which];
      const dim = config.head_dim;
      const half = dim / 2;
      const cache = new Float32Array(config.max_position_embeddings * half);
      // The plain tables repeat each row's first half in its second (rotate-half): the cache keeps one half.
      for (let p = 0; p < config.max_position_embeddings; p++) cache.set(full.subarray(p * dim, p * dim + half), p * half);
      return g.constant(ctx.T, [config.max_position_embeddings, half], cache);
    });
  return [make('cos'), make('sin')];
}

/** x [batch, seq, heads * head_dim] or [batch, heads, seq, head_dim] rotated by its positions, fused. */
function rotaryEmbedding(ctx: BuildContext, x: string, heads: number): string {
  recordFact(ctx, 'fusions', FUSION_OPERATORS.rotary);
  const [cos, sin] = rotaryCaches(ctx);
  return ctx.g.op('RotaryEmbedding', [x, ctx.positions, cos, sin], { interleaved: attr.int(0), num_heads: attr.int(heads) }, MS);
}

/** [batch, heads, seq, head_dim] -> [batch, seq, heads * head_dim] */
function mergeHeads(ctx: BuildContext, x: string, heads: number): string {
  const { g } = ctx;
  return g.op('Reshape', [g.op('Transpose', [x], { perm: attr.ints([0, 2, 1, 3]) }), g.int64s([0, 0, heads * ctx.config.head_dim])]);
}

/**
 * The mask as an additive float32 bias [batch, 1, seq, total], built once per graph: 0 where attending is
 * allowed, float32's lowest (what the plain part masks with) where not.
 */
function attentionBias(ctx: BuildContext): string {
  const { g } = ctx;
  return shared(ctx, 'fused.attention.bias', () =>
    g.within('mask', () => g.op('Where', [ctx.allowed, g.scalar(ElemType.FLOAT, 0), g.scalar(ElemType.FLOAT, -3.4028234663852886e38)])),
  );
}

/**
 * Attention built from the chosen fusions. With `attention: "none"` it is the plain part's arithmetic (only the
 * rotary may be fused); with `"mha"` one MultiHeadAttention node per layer.
 *
 * Grouped-query models repeat their key/value heads (Expand + Reshape, as the plain part does) before
 * MultiHeadAttention rather than using GroupQueryAttention: GroupQueryAttention appends the current keys after
 * each row's past inside the kernel and masks causally by its own sequence lengths, which cannot express the
 * key/value cache's per-row key reordering; MultiHeadAttention with an additive bias serves all three layouts
 * with one code path and numbers the tests hold to the plain graph.
 */
export function fusedAttention(settings: FusionSettings): AttentionPart {
  if (!settings.rotary && settings.attention === 'none') return plainAttention;
  return {
    attend(ctx: BuildContext, input: AttentionInput): AttentionOutput {
      const { g, config } = ctx;
      const nh = config.num_attention_heads;
      const nkv = config.num_key_value_heads;
      const past = input.pastKey !== undefined && input.pastValue !== undefined;

      // Queries and keys rotated, as [batch, seq, heads * head_dim] (fused) or [batch, heads, seq, head_dim] (plain).
      const q3 = settings.rotary ? rotaryEmbedding(ctx, input.q, nh) : undefined;
      const k3 = settings.rotary ? rotaryEmbedding(ctx, input.k, nkv) : undefined;
      const qHeads = () => (q3 !== undefined ? splitHeads(ctx, q3, nh) : applyRotary(ctx, splitHeads(ctx, input.q, nh)));
      const kHeads = () => (k3 !== undefined ? splitHeads(ctx, k3, nkv) : applyRotary(ctx, splitHeads(ctx, input.k, nkv)));

      if (settings.attention === 'none') return attendRotated(ctx, qHeads(), kHeads(), splitHeads(ctx, input.v, nkv), input);

      recordFact(ctx, 'fusions', FUSION_OPERATORS.attention);
      const query = q3 ?? mergeHeads(ctx, qHeads(), nh);
      let key: string;
      let value: string;
      let presentKey: string | undefined;
      let presentValue: string | undefined;
      if (!past && nkv === nh && k3 !== undefined) {
        // Keys and values as they come ([batch, seq, hidden]): the kernel splits the heads itself.
        key = k3;
        value = input.v;
      } else {
        let k = kHeads();
        let v = splitHeads(ctx, input.v, nkv);
        if (past) {
          presentKey = k = g.op('Concat', [input.pastKey!, k], { axis: attr.int(2) });
          presentValue = v = g.op('Concat', [input.pastValue!, v], { axis: attr.int(2) });
          k = inKeyOrder(ctx, k);
          v = inKeyOrder(ctx, v);
        }
        // [batch, heads, total, head_dim]: MultiHeadAttention takes keys and values already split into heads.
        key = repeatKv(ctx, k);
        value = repeatKv(ctx, v);
      }
      if (ctx.T !== ElemType.FLOAT) {
        // ONNX Runtime's CPU kernel is float32 only: cast around it explicitly (what ORT would otherwise insert
        // unasked), which also keeps the softmax in float32 as Hugging Face computes it.
        recordFact(ctx, 'fusionNotes', 'MultiHeadAttention runs in float32 inside the fp16 graph (its CPU kernel is float32 only): casts around it');
      }
      // The kernel scales by 1 / sqrt(head_dim) by default and adds the bias to the scores before its softmax.
      const attended = g.op(
        'MultiHeadAttention',
        [toFloat(ctx, query), toFloat(ctx, key), toFloat(ctx, value), '', '', attentionBias(ctx)],
        { num_heads: attr.int(nh) },
        MS,
      );
      const output = toModel(ctx, attended);
      return presentKey && presentValue ? { output, presentKey, presentValue } : { output };
    },
  };
}
