/**
 * A Hugging Face LLaMA directory: `config.json`, one `model.safetensors` or shards listed by
 * `model.safetensors.index.json`, and the tokenizer files.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { OptibenchError } from '../../core/errors.js';
import type { ModelInfo } from '../../core/backend.js';
import { readSafetensorsHeader, type TensorEntry } from './safetensors.js';

const llamaConfigSchema = z
  .object({
    hidden_size: z.number().int().positive(),
    intermediate_size: z.number().int().positive(),
    num_attention_heads: z.number().int().positive(),
    num_hidden_layers: z.number().int().positive(),
    num_key_value_heads: z.number().int().positive().optional(),
    rms_norm_eps: z.number().positive().default(1e-6),
    vocab_size: z.number().int().positive(),
    max_position_embeddings: z.number().int().positive().default(2048),
    rope_theta: z.number().positive().default(10000),
    rope_scaling: z.unknown().optional(),
    tie_word_embeddings: z.boolean().default(false),
    hidden_act: z.string().default('silu'),
    bos_token_id: z.number().int().nullable().optional(),
    eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).nullable().optional(),
    model_type: z.string().optional(),
  })
  .loose();

export type LlamaConfig = z.infer<typeof llamaConfigSchema> & { num_key_value_heads: number; head_dim: number };

export async function readLlamaConfig(modelDir: string): Promise<LlamaConfig> {
  const file = path.join(modelDir, 'config.json');
  let text: string;
  try {
    const info = await stat(modelDir);
    if (!info.isDirectory()) throw new OptibenchError('model path is not a directory', { file: modelDir });
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof OptibenchError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new OptibenchError('model directory or its config.json does not exist (expected a Hugging Face LLaMA directory)', { file });
    }
    throw new OptibenchError(`cannot read model config: ${(error as Error).message}`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OptibenchError(`not valid JSON (${(error as Error).message})`, { file });
  }
  const parsed = llamaConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OptibenchError(issue.message, { file, key: issue.path.join('.') });
  }
  const config = parsed.data;
  if (config.model_type !== undefined && config.model_type !== 'llama') {
    throw new OptibenchError(`model_type "${config.model_type}" is not supported (expected "llama")`, { file, key: 'model_type' });
  }
  if (config.hidden_act !== 'silu') {
    throw new OptibenchError(`hidden_act "${config.hidden_act}" is not supported (expected "silu")`, { file, key: 'hidden_act' });
  }
  if (config.rope_scaling !== undefined && config.rope_scaling !== null) {
    throw new OptibenchError('rope_scaling is not supported yet (LLaMA-1 and LLaMA-2 use none)', { file, key: 'rope_scaling' });
  }
  const heads = config.num_attention_heads;
  const kvHeads = config.num_key_value_heads ?? heads;
  if (config.hidden_size % heads !== 0 || heads % kvHeads !== 0) {
    throw new OptibenchError(
      `hidden_size ${config.hidden_size} must divide into ${heads} heads and heads into ${kvHeads} key-value heads`,
      { file, key: 'num_attention_heads' },
    );
  }
  const headDim = config.hidden_size / heads;
  if (headDim % 2 !== 0) throw new OptibenchError(`head dimension ${headDim} must be even for rotary embeddings`, { file });
  return { ...config, num_key_value_heads: kvHeads, head_dim: headDim };
}

export function modelInfo(config: LlamaConfig): ModelInfo {
  return {
    hiddenSize: config.hidden_size,
    intermediateSize: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads: config.num_attention_heads,
    numKeyValueHeads: config.num_key_value_heads,
    vocabSize: config.vocab_size,
  };
}

export interface WeightLocation {
  readonly file: string;
  readonly entry: TensorEntry;
}

/** Every tensor of the model, whichever shard holds it. Headers only: no weight data is read. */
export async function listWeights(modelDir: string): Promise<{ files: string[]; weights: Map<string, WeightLocation> }> {
  const indexFile = path.join(modelDir, 'model.safetensors.index.json');
  const single = path.join(modelDir, 'model.safetensors');
  let files: string[];
  let weightMap: Record<string, string> | undefined;
  const entries = await readdir(modelDir);
  if (entries.includes('model.safetensors.index.json')) {
    let index: { weight_map?: Record<string, string> };
    try {
      index = JSON.parse(await readFile(indexFile, 'utf8')) as typeof index;
    } catch (error) {
      throw new OptibenchError(`not a valid index (${(error as Error).message})`, { file: indexFile });
    }
    if (!index.weight_map || typeof index.weight_map !== 'object') {
      throw new OptibenchError('expected a "weight_map" object naming the shard of each tensor', { file: indexFile, key: 'weight_map' });
    }
    weightMap = index.weight_map;
    files = [...new Set(Object.values(weightMap))].sort().map((f) => path.join(modelDir, f));
  } else if (entries.includes('model.safetensors')) {
    files = [single];
  } else {
    throw new OptibenchError('no model.safetensors or model.safetensors.index.json found (only safetensors weights are supported)', {
      file: modelDir,
    });
  }
  const weights = new Map<string, WeightLocation>();
  for (const file of files) {
    const header = await readSafetensorsHeader(file);
    for (const entry of header.tensors.values()) {
      if (weights.has(entry.name)) throw new OptibenchError(`tensor "${entry.name}" appears in two shards`, { file });
      weights.set(entry.name, { file, entry });
    }
  }
  if (weightMap) {
    for (const [name, shard] of Object.entries(weightMap)) {
      const found = weights.get(name);
      if (!found) throw new OptibenchError(`index names tensor "${name}" in ${shard}, but that shard does not hold it`, { file: indexFile });
    }
  }
  return { files, weights };
}

/** The tensors a LLaMA forward needs, with the shapes the config implies, in HF's [out, in] layout. */
export function expectedWeights(config: LlamaConfig): Map<string, number[]> {
  const h = config.hidden_size;
  const kv = config.num_key_value_heads * config.head_dim;
  const m = config.intermediate_size;
  const shapes = new Map<string, number[]>();
  shapes.set('model.embed_tokens.weight', [config.vocab_size, h]);
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    shapes.set(`${p}.input_layernorm.weight`, [h]);
    shapes.set(`${p}.self_attn.q_proj.weight`, [h, h]);
    shapes.set(`${p}.self_attn.k_proj.weight`, [kv, h]);
    shapes.set(`${p}.self_attn.v_proj.weight`, [kv, h]);
    shapes.set(`${p}.self_attn.o_proj.weight`, [h, h]);
    shapes.set(`${p}.post_attention_layernorm.weight`, [h]);
    shapes.set(`${p}.mlp.gate_proj.weight`, [m, h]);
    shapes.set(`${p}.mlp.up_proj.weight`, [m, h]);
    shapes.set(`${p}.mlp.down_proj.weight`, [h, m]);
  }
  shapes.set('model.norm.weight', [h]);
  if (!config.tie_word_embeddings) shapes.set('lm_head.weight', [config.vocab_size, h]);
  return shapes;
}

/** Checks the weights against the config before any long build starts, so a mismatch fails at once. */
export function checkWeights(config: LlamaConfig, weights: Map<string, WeightLocation>, modelDir: string): void {
  for (const [name, shape] of expectedWeights(config)) {
    const found = weights.get(name);
    if (!found) {
      const hint = name === 'lm_head.weight' ? ' (set "tie_word_embeddings": true in config.json if the model ties it)' : '';
      throw new OptibenchError(`weight "${name}" is missing${hint}`, { file: modelDir });
    }
    if (found.entry.shape.length !== shape.length || found.entry.shape.some((d, i) => d !== shape[i])) {
      throw new OptibenchError(
        `weight "${name}" has shape [${found.entry.shape.join(', ')}] but config.json implies [${shape.join(', ')}]`,
        { file: found.file },
      );
    }
    if (!['F32', 'F16', 'BF16'].includes(found.entry.dtype)) {
      throw new OptibenchError(`weight "${name}" has dtype ${found.entry.dtype}; expected F32, F16 or BF16`, { file: found.file });
    }
  }
}
