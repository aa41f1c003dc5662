/** Loading the plugins of an inference run: the generic loader, scoped to this evaluator and the run's backend. */
import type { BackendName } from '../../core/backend.js';
import type { PluginEntry } from '../../core/plugin-entry.js';
import { loadPlugins as loadScoped, type LoadedPlugin, type PluginScope } from '../../core/plugin-loader.js';
import { INFERENCE_EVALUATOR_ID, INFERENCE_HOOKS, type InferenceHooks } from './hooks.js';

export type LoadedInferencePlugin = LoadedPlugin<InferenceHooks>;

/**
 * Plugins written before evaluators existed said `backends: [...]`; they are inference plugins for those
 * backends, and keep loading unchanged.
 */
function upgradeBackendsShape(definition: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(definition.backends)) return definition;
  const { backends, ...rest } = definition;
  return { ...rest, appliesTo: { evaluator: INFERENCE_EVALUATOR_ID, targets: backends } };
}

export function inferencePluginScope(backend?: BackendName): PluginScope {
  return { evaluator: INFERENCE_EVALUATOR_ID, target: backend, targetNoun: 'backend', hooks: INFERENCE_HOOKS, upgrade: upgradeBackendsShape };
}

export function loadPlugins(entries: readonly PluginEntry[], backend: BackendName, cwd = process.cwd()): Promise<LoadedInferencePlugin[]> {
  return loadScoped<InferenceHooks>(entries, inferencePluginScope(backend), cwd);
}
