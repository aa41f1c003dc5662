/**
 * Builds the ONNX graph of a LLaMA forward pass from a Hugging Face directory, streaming the weights into
 * external data one tensor at a time (a 65 GB model is never in memory twice).
 *
 * The graph takes `input_ids`, `attention_mask` and `target_ids` ([batch, seq], int64) and returns, per
 * position, the log-probability of the target token and whether it is the arg-max: the log-softmax and the
 * gather run inside the graph, so only [batch, seq] values leave the session instead of [batch, seq, vocab]
 * logits.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { BuildSettings, JsonValue } from '../../core/backend.js';
import { OptibenchError } from '../../core/errors.js';
import { ExternalDataWriter } from '../external-data.js';
import { float32ArrayToFloat16 } from '../float16.js';
import { ElemType, GraphBuilder, attr } from '../onnx-builder.js';
import type { LlamaConfig, WeightLocation } from './hf-model.js';
import { readTensorAsFloat32 } from './safetensors.js';

/** Bumped whenever the graph changes, so cached graphs from an older builder are not reused. */
export const LLAMA_GRAPH_VERSION = 1;

export const GRAPH_INPUTS = ['input_ids', 'attention_mask', 'target_ids'] as const;
export const GRAPH_OUTPUTS = ['target_logprobs', 'target_is_greedy'] as const;

/** Build settings this builder understands in `extra`; anything else is refused rather than ignored. */
const KNOWN_EXTRA_SETTINGS = new Set<string>();

export interface BuiltGraph {
  readonly modelFile: string;
  readonly facts: { [key: string]: JsonValue };
}

function blockTranspose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  const block = 64;
  for (let r0 = 0; r0 < rows; r0 += block) {
    const r1 = Math.min(rows, r0 + block);
    for (let c0 = 0; c0 < cols; c0 += block) {
      const c1 = Math.min(cols, c0 + block);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = values[r * cols + c]!;
      }
    }
  }
  return out;
}

/** Rotary tables as Hugging Face computes them: frequencies and angles in float32. */
function rotaryTables(config: LlamaConfig): { cos: Float32Array; sin: Float32Array } {
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

export async function buildLlamaGraph(
  config: LlamaConfig,
  weights: ReadonlyMap<string, WeightLocation>,
  build: BuildSettings,
  outDir: string,
  onProgress?: (message: string) => void,
): Promise<BuiltGraph> {
  for (const key of Object.keys(build.extra)) {
    if (!KNOWN_EXTRA_SETTINGS.has(key)) {
      throw new OptibenchError(`build setting "${key}" is not supported by the ONNX LLaMA builder (a plugin for another backend?)`);
    }
  }
  const fp16 = build.dtype === 'fp16';
  const T = fp16 ? ElemType.FLOAT16 : ElemType.FLOAT;
  const g = new GraphBuilder('llama');
  const dataFile = path.join(outDir, 'model.onnx.data');
  const writer = await ExternalDataWriter.create(dataFile);
  const total = weights.size;
  let written = 0;

  /** Streams one weight into the data file, transposed to [in, out] when it feeds a MatMul. */
  const weight = async (name: string, transpose: boolean): Promise<string> => {
    const source = weights.get(name);
    if (!source) throw new OptibenchError(`weight "${name}" is missing`);
    let values = await readTensorAsFloat32(source.entry, source.file);
    let dims = [...source.entry.shape];
    if (transpose) {
      values = blockTranspose(values, dims[0]!, dims[1]!);
      dims = [dims[1]!, dims[0]!];
    }
    const bytes = fp16 ? new Uint8Array(float32ArrayToFloat16(values).buffer) : new Uint8Array(values.buffer);
    const where = await writer.append(bytes);
    written += 1;
    // About ten lines per build, whatever the number of tensors (LLaMA-30B has 543).
    if (Math.floor((written * 10) / total) > Math.floor(((written - 1) * 10) / total)) {
      onProgress?.(`building the ONNX graph: ${written}/${total} weights written (${((writer.bytesWritten / 2 ** 20) | 0)} MiB)`);
    }
    return g.externalInitializer(transpose ? `${name}.T` : name, T, dims, where);
  };

  try {
    const h = config.hidden_size;
    const nh = config.num_attention_heads;
    const nkv = config.num_key_value_heads;
    const hd = config.head_dim;

    const inputIds = g.input('input_ids', ElemType.INT64, ['batch', 'seq']);
    const attentionMask = g.input('attention_mask', ElemType.INT64, ['batch', 'seq']);
    const targetIds = g.input('target_ids', ElemType.INT64, ['batch', 'seq']);

    const toFloat = (x: string) => (fp16 ? g.op('Cast', [x], { to: attr.int(ElemType.FLOAT) }) : x);
    const toModel = (x: string) => (fp16 ? g.op('Cast', [x], { to: attr.int(T) }) : x);

    // RMSNorm in float32 whatever the model dtype, then scaled in the model dtype, as Hugging Face does.
    const rmsNorm = (x: string, w: string, scope: string) =>
      g.within(scope, () => {
        const xf = toFloat(x);
        const meanSquare = g.op('ReduceMean', [g.op('Mul', [xf, xf])], { axes: attr.ints([-1]), keepdims: attr.int(1) });
        const inverseRms = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.scalar(ElemType.FLOAT, config.rms_norm_eps)])])]);
        return g.op('Mul', [w, toModel(g.op('Mul', [xf, inverseRms]))]);
      });

    const embed = await weight('model.embed_tokens.weight', false);
    let hidden = g.op('Gather', [embed, inputIds], { axis: attr.int(0) });

    // Positions count real tokens, so left padding would also get positions 0, 1, ... (pads clamp to 0).
    const positions = g.within('positions', () =>
      g.op('Max', [g.op('Sub', [g.op('CumSum', [attentionMask, g.scalarInt64(1)]), g.scalarInt64(1)]), g.scalarInt64(0)]),
    );
    const { cos: cosTable, sin: sinTable } = rotaryTables(config);
    const tableDims = [config.max_position_embeddings, hd];
    const [cos, sin] = g.within('rotary', () =>
      [cosTable, sinTable].map((table) =>
        g.op('Unsqueeze', [g.op('Gather', [g.constant(T, tableDims, table), positions], { axis: attr.int(0) }), g.int64s([1])]),
      ),
    ) as [string, string];

    // allowed[b, 0, q, k] = key k is at or before query q, and key k is a real token.
    const allowed = g.within('mask', () => {
      const seqLen = g.op('Gather', [g.op('Shape', [inputIds]), g.scalarInt64(1)], { axis: attr.int(0) });
      const index = g.op('Range', [g.scalarInt64(0), seqLen, g.scalarInt64(1)]);
      const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [index, g.int64s([0])]), g.op('Unsqueeze', [index, g.int64s([1])])]);
      const keyIsReal = g.op('Unsqueeze', [g.op('Cast', [attentionMask], { to: attr.int(ElemType.BOOL) }), g.int64s([1, 2])]);
      return g.op('And', [causal, keyIsReal]);
    });

    const rotate = (x: string) => {
      const firstHalf = g.op('Slice', [x, g.int64s([0]), g.int64s([hd / 2]), g.int64s([3])]);
      const secondHalf = g.op('Slice', [x, g.int64s([hd / 2]), g.int64s([hd]), g.int64s([3])]);
      const rotated = g.op('Concat', [g.op('Neg', [secondHalf]), firstHalf], { axis: attr.int(3) });
      return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
    };
    // [batch, seq, heads * hd] -> [batch, heads, seq, hd]
    const splitHeads = (x: string, heads: number) =>
      g.op('Transpose', [g.op('Reshape', [x, g.int64s([0, 0, heads, hd])])], { perm: attr.ints([0, 2, 1, 3]) });
    const repeatKv = (x: string) => {
      if (nkv === nh) return x;
      const expanded = g.op('Expand', [g.op('Unsqueeze', [x, g.int64s([2])]), g.int64s([1, 1, nh / nkv, 1, 1])]);
      return g.op('Reshape', [expanded, g.int64s([0, nh, -1, hd])]);
    };
    const lowest = g.scalar(ElemType.FLOAT, -3.4028234663852886e38);
    const scale = g.scalar(T, 1 / Math.sqrt(hd));

    for (let layer = 0; layer < config.num_hidden_layers; layer++) {
      const p = `model.layers.${layer}`;
      const inNorm = await weight(`${p}.input_layernorm.weight`, false);
      const wq = await weight(`${p}.self_attn.q_proj.weight`, true);
      const wk = await weight(`${p}.self_attn.k_proj.weight`, true);
      const wv = await weight(`${p}.self_attn.v_proj.weight`, true);
      const wo = await weight(`${p}.self_attn.o_proj.weight`, true);
      const postNorm = await weight(`${p}.post_attention_layernorm.weight`, false);
      const wGate = await weight(`${p}.mlp.gate_proj.weight`, true);
      const wUp = await weight(`${p}.mlp.up_proj.weight`, true);
      const wDown = await weight(`${p}.mlp.down_proj.weight`, true);

      hidden = g.within(`layers.${layer}`, () => {
        const x = rmsNorm(hidden, inNorm, 'input_norm');
        const attention = g.within('attn', () => {
          const q = rotate(splitHeads(g.op('MatMul', [x, wq]), nh));
          const k = repeatKv(rotate(splitHeads(g.op('MatMul', [x, wk]), nkv)));
          const v = repeatKv(splitHeads(g.op('MatMul', [x, wv]), nkv));
          const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: attr.ints([0, 1, 3, 2]) })]), scale]);
          // Softmax in float32 even for fp16 models, as Hugging Face does.
          const masked = g.op('Where', [allowed, toFloat(scores), lowest]);
          const probs = toModel(g.op('Softmax', [masked], { axis: attr.int(-1) }));
          const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: attr.ints([0, 2, 1, 3]) });
          return g.op('MatMul', [g.op('Reshape', [context, g.int64s([0, 0, h])]), wo]);
        });
        const afterAttention = g.op('Add', [hidden, attention]);
        const y = rmsNorm(afterAttention, postNorm, 'post_attention_norm');
        const mlp = g.within('mlp', () => {
          const gate = g.op('MatMul', [y, wGate]);
          const activated = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
          return g.op('MatMul', [g.op('Mul', [activated, g.op('MatMul', [y, wUp])]), wDown]);
        });
        return g.op('Add', [afterAttention, mlp]);
      });
    }

    const finalNorm = await weight('model.norm.weight', false);
    const lmHead = await weight(config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight', true);
    g.within('head', () => {
      const normed = rmsNorm(hidden, finalNorm, 'final_norm');
      const logits = toFloat(g.op('MatMul', [normed, lmHead]));
      const logprobs = g.op('LogSoftmax', [logits], { axis: attr.int(-1) });
      const targets = g.op('Unsqueeze', [targetIds, g.int64s([2])]);
      const targetLogprobs = g.op('Squeeze', [g.op('GatherElements', [logprobs, targets], { axis: attr.int(2) }), g.int64s([2])]);
      const greedy = g.op('Equal', [g.op('ArgMax', [logits], { axis: attr.int(-1), keepdims: attr.int(0) }), targetIds]);
      g.output(targetLogprobs, 'target_logprobs', ElemType.FLOAT, ['batch', 'seq']);
      g.output(greedy, 'target_is_greedy', ElemType.BOOL, ['batch', 'seq']);
    });
  } finally {
    await writer.close();
  }

  const modelFile = path.join(outDir, 'model.onnx');
  await writeFile(
    modelFile,
    g.serialize({ '': 17 }, { optibench_graph_version: String(LLAMA_GRAPH_VERSION), dtype: build.dtype }),
  );
  return {
    modelFile,
    facts: {
      graphVersion: LLAMA_GRAPH_VERSION,
      dtype: build.dtype,
      opset: 17,
      externalDataBytes: writer.bytesWritten,
      operators: g.operatorCounts(),
    },
  };
}
