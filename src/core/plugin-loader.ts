/**
 * Finds, imports and validates plugins. A built-in name, an npm package name and a file path all end in
 * the same `importPlugin(file)`: built-ins get no special treatment beyond where they are looked up.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { BackendName } from './backend.js';
import type { PluginEntry } from './config.js';
import { OptibenchError } from './errors.js';
import type { PluginDefinition, PluginHooks } from './plugin.js';

/** `plugins/` beside `src/`, both in the source tree and in `dist/`. */
const BUILTIN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export interface LoadedPlugin {
  readonly definition: PluginDefinition<unknown>;
  readonly options: unknown;
  readonly hooks: PluginHooks;
  /** `builtin`, `npm:<package>` or `file:<path>`: where it was found, for results. */
  readonly source: string;
}

const definitionShape = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
  version: z.string().min(1),
  description: z.string().min(1),
  backends: z.array(z.enum(['onnx', 'pytorch'])).min(1),
  options: z.custom<unknown>((v) => v === undefined || (typeof v === 'object' && v !== null && '~standard' in v), {
    message: 'a Standard Schema (zod, valibot, arktype...) or nothing',
  }).optional(),
  conflicts: z.record(z.string(), z.string()).optional(),
  create: z.custom<unknown>((v) => typeof v === 'function', { message: 'a function' }),
});

export function builtinPluginNames(): string[] {
  if (!existsSync(BUILTIN_DIR)) return [];
  return readdirSync(BUILTIN_DIR)
    .filter((name) => statSync(path.join(BUILTIN_DIR, name)).isDirectory() && moduleInDirectory(path.join(BUILTIN_DIR, name)))
    .sort();
}

/** A plugin directory's entry module: compiled `index.js` in dist, `index.ts` when run from source. */
function moduleInDirectory(dir: string): string | undefined {
  for (const candidate of ['index.js', 'index.mjs', 'index.ts']) {
    const file = path.join(dir, candidate);
    if (existsSync(file)) return file;
  }
  return undefined;
}

function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || path.isAbsolute(spec) || /\.(m?js|ts)$/.test(spec);
}

/** Where a plugin spec points: a module file and how it was found. */
export function resolvePlugin(spec: string, cwd = process.cwd()): { file: string; source: string } {
  if (looksLikePath(spec)) {
    const full = path.resolve(cwd, spec);
    if (!existsSync(full)) throw new OptibenchError(`plugin file does not exist`, { file: full });
    const file = statSync(full).isDirectory() ? moduleInDirectory(full) : full;
    if (!file) throw new OptibenchError('plugin directory has no index.js or index.ts', { file: full });
    return { file, source: `file:${full}` };
  }
  const builtinDir = path.join(BUILTIN_DIR, spec);
  const builtin = existsSync(builtinDir) ? moduleInDirectory(builtinDir) : undefined;
  if (builtin) return { file: builtin, source: 'builtin' };
  try {
    return { file: createRequire(path.join(cwd, 'package.json')).resolve(spec), source: `npm:${spec}` };
  } catch {
    const builtins = builtinPluginNames();
    throw new OptibenchError(
      `unknown plugin "${spec}": not a built-in plugin (${builtins.length ? builtins.join(', ') : 'none installed'}), ` +
        'not a file path, and no npm package of that name is installed',
    );
  }
}

async function importPlugin(file: string, spec: string): Promise<PluginDefinition<unknown>> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(file).href)) as { default?: unknown };
  } catch (error) {
    throw new OptibenchError(`plugin "${spec}" failed to load: ${(error as Error).message.split('\n')[0]}`, { file });
  }
  const candidate = module.default;
  const parsed = definitionShape.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length ? issue.path.join('.') : 'default export';
    throw new OptibenchError(`plugin "${spec}" is not a valid optibench plugin: ${key}: ${issue.message} (see src/core/plugin.ts)`, { file });
  }
  return candidate as PluginDefinition<unknown>;
}

async function validateOptions(definition: PluginDefinition<unknown>, raw: unknown, key: string): Promise<unknown> {
  if (!definition.options) {
    if (raw !== undefined && Object.keys(raw as object).length > 0) {
      throw new OptibenchError(`plugin "${definition.name}" takes no options`, { key });
    }
    return undefined;
  }
  const result = await definition.options['~standard'].validate(raw ?? {});
  if (result.issues) {
    const issue = result.issues[0]!;
    const where = (issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)).join('.');
    throw new OptibenchError(`${issue.message}`, { key: where ? `${key}.${where}` : key });
  }
  return result.value;
}

/** Finds and imports one plugin's definition, without options or hooks (e.g. to list or describe it). */
export async function loadPluginDefinition(spec: string, cwd = process.cwd()): Promise<{ definition: PluginDefinition<unknown>; source: string }> {
  const { file, source } = resolvePlugin(spec, cwd);
  return { definition: await importPlugin(file, spec), source };
}

/** Loads every plugin of a run, checks they fit the backend and each other, and creates their hooks. */
export async function loadPlugins(entries: readonly PluginEntry[], backend: BackendName, cwd = process.cwd()): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  for (const [index, entry] of entries.entries()) {
    const spec = typeof entry === 'string' ? entry : entry.name;
    const rawOptions = typeof entry === 'string' ? undefined : entry.options;
    const { definition, source } = await loadPluginDefinition(spec, cwd);
    if (!definition.backends.includes(backend)) {
      throw new OptibenchError(`plugin "${definition.name}" supports the ${definition.backends.join(', ')} backend, not ${backend}`, {
        key: `plugins[${index}]`,
      });
    }
    if (loaded.some((p) => p.definition.name === definition.name)) {
      throw new OptibenchError(`plugin "${definition.name}" is listed twice`, { key: `plugins[${index}]` });
    }
    for (const other of loaded) {
      const reason = definition.conflicts?.[other.definition.name] ?? other.definition.conflicts?.[definition.name];
      if (reason !== undefined) {
        throw new OptibenchError(`plugins "${other.definition.name}" and "${definition.name}" cannot run together: ${reason}`, {
          key: `plugins[${index}]`,
        });
      }
    }
    const options = await validateOptions(definition, rawOptions, `plugins[${index}].options`);
    loaded.push({ definition, options, hooks: definition.create(options), source });
  }
  return loaded;
}
