/**
 * Finds, imports and validates plugins, for any evaluator. A built-in name, an npm package name and a file
 * path all end in the same `importPlugin(file)`: built-ins get no special treatment beyond where they are
 * looked up. The evaluator says what it is (`PluginScope`): the loader refuses a plugin that applies to
 * another evaluator or target, two plugins that conflict, and hooks the evaluator does not have.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { OptibenchError } from './errors.js';
import { looksLikePath, pluginOrigin, pluginSpec, type PluginEntry } from './plugin-entry.js';
import type { BaseHooks, PluginDefinition } from './plugin.js';

/** `plugins/` beside `src/`, both in the source tree and in `dist/`. */
const BUILTIN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

export interface LoadedPlugin<Hooks extends BaseHooks = BaseHooks> {
  readonly definition: PluginDefinition<unknown, Hooks>;
  readonly options: unknown;
  readonly hooks: Hooks;
  /** `builtin`, `npm:<package>` or `file:<path>`: where it was found, for results. */
  readonly source: string;
}

/** What the plugins of one run are loaded for. */
export interface PluginScope {
  /** The evaluator's id. */
  readonly evaluator: string;
  /** The target the run uses (for inference: the backend); plugins that name targets must include it. */
  readonly target?: string;
  /** What the evaluator calls its targets, for messages ("backend"). */
  readonly targetNoun?: string;
  /** The evaluator's hook map: a plugin whose `create` returns another key is refused. */
  readonly hooks?: readonly string[];
  /**
   * Turns an older definition shape the evaluator still accepts into today's (the inference evaluator's plugins
   * once said `backends: [...]` instead of `appliesTo`).
   */
  readonly upgrade?: (definition: Record<string, unknown>) => Record<string, unknown>;
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;

const definitionShape = z.object({
  name: z.string().regex(NAME, 'lower-case letters, digits and dashes'),
  version: z.string().min(1),
  description: z.string().min(1),
  appliesTo: z.object({
    evaluator: z.string().regex(NAME, 'an evaluator id: lower-case letters, digits and dashes'),
    targets: z.array(z.string().min(1)).min(1).optional(),
  }),
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

/**
 * Where a module spec points: a file path (a directory means its index), or else an npm package installed for
 * `cwd`; undefined when neither. `what` names the module in errors ("plugin", "evaluator module").
 */
export function resolveModule(spec: string, cwd: string, what: string): { file: string; source: string } | undefined {
  if (looksLikePath(spec)) {
    const full = path.resolve(cwd, spec);
    if (!existsSync(full)) throw new OptibenchError(`${what} file does not exist`, { file: full });
    const file = statSync(full).isDirectory() ? moduleInDirectory(full) : full;
    if (!file) throw new OptibenchError(`${what} directory has no index.js or index.ts`, { file: full });
    return { file, source: `file:${full}` };
  }
  try {
    return { file: createRequire(path.join(cwd, 'package.json')).resolve(spec), source: `npm:${spec}` };
  } catch {
    return undefined;
  }
}

/** Where a plugin spec points: a module file and how it was found (built-ins first, then files and packages). */
export function resolvePlugin(spec: string, cwd = process.cwd()): { file: string; source: string } {
  if (!looksLikePath(spec)) {
    const builtinDir = path.join(BUILTIN_DIR, spec);
    const builtin = existsSync(builtinDir) ? moduleInDirectory(builtinDir) : undefined;
    if (builtin) return { file: builtin, source: 'builtin' };
  }
  const found = resolveModule(spec, cwd, 'plugin');
  if (found) return found;
  const builtins = builtinPluginNames();
  throw new OptibenchError(
    `unknown plugin "${spec}": not a built-in plugin (${builtins.length ? builtins.join(', ') : 'none installed'}), ` +
      'not a file path, and no npm package of that name is installed',
  );
}

/** Imports a module's default export; what failed to load is named with its file. */
export async function importDefault(file: string, what: string): Promise<unknown> {
  try {
    return ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
  } catch (error) {
    throw new OptibenchError(`${what} failed to load: ${(error as Error).message.split('\n')[0]}`, { file });
  }
}

async function importPlugin(file: string, spec: string, upgrade: PluginScope['upgrade']): Promise<PluginDefinition> {
  let candidate = await importDefault(file, `plugin "${spec}"`);
  if (upgrade && candidate !== null && typeof candidate === 'object' && !('appliesTo' in candidate)) {
    candidate = upgrade(candidate as Record<string, unknown>);
  }
  const parsed = definitionShape.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.length ? issue.path.join('.') : 'default export';
    throw new OptibenchError(`plugin "${spec}" is not a valid optibench plugin: ${key}: ${issue.message} (see src/core/plugin.ts)`, { file });
  }
  return candidate as PluginDefinition;
}

/** `plugins[i]...` with its file and line when the list came from a config file. */
type Locate = (keyPathInList: readonly PropertyKey[]) => { file?: string; line?: number; key: string };

function locator(entries: readonly PluginEntry[]): Locate {
  const origin = pluginOrigin(entries);
  return (keyPath) => {
    const key = keyPath.reduce<string>((name, k) => (typeof k === 'number' ? `${name}[${k}]` : `${name}.${String(k)}`), 'plugins');
    return origin ? { file: origin.file, line: origin.lineFor(keyPath), key } : { key };
  };
}

async function validateOptions(definition: PluginDefinition, raw: unknown, index: number, locate: Locate): Promise<unknown> {
  if (!definition.options) {
    if (raw !== undefined && Object.keys(raw as object).length > 0) {
      throw new OptibenchError(`plugin "${definition.name}" takes no options`, locate([index, 'options']));
    }
    return undefined;
  }
  const result = await definition.options['~standard'].validate(raw ?? {});
  if (result.issues) {
    const issue = result.issues[0]!;
    const where = (issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p));
    throw new OptibenchError(`${issue.message}`, locate([index, 'options', ...where]));
  }
  return result.value;
}

/** Finds and imports one plugin's definition, without options or hooks (e.g. to list or describe it). */
export async function loadPluginDefinition(spec: string, cwd = process.cwd(), upgrade?: PluginScope['upgrade']): Promise<{ definition: PluginDefinition; source: string }> {
  const { file, source } = resolvePlugin(spec, cwd);
  return { definition: await importPlugin(file, spec, upgrade), source };
}

/** Why `definition` cannot run in `scope`, or null when it can. */
function misfit(definition: PluginDefinition, scope: PluginScope): string | null {
  const { evaluator, targets } = definition.appliesTo;
  if (evaluator !== scope.evaluator) return `plugin "${definition.name}" applies to the ${evaluator} evaluator, not ${scope.evaluator}`;
  if (targets && scope.target !== undefined && !targets.includes(scope.target)) {
    return `plugin "${definition.name}" supports the ${targets.join(', ')} ${scope.targetNoun ?? 'target'}, not ${scope.target}`;
  }
  return null;
}

/** Loads every plugin of a run, checks they fit the evaluator, its target and each other, and creates their hooks. */
export async function loadPlugins<Hooks extends BaseHooks>(entries: readonly PluginEntry[], scope: PluginScope, cwd = process.cwd()): Promise<LoadedPlugin<Hooks>[]> {
  const loaded: LoadedPlugin<Hooks>[] = [];
  const locate = locator(entries);
  for (const [index, entry] of entries.entries()) {
    const key = locate([index]);
    const rawOptions = typeof entry === 'string' ? undefined : entry.options;
    const { definition, source } = await loadPluginDefinition(pluginSpec(entry), cwd, scope.upgrade).catch((error: unknown) => {
      // An unknown name in a config file is named at its line; one from a flag is already clear as it is.
      throw error instanceof OptibenchError && key.file !== undefined && !error.location?.file ? new OptibenchError(error.message, key) : error;
    });
    const why = misfit(definition, scope);
    if (why) throw new OptibenchError(why, key);
    if (loaded.some((p) => p.definition.name === definition.name)) {
      throw new OptibenchError(`plugin "${definition.name}" is listed twice`, key);
    }
    for (const other of loaded) {
      const reason = definition.conflicts?.[other.definition.name] ?? other.definition.conflicts?.[definition.name];
      if (reason !== undefined) {
        throw new OptibenchError(`plugins "${other.definition.name}" and "${definition.name}" cannot run together: ${reason}`, key);
      }
    }
    const options = await validateOptions(definition, rawOptions, index, locate);
    const hooks = definition.create(options) as Hooks;
    if (scope.hooks) {
      const unknown = Object.keys(hooks ?? {}).filter((name) => !scope.hooks!.includes(name));
      if (hooks === null || typeof hooks !== 'object' || unknown.length) {
        throw new OptibenchError(
          `plugin "${definition.name}" returned ${unknown.length ? `hooks the ${scope.evaluator} evaluator does not have: ${unknown.join(', ')}` : 'no hooks object'} (its hooks: ${scope.hooks.join(', ')})`,
          key,
        );
      }
    }
    loaded.push({ definition: definition as PluginDefinition<unknown, Hooks>, options, hooks, source });
  }
  return loaded;
}

/**
 * Finds every plugin a config lists without importing any, so no plugin code runs (a team's plugins, checked on
 * the organizer's side): an unknown name or a missing file is refused with its key.
 */
export function checkPluginsResolve(entries: readonly PluginEntry[], cwd = process.cwd()): void {
  entries.forEach((entry, index) => {
    try {
      resolvePlugin(pluginSpec(entry), cwd);
    } catch (error) {
      if (!(error instanceof OptibenchError)) throw error;
      throw new OptibenchError(error.message, { ...error.location, key: `plugins[${index}]` });
    }
  });
}
