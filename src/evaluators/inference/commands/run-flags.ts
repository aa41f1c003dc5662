/** The flags that shape a run: `optibench run`, `compare` and `bench` take the same ones. */
import type { Command } from 'commander';
import type { ConfigOverrides } from '../config.js';
import { collect, nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';

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
    .option('-n, --limit <n>', 'score a deterministic subset of n items', positiveInteger)
    .option('--seed <n>', 'seed of the --limit subset', nonNegativeInteger)
    .option('-b, --batch-size <n>', 'requests per backend call', positiveInteger)
    .option('-r, --repeats <n>', 'measured passes; the median time is reported', positiveInteger)
    .option('--warmup <n>', 'untimed warm-up batches', nonNegativeInteger)
    .option('-o, --output <dir>', 'where <id>/ is written (default: reports)')
    .option('--cache-dir <dir>', 'cache for built graphs and the default model (default: ~/.cache/optibench)');
}

export function overridesFrom(flags: RunFlags): ConfigOverrides {
  return {
    model: flags.model,
    dataset: flags.dataset,
    plugins: flags.plugin,
    limit: flags.limit,
    seed: flags.seed,
    batchSize: flags.batchSize,
    repeats: flags.repeats,
    warmupBatches: flags.warmup,
    outputDir: flags.output,
    cacheDir: flags.cacheDir,
    backend: { name: flags.backend, executionProvider: flags.provider, dtype: flags.dtype, intraOpThreads: flags.threads },
  };
}

