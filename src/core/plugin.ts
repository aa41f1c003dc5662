/**
 * The plugin contract, one shape for every evaluator.
 *
 * A plugin is a plain object (as in Vite or Rollup): a name, a version, what it applies to, a schema for its
 * options and a `create` function that returns hooks. Which hooks exist, and when each is called, is up to
 * the evaluator the plugin applies to: each evaluator publishes its own hook map, as Vite extends Rollup's
 * hooks (the inference evaluator's is `src/evaluators/inference/hooks.ts`). The loader checks `appliesTo`
 * against the evaluator and the target a run uses, and refuses hooks the evaluator does not know.
 *
 * Built-in plugins in `plugins/<name>/` load through exactly the same loader as a plugin named by an npm
 * package or a file path: the module's default export must be a `PluginDefinition`.
 *
 * Options are validated with any Standard Schema library (zod, valibot, arktype...), so a third-party
 * plugin needs no dependency on optibench's own validator.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { JsonObject } from './json.js';

/** What a plugin works on: one evaluator, and optionally only some of its targets. */
export interface PluginAppliesTo {
  /** The evaluator's id, e.g. `inference`. */
  readonly evaluator: string;
  /** The evaluator's targets it supports (for inference: the backends `onnx`, `pytorch`); absent: all of them. */
  readonly targets?: readonly string[];
}

/** The hook every evaluator's hook map has. */
export interface BaseHooks {
  /** Facts about what the plugin did, recorded in results and shown in the report. */
  describe?(): JsonObject;
}

export interface PluginDefinition<Options = unknown, Hooks extends BaseHooks = BaseHooks> {
  /** Lower-case, dash-separated; what configs name it by. */
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly appliesTo: PluginAppliesTo;
  /** Validates and defaults the options the config gives; absent means the plugin takes none. */
  readonly options?: StandardSchemaV1<unknown, Options>;
  /** Plugins this one cannot run with, each with the reason the user sees. */
  readonly conflicts?: Readonly<Record<string, string>>;
  /** The hooks, from the evaluator's hook map. */
  create(options: Options): Hooks;
}

/** Identity function that gives a plugin author type inference for options and hooks. */
export function definePlugin<Options, Hooks extends BaseHooks>(definition: PluginDefinition<Options, Hooks>): PluginDefinition<Options, Hooks> {
  return definition;
}
