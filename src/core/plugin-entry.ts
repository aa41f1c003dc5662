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
