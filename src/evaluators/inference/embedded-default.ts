/**
 * The embedded default: a tiny random-weight LLaMA and a small HellaSwag-format set shipped with
 * optibench, so `optibench run` works on a fresh machine with nothing downloaded. The model is generated on
 * first use into the cache, keyed by everything that determines it, so it is always the same model.
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { GENERATOR_VERSION, PRESETS, generateLlama } from '../../models/llama/generate.js';
import { hellaswagTask } from '../../tasks/hellaswag/index.js';
import { packageRoot } from '../../core/paths.js';

export const DEFAULT_MODEL_SEED = 20261125;

export function defaultDatasetPath(): string {
  return path.join(packageRoot(), 'datasets', 'tiny-hellaswag', 'hellaswag_tiny_val.jsonl');
}

/** The text the default tokenizer learns its merges from: the embedded dataset's queries and endings. */
export async function defaultCorpus(): Promise<string> {
  const docs = await hellaswagTask.load(defaultDatasetPath());
  return docs.map((doc) => [doc.query, ...doc.choices].join('\n')).join('\n');
}

/** Returns the default model's directory, generating it first if the cache does not have it. */
export async function ensureDefaultModel(cacheDir: string, onProgress?: (message: string) => void): Promise<string> {
  const corpus = await defaultCorpus();
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ generator: GENERATOR_VERSION, shape: PRESETS.tiny, seed: DEFAULT_MODEL_SEED }))
    .update(corpus)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheDir, 'models', `tiny-llama-${fingerprint}`);
  try {
    await access(path.join(dir, 'config.json'));
    return dir;
  } catch {
    onProgress?.('generating the embedded tiny LLaMA');
    await generateLlama(dir, { shape: PRESETS.tiny, seed: DEFAULT_MODEL_SEED, corpus });
    return dir;
  }
}
