/**
 * Generates deterministic random-weight LLaMA models in the Hugging Face layout: the embedded default
 * (`tiny`) that `optibench run` uses out of the box and tests run against. Nothing is downloaded: the
 * weights come from a seeded generator and the byte-level BPE tokenizer is trained on the embedded data.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createNormal, createRandom } from '../../core/random.js';
import { writeByteLevelTokenizer } from '../../tokenizers/byte-level-bpe.js';
import { expectedWeights } from './hf-model.js';
import type { LlamaConfig } from './hf-model.js';
import { encodeSafetensors, type TensorToWrite } from './safetensors.js';

export interface ModelShape {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly numLayers: number;
  readonly maxPositions: number;
  /** Merges of the byte-level BPE tokenizer; the vocabulary is 3 specials + 256 bytes + merges. */
  readonly bpeMerges: number;
}

export const PRESETS = {
  /** The embedded default: small enough to build and run in seconds, with grouped-query attention. */
  tiny: { hiddenSize: 64, intermediateSize: 172, numHeads: 4, numKeyValueHeads: 2, numLayers: 2, maxPositions: 1024, bpeMerges: 253 },
} as const satisfies Record<string, ModelShape>;

export type PresetName = keyof typeof PRESETS;

export interface GenerateOptions {
  readonly shape: ModelShape;
  readonly seed: number;
  /** Text the tokenizer's merges are learned from. */
  readonly corpus: string;
  /** Split the weights over this many safetensors shards with an index (as large checkpoints are). */
  readonly shards?: number;
  readonly tieWordEmbeddings?: boolean;
  readonly weightDtype?: 'F32' | 'BF16';
}

/** Bumped when the generator's output changes for the same options. */
export const GENERATOR_VERSION = 1;

function tensorBytes(values: Float32Array, dtype: 'F32' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer);
  // Truncating to bf16 with round-to-nearest-even, as torch's .to(torch.bfloat16) does.
  const words = new Uint32Array(values.buffer);
  const halves = new Uint16Array(values.length);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    halves[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
  }
  return new Uint8Array(halves.buffer);
}

/** Writes the model into `dir` (created; replaced atomically if it exists). */
export async function generateLlama(dir: string, options: GenerateOptions): Promise<void> {
  const temp = `${dir}.tmp-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp, { recursive: true });
  await writeByteLevelTokenizer(temp, options.corpus, options.shape.bpeMerges, { modelMaxLength: options.shape.maxPositions });
  const vocab = JSON.parse(await readFile(path.join(temp, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const vocabSize = Object.keys(vocab.model.vocab).length;

  const s = options.shape;
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hiddenSize,
    intermediate_size: s.intermediateSize,
    num_attention_heads: s.numHeads,
    num_key_value_heads: s.numKeyValueHeads,
    num_hidden_layers: s.numLayers,
    max_position_embeddings: s.maxPositions,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    vocab_size: vocabSize,
    hidden_act: 'silu',
    tie_word_embeddings: options.tieWordEmbeddings ?? false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: options.weightDtype === 'BF16' ? 'bfloat16' : 'float32',
    optibench_generator: { version: GENERATOR_VERSION, seed: options.seed },
  };
  await writeFile(path.join(temp, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);

  const normal = createNormal(createRandom(options.seed));
  const fullConfig = { ...config, head_dim: s.hiddenSize / s.numHeads } as unknown as LlamaConfig;
  const tensors: TensorToWrite[] = [];
  const dtype = options.weightDtype ?? 'F32';
  for (const [name, shape] of expectedWeights(fullConfig)) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    // Scales chosen so activations keep their size through the layers and the logits spread out:
    // a model with N(0, 0.02) weights predicts a near-uniform distribution and tests nothing.
    if (name.endsWith('norm.weight')) {
      for (let i = 0; i < count; i++) values[i] = 1 + 0.1 * normal();
    } else if (name === 'model.embed_tokens.weight') {
      // Tied, the embedding is also the LM head: scale it like one so the logits stay moderate.
      const scale = options.tieWordEmbeddings ? 2 / Math.sqrt(s.hiddenSize) : 1;
      for (let i = 0; i < count; i++) values[i] = scale * normal();
    } else {
      const fanIn = shape[1]!;
      const gain = name === 'lm_head.weight' ? 2 : 1;
      for (let i = 0; i < count; i++) values[i] = (gain * normal()) / Math.sqrt(fanIn);
    }
    tensors.push({ name, dtype, shape, data: tensorBytes(values, dtype) });
  }

  const shards = Math.max(1, options.shards ?? 1);
  if (shards === 1) {
    await writeFile(path.join(temp, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  } else {
    const weightMap: Record<string, string> = {};
    const perShard = Math.ceil(tensors.length / shards);
    for (let i = 0; i < shards; i++) {
      const file = `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
      const part = tensors.slice(i * perShard, (i + 1) * perShard);
      for (const t of part) weightMap[t.name] = file;
      await writeFile(path.join(temp, file), encodeSafetensors(part, { format: 'pt' }));
    }
    const totalSize = tensors.reduce((a, t) => a + t.data.byteLength, 0);
    await writeFile(
      path.join(temp, 'model.safetensors.index.json'),
      `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`,
    );
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  await rename(temp, dir);
}
