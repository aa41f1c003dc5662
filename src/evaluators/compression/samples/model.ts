/**
 * What samples come from by default: a random-weight preset LLaMA (medium by default), generated once into
 * the cache, and the embedded HellaSwag set's text. An evaluator imports no other evaluator, so the embedded
 * set's path and the generator's seed are spelled here; they are the inference evaluator's (its
 * embedded-default.ts), so the tiny preset lands in the same cache folder as its default model.
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { packageRoot } from '../../../core/paths.js';
import { GENERATOR_VERSION, PRESETS, generateLlama, type PresetName } from '../../../models/llama/generate.js';
import { hellaswagTask } from '../../../tasks/hellaswag/index.js';

export const MODEL_SEED = 20261125;

export function embeddedDatasetPath(): string {
  return path.join(packageRoot(), 'datasets', 'tiny-hellaswag', 'hellaswag_tiny_val.jsonl');
}

/** The text a generated model's byte-level tokenizer learns its merges from: the embedded set's queries and endings. */
async function embeddedCorpus(): Promise<string> {
  const docs = await hellaswagTask.load(embeddedDatasetPath());
  return docs.map((doc) => [doc.query, ...doc.choices].join('\n')).join('\n');
}

export async function ensurePresetModel(cacheDir: string, preset: PresetName, onProgress?: (message: string) => void): Promise<string> {
  const corpus = await embeddedCorpus();
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ generator: GENERATOR_VERSION, shape: PRESETS[preset], seed: MODEL_SEED }))
    .update(corpus)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheDir, 'models', `${preset}-llama-${fingerprint}`);
  try {
    await access(path.join(dir, 'config.json'));
    return dir;
  } catch {
    onProgress?.(`generating the ${preset} random LLaMA (once, into ${dir})`);
    await generateLlama(dir, { shape: PRESETS[preset], seed: MODEL_SEED, corpus });
    return dir;
  }
}
