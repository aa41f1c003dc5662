/** `optibench generate-model <dir>`: a deterministic random-weight LLaMA in the Hugging Face layout. */
import { ensureWritableDir } from '../../../core/output-dir.js';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_MODEL_SEED, defaultCorpus } from '../embedded-default.js';
import { OptibenchError } from '../../../core/errors.js';
import { PRESETS, generateLlama, llamaParameters, type ModelShape, type PresetName } from '../../../models/llama/generate.js';
import { byteSize, nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';

interface GenerateFlags {
  preset: string;
  seed: number;
  shards: number;
  shardSize?: number;
  bf16?: boolean;
  dtype?: string;
  tieEmbeddings?: boolean;
  corpus?: string;
  sentencepiece?: string;
  hidden?: number;
  intermediate?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  maxPositions?: number;
}

/** The preset's shape with the flags' overrides; heads default to the preset's head size at the new width. */
function shapeFrom(flags: GenerateFlags): ModelShape {
  if (!(flags.preset in PRESETS)) {
    throw new OptibenchError(`unknown preset "${flags.preset}" (expected one of ${Object.keys(PRESETS).join(', ')})`, { key: '--preset' });
  }
  const base: ModelShape = PRESETS[flags.preset as PresetName];
  const hiddenSize = flags.hidden ?? base.hiddenSize;
  const numHeads = flags.heads ?? (flags.hidden ? Math.max(1, Math.round(hiddenSize / (base.hiddenSize / base.numHeads))) : base.numHeads);
  const numKeyValueHeads = flags.kvHeads ?? (flags.heads || flags.hidden ? numHeads : base.numKeyValueHeads);
  const shape: ModelShape = {
    ...base,
    hiddenSize,
    numHeads,
    numKeyValueHeads,
    intermediateSize: flags.intermediate ?? base.intermediateSize,
    numLayers: flags.layers ?? base.numLayers,
    maxPositions: flags.maxPositions ?? base.maxPositions,
    ...(flags.vocab !== undefined ? { vocabSize: flags.vocab } : {}),
  };
  const headDim = hiddenSize / numHeads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0 || numHeads % numKeyValueHeads !== 0) {
    throw new OptibenchError(
      `--hidden ${hiddenSize} must split into ${numHeads} heads of an even size, and the heads into ${numKeyValueHeads} key-value heads`,
      { key: '--heads' },
    );
  }
  return shape;
}

export function registerGenerateModel(program: Command): void {
  program
    .command('generate-model')
    .description('Write a deterministic random-weight LLaMA (config.json, safetensors, byte-level tokenizer.json) for tests and benchmarks')
    .argument('<dir>', 'output directory (replaced if it exists)')
    .option('--preset <name>', `model shape: ${Object.keys(PRESETS).join(', ')}`, 'tiny')
    .option('--hidden <n>', "hidden size (overrides the preset's; heads follow at the preset's head size)", positiveInteger)
    .option('--intermediate <n>', 'MLP intermediate size', positiveInteger)
    .option('--layers <n>', 'number of layers', positiveInteger)
    .option('--heads <n>', 'attention heads', positiveInteger)
    .option('--kv-heads <n>', 'key-value heads (grouped-query attention when fewer than --heads)', positiveInteger)
    .option('--vocab <n>', "vocab_size, padded beyond the tokenizer's pieces as checkpoints pad theirs", positiveInteger)
    .option('--max-positions <n>', 'max_position_embeddings', positiveInteger)
    .option('--seed <n>', 'weights seed', nonNegativeInteger, DEFAULT_MODEL_SEED)
    .option('--shards <n>', 'split the weights over n safetensors files with an index', positiveInteger, 1)
    .option('--shard-size <size>', 'split the weights into safetensors shards of at most this size (e.g. 2GB, 500MB), with an index', byteSize)
    .option('--dtype <type>', 'stored weight type: f32 or bf16', 'f32')
    .option('--bf16', 'store the weights as bfloat16 (same as --dtype bf16)')
    .option('--tie-embeddings', 'share the embedding and LM head weights')
    .option('--corpus <file>', 'text the byte-level tokenizer learns its merges from (default: the embedded dataset)')
    .option('--sentencepiece <tokenizer.model>', "ship this SentencePiece model (e.g. LLaMA's) instead of a generated tokenizer; the vocabulary follows it")
    .action(async (dir: string, flags: GenerateFlags) => {
      const shape = shapeFrom(flags);
      const dtype = flags.bf16 ? 'bf16' : flags.dtype;
      if (dtype !== 'f32' && dtype !== 'bf16') throw new OptibenchError(`unknown --dtype "${dtype}" (expected f32 or bf16)`, { key: '--dtype' });
      await ensureWritableDir(dir, '<dir>');
      const corpus = flags.corpus ? await readFile(flags.corpus, 'utf8') : await defaultCorpus();
      await generateLlama(dir, {
        shape,
        seed: flags.seed,
        corpus,
        shards: flags.shards,
        ...(flags.shardSize !== undefined ? { maxShardBytes: flags.shardSize } : {}),
        weightDtype: dtype === 'bf16' ? 'BF16' : 'F32',
        tieWordEmbeddings: flags.tieEmbeddings ?? false,
        ...(flags.sentencepiece ? { sentencePieceModel: flags.sentencepiece } : {}),
      });
      const config = JSON.parse(await readFile(`${dir}/config.json`, 'utf8')) as { vocab_size: number };
      const params = llamaParameters(shape, config.vocab_size) - (flags.tieEmbeddings ? config.vocab_size * shape.hiddenSize : 0);
      process.stdout.write(`wrote a ${flags.preset} LLaMA to ${dir} (${(params / 1e6).toFixed(1)}M parameters)\n`);
    });
}
