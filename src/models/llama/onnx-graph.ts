/**
 * Builds the ONNX graph of a LLaMA forward pass from a Hugging Face directory, streaming the weights into
 * external data one tensor at a time (a 65 GB model is never in memory twice).
 *
 * Inputs ([batch, seq] unless said): `input_ids`, `position_ids`, `attention_mask` ([batch, past + seq]: which
 * key slots hold real tokens),
 * `score_positions` and `target_ids` ([batch, scored]: the positions whose next token is scored, and that
 * token). Outputs: `target_logprobs` and `target_is_greedy` ([batch, scored]): only [batch, scored] values
 * leave the session. The LM head runs at every position (lm-eval's way) or, with `head: "scored"`, only at
 * the scored ones.
 *
 * With `kvCache`, the graph also takes `past_rows` ([batch]: which row of the past each batch row continues),
 * `past.N.key|value` ([past_batch, kv_heads, past, head_dim]) and `key_order` ([batch, past + seq]: which
 * slot of concat(past, current) each key slot takes, so every row's keys sit in position order from slot 0,
 * exactly as when the row runs alone: that keeps answers independent of the batch), and returns
 * `present.N.key|value` (past and current keys and values, unordered), so a shared context runs once.
 *
 * With `treeMask`, `attention_mask` gives way to `tree_mask` ([batch, seq, seq]: which slot may attend to
 * which), so one row holds a context and the trie of its endings, each ending seeing only its own branch.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildSettings, JsonValue } from '../../core/backend.js';
import { ExternalDataWriter } from '../external-data.js';
import { ElemType, GraphBuilder, attr } from '../onnx-builder.js';
import { parseOnnxBuildExtra } from './graph/build-settings.js';
import { WeightWriter, recordFact, toFloat, type BuildContext } from './graph/context.js';
import { FUSION_OPERATORS, fusedAttention, fusedNorm } from './graph/fused.js';
import type { GraphParts, LinearWeight } from './graph/parts.js';
import { PLAIN_PARTS } from './graph/plain.js';
import { quantizedLinear } from './graph/quantized-linear.js';
import type { LlamaConfig, WeightLocation } from './hf-model.js';

/** Bumped whenever the graph changes, so cached graphs from an older builder are not reused. */
export const LLAMA_GRAPH_VERSION = 6;

export interface BuiltGraph {
  readonly modelFile: string;
  readonly facts: { [key: string]: JsonValue };
}

/** Which key-value cache a layer reads and writes. */
export const pastName = (layer: number, which: 'key' | 'value') => `past.${layer}.${which}`;
export const presentName = (layer: number, which: 'key' | 'value') => `present.${layer}.${which}`;

/**
 * The parts this build uses: plain unless a plugin's build setting chose another implementation. Each
 * optimization replaces only its own part (quantization the linear layers, fusion the norms and attention).
 */
function partsFor(extra: ReturnType<typeof parseOnnxBuildExtra>): GraphParts {
  const linear = extra.quantization ? quantizedLinear(extra.quantization) : PLAIN_PARTS.linear;
  const norm = extra.fusions ? fusedNorm(extra.fusions) : PLAIN_PARTS.norm;
  const attention = extra.fusions ? fusedAttention(extra.fusions) : PLAIN_PARTS.attention;
  return { linear, norm, attention };
}

export async function buildLlamaGraph(
  config: LlamaConfig,
  weights: ReadonlyMap<string, WeightLocation>,
  build: BuildSettings,
  outDir: string,
  onProgress?: (message: string) => void,
): Promise<BuiltGraph> {
  const extra = parseOnnxBuildExtra(build.extra);
  const parts = partsFor(extra);
  const T = build.dtype === 'fp16' ? ElemType.FLOAT16 : ElemType.FLOAT;
  const g = new GraphBuilder('llama');
  const writer = await ExternalDataWriter.create(path.join(outDir, 'model.onnx.data'));
  const weightWriter = new WeightWriter(g, weights, writer, onProgress);
  const { num_key_value_heads: nkv, head_dim: hd } = config;

  // What the parts report (e.g. fusions applied), filled while the graph is built.
  const facts: Record<string, string[]> = {};
  try {
    const inputIds = g.input('input_ids', ElemType.INT64, ['batch', 'seq']);
    const positions = g.input('position_ids', ElemType.INT64, ['batch', 'seq']);
    const attentionMask = extra.treeMask ? undefined : g.input('attention_mask', ElemType.INT64, ['batch', 'total']);
    const treeMask = extra.treeMask ? g.input('tree_mask', ElemType.BOOL, ['batch', 'seq', 'seq']) : undefined;
    const scorePositions = g.input('score_positions', ElemType.INT64, ['batch', 'scored']);
    const targetIds = g.input('target_ids', ElemType.INT64, ['batch', 'scored']);
    const pastRows = extra.kvCache ? g.input('past_rows', ElemType.INT64, ['batch']) : undefined;
    const keyOrder = extra.kvCache ? g.input('key_order', ElemType.INT64, ['batch', 'total']) : undefined;

    // allowed[b, 0, q, k]: with a tree mask, as it says; otherwise key slot k holds a real token whose position
    // is at or before query q's (the backend lays key slots out by position, so slot k holds position k).
    const allowed = g.within('mask', () => {
      if (treeMask) return g.op('Unsqueeze', [treeMask, g.int64s([1])]);
      if (!attentionMask) throw new Error('unreachable: a graph has a tree mask or an attention mask');
      const totalLen = g.op('Gather', [g.op('Shape', [attentionMask]), g.scalarInt64(1)], { axis: attr.int(0) });
      const keys = g.op('Unsqueeze', [g.op('Range', [g.scalarInt64(0), totalLen, g.scalarInt64(1)]), g.int64s([0, 1, 2])]);
      const queries = g.op('Unsqueeze', [positions, g.int64s([1, 3])]);
      const keyIsReal = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: attr.int(ElemType.BOOL) }), g.int64s([1, 2])]);
      return g.op('And', [g.op('LessOrEqual', [keys, queries]), keyIsReal]);
    });

    const ctx: BuildContext = { g, config, T, weights: weightWriter, positions, allowed, pastRows, keyOrder, facts, memo: new Map() };

    const embed = await weightWriter.float('model.embed_tokens.weight', T, false);
    let hidden = g.op('Gather', [embed, inputIds], { axis: attr.int(0) });
    let normed = parts.norm.rmsNorm(ctx, hidden, await weightWriter.float('model.layers.0.input_layernorm.weight', T, false));
    let pendingResidual: string | undefined;

    for (let layer = 0; layer < config.num_hidden_layers; layer++) {
      const p = `model.layers.${layer}`;
      // One weight at a time: only the tensor being written is ever in memory.
      const linear = async (names: string[]) => {
        const prepared = [];
        for (const name of names) prepared.push(await parts.linear.prepare(ctx, name));
        return prepared;
      };
      const fuse = extra.fusions?.projections ?? false;
      const attentionNames = ['q', 'k', 'v'].map((x) => `${p}.self_attn.${x}_proj.weight`);
      const mlpNames = ['gate', 'up'].map((x) => `${p}.mlp.${x}_proj.weight`);
      const [wqkv] = fuse ? await linear([weightWriter.fuse(`${p}.self_attn.qkv_proj.weight`, attentionNames)]) : [undefined];
      const [wq, wk, wv] = fuse ? [] : await linear(attentionNames);
      const [wo] = await linear([`${p}.self_attn.o_proj.weight`]);
      const postNorm = await weightWriter.float(`${p}.post_attention_layernorm.weight`, T, false);
      const [wGateUp] = fuse ? await linear([weightWriter.fuse(`${p}.mlp.gate_up_proj.weight`, mlpNames)]) : [undefined];
      const [wGate, wUp] = fuse ? [] : await linear(mlpNames);
      const [wDown] = await linear([`${p}.mlp.down_proj.weight`]);
      if (fuse) recordFact(ctx, 'fusions', FUSION_OPERATORS.projections);
      /** x through several projections: one MatMul and a Split when fused, else one MatMul each. */
      const project = (x: string, fused: LinearWeight | undefined, separate: (LinearWeight | undefined)[]): string[] => {
        if (!fused) return separate.map((w) => parts.linear.apply(ctx, x, w!));
        const sizes = fused === wqkv ? [config.hidden_size, nkv * hd, nkv * hd] : [config.intermediate_size, config.intermediate_size];
        return g.node('Split', [parts.linear.apply(ctx, x, fused), g.int64s(sizes)], { axis: attr.int(-1) }, { outputs: sizes.length });
      };
      const nextNorm =
        layer + 1 < config.num_hidden_layers ? await weightWriter.float(`model.layers.${layer + 1}.input_layernorm.weight`, T, false) : undefined;

      const result = g.within(`layers.${layer}`, () => {
        const past = (which: 'key' | 'value') =>
          pastRows === undefined
            ? undefined
            : g.op('Gather', [g.input(pastName(layer, which), T, ['past_batch', nkv, 'past', hd]), pastRows], { axis: attr.int(0) });
        const attention = g.within('attn', () => {
          const [q, k, v] = project(normed, wqkv, [wq, wk, wv]);
          return parts.attention.attend(ctx, { layer, q: q!, k: k!, v: v!, pastKey: past('key'), pastValue: past('value') });
        });
        if (attention.presentKey && attention.presentValue) {
          g.output(attention.presentKey, presentName(layer, 'key'), T, ['batch', nkv, 'total', hd]);
          g.output(attention.presentValue, presentName(layer, 'value'), T, ['batch', nkv, 'total', hd]);
        }
        const afterAttention = parts.norm.addAndNorm(ctx, hidden, parts.linear.apply(ctx, attention.output, wo!), postNorm);
        const mlp = g.within('mlp', () => {
          const [gate, up] = project(afterAttention.normed, wGateUp, [wGate, wUp]);
          const activated = g.op('Mul', [gate!, g.op('Sigmoid', [gate!])]);
          return parts.linear.apply(ctx, g.op('Mul', [activated, up!]), wDown!);
        });
        if (nextNorm === undefined) return { hidden: afterAttention.sum, mlp, normed: '' };
        const next = parts.norm.addAndNorm(ctx, afterAttention.sum, mlp, nextNorm);
        return { hidden: next.sum, mlp: undefined, normed: next.normed };
      });
      hidden = result.hidden;
      normed = result.normed;
      pendingResidual = result.mlp;
    }

    const finalNorm = await weightWriter.float('model.norm.weight', T, false);
    const lmHead = await parts.linear.prepare(ctx, config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    g.within('head', () => {
      const at = (x: string) => g.op('GatherND', [x, g.op('Unsqueeze', [scorePositions, g.int64s([2])])], { batch_dims: attr.int(1) });
      let logits: string;
      let logprobs: string;
      if (extra.head === 'scored') {
        // Only the scored positions go on: gathered before the last residual add and norm.
        const last = parts.norm.addAndNorm(ctx, at(hidden), at(pendingResidual!), finalNorm);
        logits = toFloat(ctx, parts.linear.apply(ctx, last.normed, lmHead));
        logprobs = g.op('LogSoftmax', [logits], { axis: attr.int(-1) });
      } else {
        // lm-eval's way: logits and log-softmax over the whole vocabulary at every position, then the scored ones.
        const last = parts.norm.addAndNorm(ctx, hidden, pendingResidual!, finalNorm);
        const allLogits = toFloat(ctx, parts.linear.apply(ctx, last.normed, lmHead));
        logits = at(allLogits);
        if (extra.fusions?.scoredLogSoftmax) {
          recordFact(ctx, 'fusions', FUSION_OPERATORS.scoredLogSoftmax);
          logprobs = g.op('LogSoftmax', [logits], { axis: attr.int(-1) });
        } else {
          logprobs = at(g.op('LogSoftmax', [allLogits], { axis: attr.int(-1) }));
        }
      }
      const targets = g.op('Unsqueeze', [targetIds, g.int64s([2])]);
      const targetLogprobs = g.op('Squeeze', [g.op('GatherElements', [logprobs, targets], { axis: attr.int(2) }), g.int64s([2])]);
      const greedy = g.op('Equal', [g.op('ArgMax', [logits], { axis: attr.int(-1), keepdims: attr.int(0) }), targetIds]);
      g.output(targetLogprobs, 'target_logprobs', ElemType.FLOAT, ['batch', 'scored']);
      g.output(greedy, 'target_is_greedy', ElemType.BOOL, ['batch', 'scored']);
    });
  } finally {
    await writer.close();
  }

  const modelFile = path.join(outDir, 'model.onnx');
  const opsets: Record<string, number> = { '': 17 };
  if (Object.keys(g.operatorCounts()).some((op) => op.startsWith('com.microsoft.'))) opsets['com.microsoft'] = 1;
  await writeFile(modelFile, g.serialize(opsets, { optibench_graph_version: String(LLAMA_GRAPH_VERSION), dtype: build.dtype }));
  return {
    modelFile,
    facts: {
      graphVersion: LLAMA_GRAPH_VERSION,
      dtype: build.dtype,
      opset: 17,
      kvCache: extra.kvCache,
      treeMask: extra.treeMask,
      head: extra.head,
      externalDataBytes: writer.bytesWritten,
      operators: g.operatorCounts(),
      ...facts,
    },
  };
}
