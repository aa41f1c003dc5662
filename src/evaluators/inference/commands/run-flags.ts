/** The flags that shape a run: `optibench run`, `compare` and `bench` take the same ones. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { configSchema, type ConfigOverrides } from '../config.js';
import { nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';
import { OptibenchError } from '../../../core/errors.js';
import { isValidLimit, parseIndexList, type LimitMode } from '../../../core/subset.js';

/**
 * What a run uses when neither a flag nor the config file sets a value: the schema's own defaults. The flags
 * cannot carry them as commander defaults (a default would override the config file), so their help states
 * them in commander's words.
 */
const DEFAULTS = configSchema.parse({});
const byDefault = (description: string, value: unknown) => `${description} (default: ${String(value)})`;

/** `--plugin a --plugin b`, `--plugin a,b` and `--plugins a,b`: one list, in the order given. */
export function pluginSpecs(value: string, previous: string[] | undefined): string[] {
  return [
    ...(previous ?? []),
    ...value
      .split(',')
      .map((spec) => spec.trim())
      .filter(Boolean),
  ];
}

/** `--plugins` fills the same list as `--plugin`, so both spellings (and a mix) mean one thing on every verb. */
class PluginListOption extends Option {
  override attributeName(): string {
    return 'plugin';
  }
}

/** The plugin flags run, compare and bench share; `what` says what the list means to this verb. */
export function addPluginFlags(command: Command, what: string): Command {
  return command
    .option('-p, --plugin <spec>', `${what}: a built-in name, npm package or path; repeat the flag or join several with commas`, pluginSpecs)
    .addOption(new PluginListOption('--plugins <list>', 'the same as --plugin (plugins joined by commas)').argParser(pluginSpecs));
}

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

export function addRunFlags(command: Command, plugins = "the run's plugins, in order (replaces the config's list)"): Command {
  const b = DEFAULTS.backend;
  command
    .option('-c, --config <file>', 'YAML or JSON config file (see `optibench schema config`); the flags below override it')
    .option('-m, --model <dir>', 'Hugging Face LLaMA directory (default: the embedded tiny model)')
    .option('-d, --dataset <file>', 'hellaswag_val.jsonl or the 6-line text form; .bz2 is read transparently (default: the embedded tiny set)')
    .option('--backend <name>', byDefault('onnx or pytorch', b.name))
    .option('--provider <name>', byDefault('where the model runs: cpu or cuda (ONNX Runtime execution provider, or torch device)', b.executionProvider))
    .option('--dtype <dtype>', byDefault('fp32; fp16 on both backends (on the CPU only where the runtime has half-precision kernels: PyTorch 1.13 has none, so there fp16 needs cuda); bf16 on PyTorch only', b.dtype))
    .option('--threads <n>', byDefault('intra-op threads; 0: one per core, on both backends', b.intraOpThreads), nonNegativeInteger);
  addPluginFlags(command, plugins);
  return command
    .option('-n, --limit <n>', byDefault('score n items (a fraction below 1: that share); which ones: --limit-mode', 'every item'), limitFlag)
    .addOption(
      new Option('--limit-mode <mode>', byDefault("seeded: a seeded subset spread over the file; first: the first n, as lm-eval's --limit", DEFAULTS.limitMode)).choices(['seeded', 'first']),
    )
    .option('--samples <indices>', "score exactly these dataset indices, e.g. 0,5,7-9 (lm-eval's --samples; not with --limit)", samplesFlag)
    .option('--seed <n>', byDefault('seed of the seeded --limit subset', DEFAULTS.seed), nonNegativeInteger)
    .option('-b, --batch-size <n>', byDefault('requests per backend call', DEFAULTS.batchSize), positiveInteger)
    .option('-r, --repeats <n>', byDefault('measured passes; the median time is reported', DEFAULTS.repeats), positiveInteger)
    .option('--warmup <n>', byDefault('untimed warm-up batches', DEFAULTS.warmupBatches), nonNegativeInteger)
    .option('-o, --output <dir>', byDefault('where <id>/ is written', DEFAULTS.outputDir))
    .option('--cache-dir <dir>', byDefault('cache for built graphs and the default model', '~/.cache/optibench'));
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

