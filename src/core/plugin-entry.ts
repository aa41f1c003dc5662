/** How an evaluator's config names a plugin: by name or path, with or without options. */
import path from 'node:path';
import { z } from 'zod';

export const pluginEntrySchema = z.union([
  z.string().min(1).describe('A built-in plugin name, an npm package name, or a path to a plugin module'),
  z.strictObject({
    name: z.string().min(1).describe('A built-in plugin name, an npm package name, or a path to a plugin module'),
    options: z.record(z.string(), z.unknown()).optional().describe("The plugin's options; see the plugin's README"),
  }),
]);

export type PluginEntry = z.infer<typeof pluginEntrySchema>;

export function pluginSpec(entry: PluginEntry): string {
  return typeof entry === 'string' ? entry : entry.name;
}

/** Plugin specs that look like paths (not names of built-ins or npm packages). */
export function looksLikePath(spec: string): boolean {
  return spec.startsWith('.') || path.isAbsolute(spec) || /\.(m?js|ts)$/.test(spec);
}

/** Where a config file's plugin list came from: the file, and the line of a key path inside the list. */
export interface PluginOrigin {
  readonly file: string;
  readonly lineFor: (keyPathInList: readonly PropertyKey[]) => number | undefined;
}

/**
 * Plugins are loaded long after their config was read, by code that is handed only the entries. The list a
 * config loader returns is remembered here (weakly: it goes with the config), so the loader's errors, an
 * option a plugin refuses above all, still name the file and line they come from.
 */
const origins = new WeakMap<readonly PluginEntry[], PluginOrigin>();

export function recordPluginOrigin(entries: readonly unknown[], file: string, lineFor: PluginOrigin['lineFor']): void {
  origins.set(entries as readonly PluginEntry[], { file, lineFor });
}

export function pluginOrigin(entries: readonly PluginEntry[]): PluginOrigin | undefined {
  return origins.get(entries);
}
