/**
 * The run configuration: one YAML or JSON file, validated with a schema (exported as JSON Schema for
 * editors), with command-line flags laid over it. Errors name the file, the line, the key and what was
 * expected.
 */
import path from 'node:path';
import { z } from 'zod';
import { configSha256 } from '../../core/canonical-json.js';
import { configIssueError, keyName, readConfigFile } from '../../core/config-file.js';
import { OptibenchError } from '../../core/errors.js';
import { looksLikePath, pluginEntrySchema, pluginSpec, recordPluginOrigin, type PluginEntry } from '../../core/plugin-entry.js';
import { checkIndices, isValidLimit, type DocSelection } from '../../core/subset.js';


export const backendConfigSchema = z.strictObject({
  name: z.enum(['onnx', 'pytorch']).default('onnx').describe('Which backend runs the model'),
  executionProvider: z.enum(['cpu', 'cuda']).default('cpu').describe('Where the model runs: the ONNX Runtime execution provider, or the PyTorch device'),
  dtype: z.enum(['fp32', 'fp16', 'bf16']).default('fp32').describe('Precision the model is built and run in (bf16: PyTorch only)'),
  python: z.string().min(1).nullable().default(null).describe('PyTorch backend: the Python executable (default: /usr/bin/python3 if present, else python3)'),
  workerTimeoutSeconds: z.number().positive().default(600).describe('PyTorch backend: how long the worker may take to load or to answer one batch'),
  intraOpThreads: z.number().int().min(0).default(0).describe('Threads inside one operator; 0 lets the runtime choose (one per core)'),
  interOpThreads: z.number().int().min(0).default(1).describe('Operators run at once; 0 lets the runtime choose'),
});

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors'),
    task: z.enum(['hellaswag']).default('hellaswag').describe('The task to score'),
    model: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe('A Hugging Face LLaMA directory; null runs the embedded tiny default model'),
    dataset: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe('hellaswag_val.jsonl or the 6-line text form (.bz2 read transparently); null uses the embedded tiny set'),
    backend: backendConfigSchema.prefault({}),
    plugins: z.array(pluginEntrySchema).default([]).describe('Optimization plugins, applied in this order'),
    limit: z
      .number()
      .positive()
      .refine(isValidLimit, 'expected a positive integer, or a fraction between 0 and 1 (a share of the items)')
      .nullable()
      .default(null)
      .describe('Score this many items (a fraction below 1: that share, rounded up); limitMode says which'),
    // Optional with no default, so configurations that do not use them keep the hash they always had.
    limitMode: z
      .enum(['seeded', 'first'])
      .optional()
      .describe("Which items a limit takes: 'seeded' (default) a seeded subset spread over the file, 'first' the first ones (lm-eval's --limit)"),
    samples: z
      .array(z.number().int().min(0))
      .min(1)
      .optional()
      .describe("Score exactly these dataset indices (lm-eval's --samples); excludes limit"),
    seed: z.number().int().min(0).default(1234).describe('Seed for the --limit subset'),
    batchSize: z.number().int().positive().default(8).describe('Requests per backend call'),
    repeats: z.number().int().positive().default(1).describe('Measured passes over all requests; the median is reported'),
    warmupBatches: z.number().int().min(0).default(1).describe('Untimed batches run before measuring'),
    outputDir: z.string().min(1).default('reports').describe('Where reports/<run-id>/ is written'),
    cacheDir: z.string().min(1).nullable().default(null).describe('Where built graphs and the default model are cached'),
  })
  .describe('optibench run configuration');

export type RunConfig = z.infer<typeof configSchema>;
export type { PluginEntry };
export type ConfigInput = z.input<typeof configSchema>;

/** The JSON Schema editors use to complete and check config files. */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** Settings given on the command line; each replaces the file's value. */
export type ConfigOverrides = Partial<Omit<ConfigInput, 'backend'>> & { backend?: Partial<z.input<typeof backendConfigSchema>> };

export interface LoadedConfig {
  readonly config: RunConfig;
  /** The file it came from, if any. */
  readonly file: string | undefined;
}

/**
 * Loads and validates the configuration. Paths in a file are relative to the file's directory; paths given
 * on the command line are relative to the current directory.
 */
export async function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}, cwd = process.cwd()): Promise<LoadedConfig> {
  let fileData: Record<string, unknown> = {};
  let lineFor: (keyPath: readonly PropertyKey[]) => number | undefined = () => undefined;
  if (file) {
    ({ data: fileData, lineFor } = await readConfigFile(file));
  }
  const fromFile = configSchema.safeParse(fileData);
  if (!fromFile.success) throw configIssueError(configSchema, fromFile.error.issues[0]!, file, lineFor);
  const baseDir = file ? path.dirname(path.resolve(cwd, file)) : cwd;
  const resolvedFile = resolvePaths(fromFile.data, baseDir);

  const merged = {
    ...fileData,
    ...stripUndefined(overrides),
    backend: { ...((fileData.backend as object | undefined) ?? {}), ...stripUndefined(overrides.backend ?? {}) },
  };
  const final = configSchema.safeParse(merged);
  if (!final.success) {
    const issue = final.error.issues[0]!;
    if (!isOverridden(overrides, issue.path)) throw configIssueError(configSchema, issue, file, lineFor);
    throw new OptibenchError(configIssueError(configSchema, issue, undefined, () => undefined).message, { key: `command-line flag for ${keyName(issue.path)}` });
  }
  // Values from the file keep their file-relative paths; values from flags resolve against cwd.
  const config = resolvePaths(final.data, cwd);
  for (const key of ['model', 'dataset', 'outputDir', 'cacheDir'] as const) {
    if (overrides[key] === undefined) (config as Record<string, unknown>)[key] = resolvedFile[key];
  }
  const pluginBase = overrides.plugins !== undefined ? cwd : baseDir;
  config.plugins = config.plugins.map((entry) => resolvePluginPath(entry, pluginBase));
  if (file && overrides.plugins === undefined) recordPluginOrigin(config.plugins, file, (keyPath) => lineFor(['plugins', ...keyPath]));
  try {
    selectionOf(config);
  } catch (error) {
    if (!(error instanceof OptibenchError)) throw error;
    const key = error.location?.key ?? 'samples';
    throw new OptibenchError(error.message, isOverridden(overrides, [key]) ? { key: `command-line flag for ${key}` } : { file, line: lineFor([key]), key });
  }
  return { config, file };
}

/** Which documents the configuration scores; refuses a limit together with explicit indices, as lm-eval does. */
export function selectionOf(config: Pick<RunConfig, 'limit' | 'limitMode' | 'samples' | 'seed'>): DocSelection {
  if (config.samples !== undefined) {
    if (config.limit !== null) throw new OptibenchError('give either a limit or item indices (samples), not both', { key: 'samples' });
    if (config.limitMode !== undefined) throw new OptibenchError('limitMode applies to a limit, not to item indices (samples)', { key: 'limitMode' });
    checkIndices(config.samples);
    return { mode: 'indices', indices: config.samples };
  }
  return config.limitMode === 'first' ? { mode: 'first', limit: config.limit } : { mode: 'seeded', limit: config.limit, seed: config.seed };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function isOverridden(overrides: ConfigOverrides, keyPath: readonly PropertyKey[]): boolean {
  let node: unknown = overrides;
  for (const key of keyPath) {
    if (node === null || typeof node !== 'object' || !(key in (node as object))) return false;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node !== undefined;
}

function resolvePaths(config: RunConfig, baseDir: string): RunConfig {
  const resolve = (p: string | null) => (p === null ? null : path.resolve(baseDir, p));
  return {
    ...config,
    model: resolve(config.model),
    dataset: resolve(config.dataset),
    outputDir: path.resolve(baseDir, config.outputDir),
    cacheDir: resolve(config.cacheDir),
  };
}

/** Plugin specs that look like paths are resolved like other paths; names stay names. */
function resolvePluginPath(entry: PluginEntry, baseDir: string): PluginEntry {
  const name = pluginSpec(entry);
  if (!looksLikePath(name)) return entry;
  const resolved = path.resolve(baseDir, name);
  return typeof entry === 'string' ? resolved : { ...entry, name: resolved };
}

/**
 * The identity of a run config: what it runs, not where its files happen to be. Paths are replaced by what
 * they name: the dataset by its content's sha256 and its file name, the model directory and plugin files by
 * their names (the model's weights have their own hash in the results). The same config on another machine, or
 * through a symlink, has the same identity; `outputDir` and `cacheDir` say where a run writes and are left out.
 */
export function inferenceConfigSha256(config: RunConfig, datasetSha256: string): string {
  const name = (p: string | null) => (p === null ? null : path.basename(p));
  return configSha256({
    ...config,
    dataset: { name: name(config.dataset), sha256: datasetSha256 },
    model: name(config.model),
    plugins: config.plugins.map((entry) => {
      if (!looksLikePath(pluginSpec(entry))) return entry;
      return typeof entry === 'string' ? name(entry) : { ...entry, name: name(entry.name) };
    }),
  });
}
