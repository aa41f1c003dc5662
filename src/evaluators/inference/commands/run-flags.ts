/** The flags that shape a run: `optibench run`, `compare` and `bench` take the same ones. */
import type { Command } from 'commander';
import type { ConfigOverrides } from '../config.js';
import { InvalidArgumentError, Option } from 'commander';
import { collect, nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';
import { OptibenchError } from '../../../core/errors.js';
import { isValidLimit, parseIndexList, type LimitMode } from '../../../core/subset.js';

/** `--limit`: a count, or a share of the items below 1 (`0.1`), as lm-eval's `--limit` takes. */
export function limitFlag(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !isValidLimit(n)) throw new InvalidArgumentError('expected a positive integer, or a fraction between 0 and 1 (a share of the items)');
  return n;
}

/** `--samples 0,5,7-9`. */
export function samplesFlag(value: string): number[] {
  try {
    return parseIndexList(value);
  } catch (error) {
    if (error instanceof OptibenchError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

/** The flags of `optibench run` that shape a run; compare and bench take them too. */
export interface RunFlags {
  config?: string;
  model?: string;
  dataset?: string;
  backend?: 'onnx' | 'pytorch';
  provider?: 'cpu' | 'cuda';
  dtype?: 'fp32' | 'fp16';
  threads?: number;
  plugin?: string[];
  limit?: number;
  limitMode?: LimitMode;
  samples?: number[];
  seed?: number;
  batchSize?: number;
  repeats?: number;
  warmup?: number;
  output?: string;
  cacheDir?: string;
}

export function addRunFlags(command: Command, plugins = true): Command {
  command
    .option('-c, --config <file>', 'YAML or JSON config file (see `optibench schema config`)')
    .option('-m, --model <dir>', 'Hugging Face LLaMA directory')
    .option('-d, --dataset <file>', 'hellaswag_val.jsonl or the 6-line text form; .bz2 is read transparently')
    .option('--backend <name>', 'onnx or pytorch')
    .option('--provider <name>', 'where the model runs: cpu or cuda (ONNX Runtime execution provider, or torch device)')
    .option('--dtype <dtype>', 'fp32, fp16, or bf16 (PyTorch only)')
    .option('--threads <n>', 'intra-op threads (0: one per core)', nonNegativeInteger);
  if (plugins) command.option('-p, --plugin <spec>', "plugin by built-in name, npm package or path; repeat for several (replaces the config's list)", collect);
  return command
    .option('-n, --limit <n>', 'score n items (a fraction below 1: that share); which ones: --limit-mode', limitFlag)
    .addOption(
      new Option('--limit-mode <mode>', "seeded: a seeded subset spread over the file (default); first: the first n, as lm-eval's --limit").choices(['seeded', 'first']),
    )
    .option('--samples <indices>', "score exactly these dataset indices, e.g. 0,5,7-9 (lm-eval's --samples; not with --limit)", samplesFlag)
    .option('--seed <n>', 'seed of the seeded --limit subset', nonNegativeInteger)
    .option('-b, --batch-size <n>', 'requests per backend call', positiveInteger)
    .option('-r, --repeats <n>', 'measured passes; the median time is reported', positiveInteger)
    .option('--warmup <n>', 'untimed warm-up batches', nonNegativeInteger)
    .option('-o, --output <dir>', 'where <id>/ is written (default: reports)')
    .option('--cache-dir <dir>', 'cache for built graphs and the default model (default: ~/.cache/optibench)');
}

export function overridesFrom(flags: RunFlags): ConfigOverrides {
  if (flags.samples !== undefined && flags.limit !== undefined) {
    throw new OptibenchError('give either --limit or --samples, not both (as lm-eval refuses both)', { key: '--samples' });
  }
  if (flags.samples !== undefined && flags.limitMode !== undefined) {
    throw new OptibenchError('--limit-mode chooses which items a --limit takes; --samples names them itself', { key: '--limit-mode' });
  }
  return {
    model: flags.model,
    dataset: flags.dataset,
    plugins: flags.plugin,
    // Indices on the command line replace the config file's limit rather than clash with it.
    limit: flags.samples !== undefined ? null : flags.limit,
    limitMode: flags.limitMode,
    samples: flags.samples,
    seed: flags.seed,
    batchSize: flags.batchSize,
    repeats: flags.repeats,
    warmupBatches: flags.warmup,
    outputDir: flags.output,
    cacheDir: flags.cacheDir,
    backend: { name: flags.backend, executionProvider: flags.provider, dtype: flags.dtype, intraOpThreads: flags.threads },
  };
}

