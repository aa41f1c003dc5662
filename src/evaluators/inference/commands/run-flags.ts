/** The flags that shape a run: `optibench run`, `compare` and `bench` take the same ones. */
import { Option, type Command } from 'commander';
import { configSchema, type ConfigOverrides } from '../config.js';
import { nonNegativeInteger, positiveInteger } from '../../../core/cli/options.js';

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
    .option('-n, --limit <n>', byDefault('score a deterministic subset of n items', 'every item'), positiveInteger)
    .option('--seed <n>', byDefault('seed of the --limit subset', DEFAULTS.seed), nonNegativeInteger)
    .option('-b, --batch-size <n>', byDefault('requests per backend call', DEFAULTS.batchSize), positiveInteger)
    .option('-r, --repeats <n>', byDefault('measured passes; the median time is reported', DEFAULTS.repeats), positiveInteger)
    .option('--warmup <n>', byDefault('untimed warm-up batches', DEFAULTS.warmupBatches), nonNegativeInteger)
    .option('-o, --output <dir>', byDefault('where <id>/ is written', DEFAULTS.outputDir))
    .option('--cache-dir <dir>', byDefault('cache for built graphs and the default model', '~/.cache/optibench'));
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

