/** `optibench generate-model <dir>`: a deterministic random-weight LLaMA in the Hugging Face layout. */
import { ensureWritableDir } from '../../../core/output-dir.js';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_MODEL_SEED, defaultCorpus } from '../embedded-default.js';
import { OptibenchError } from '../../../core/errors.js';
import { PRESETS, generateLlama, type PresetName } from '../../../models/llama/generate.js';
import { nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';

export function registerGenerateModel(program: Command): void {
  program
    .command('generate-model')
    .description('Write a deterministic random-weight LLaMA (config.json, safetensors, byte-level tokenizer.json) for tests and benchmarks')
    .argument('<dir>', 'output directory (replaced if it exists)')
    .option('--preset <name>', `model shape: ${Object.keys(PRESETS).join(', ')}`, 'tiny')
    .option('--seed <n>', 'weights seed', nonNegativeInteger, DEFAULT_MODEL_SEED)
    .option('--shards <n>', 'split the weights over n safetensors files with an index', positiveInteger, 1)
    .option('--bf16', 'store the weights as bfloat16')
    .option('--tie-embeddings', 'share the embedding and LM head weights')
    .option('--corpus <file>', 'text the byte-level tokenizer learns its merges from (default: the embedded dataset)')
    .option('--sentencepiece <tokenizer.model>', "ship this SentencePiece model (e.g. LLaMA's) instead of a generated tokenizer; the vocabulary follows it")
    .action(async (dir: string, flags: { preset: string; seed: number; shards: number; bf16?: boolean; tieEmbeddings?: boolean; corpus?: string; sentencepiece?: string }) => {
      if (!(flags.preset in PRESETS)) {
        throw new OptibenchError(`unknown preset "${flags.preset}" (expected one of ${Object.keys(PRESETS).join(', ')})`, { key: '--preset' });
      }
      await ensureWritableDir(dir, '<dir>');
      const corpus = flags.corpus ? await readFile(flags.corpus, 'utf8') : await defaultCorpus();
      await generateLlama(dir, {
        shape: PRESETS[flags.preset as PresetName],
        seed: flags.seed,
        corpus,
        shards: flags.shards,
        weightDtype: flags.bf16 ? 'BF16' : 'F32',
        tieWordEmbeddings: flags.tieEmbeddings ?? false,
        ...(flags.sentencepiece ? { sentencePieceModel: flags.sentencepiece } : {}),
      });
      process.stdout.write(`wrote a ${flags.preset} LLaMA to ${dir}\n`);
    });
}
