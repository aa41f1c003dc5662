/**
 * The model samples come from by default: a random-weight preset LLaMA (medium by default), generated once
 * into the cache and keyed, as the embedded default is, by everything that determines it.
 */
import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { GENERATOR_VERSION, PRESETS, generateLlama, type PresetName } from '../../../models/llama/generate.js';
import { DEFAULT_MODEL_SEED, defaultCorpus } from '../../inference/embedded-default.js';

export async function ensurePresetModel(cacheDir: string, preset: PresetName, onProgress?: (message: string) => void): Promise<string> {
  const corpus = await defaultCorpus();
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ generator: GENERATOR_VERSION, shape: PRESETS[preset], seed: DEFAULT_MODEL_SEED }))
    .update(corpus)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheDir, 'models', `${preset}-llama-${fingerprint}`);
  try {
    await access(path.join(dir, 'config.json'));
    return dir;
  } catch {
    onProgress?.(`generating the ${preset} random LLaMA (once, into ${dir})`);
    await generateLlama(dir, { shape: PRESETS[preset], seed: DEFAULT_MODEL_SEED, corpus });
    return dir;
  }
}
