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

/** What a report says of a model whose weights optibench generated at random. */
export interface RandomWeightModel {
  /** The embedded default (`model: null`), or another generated model (a test's, a preset's). */
  readonly embeddedDefault: boolean;
  readonly seed: number;
}

/**
 * Whether a model's config.json says optibench generated its weights at random (generateLlama writes
 * `optibench_generator` there, and a Hugging Face model never has it): such a model's accuracy is chance by
 * construction, and a reader of its numbers must be told so.
 */
export function randomWeightModel(config: { readonly [key: string]: unknown }): RandomWeightModel | null {
  const generator = config.optibench_generator as { seed?: unknown } | null | undefined;
  if (typeof generator !== 'object' || generator === null || typeof generator.seed !== 'number') return null;
  // `generate-model` defaults to the same seed: only the tiny preset's shape with it is the embedded default.
  const tiny = PRESETS.tiny;
  const embeddedDefault =
    generator.seed === DEFAULT_MODEL_SEED && config.hidden_size === tiny.hiddenSize && config.intermediate_size === tiny.intermediateSize && config.num_hidden_layers === tiny.numLayers;
  return { embeddedDefault, seed: generator.seed };
}
