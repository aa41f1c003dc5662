/**
 * The plugin contract.
 *
 * A plugin is a plain object (as in Vite or Rollup): a name, a version, the backends it supports, a schema
 * for its options and a `create` function that returns hooks. Each hook is called at one stage, in the
 * order the plugins are listed in the config:
 *
 *   1. `modelBuild`      changes how the model is built (dtype, fusions, quantization); keys the build cache
 *   2. `sessionOptions`  changes how the backend runs it (threads, optimisation level, providers)
 *   3. `schedule`        changes the order and grouping of requests into batches
 *
 * Built-in plugins in `plugins/<name>/` load through exactly the same loader as a plugin named by an npm
 * package or a file path: the module's default export must be a `PluginDefinition`.
 *
 * Options are validated with any Standard Schema library (zod, valibot, arktype...), so a third-party
 * plugin needs no dependency on optibench's own validator.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { BackendName, BuildSettings, JsonValue, SessionSettings, TokenRequest } from './backend.js';

export interface ModelInfo {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly vocabSize: number;
}

export interface ModelBuildContext {
  readonly backend: BackendName;
  readonly model: ModelInfo;
  /** Mutate to change the build. Everything in it keys the build cache, so keep it JSON. */
  readonly build: BuildSettings;
}

export interface SessionOptionsContext {
  readonly backend: BackendName;
  /** Mutate to change how the session runs. */
  readonly session: SessionSettings;
}

export interface ScheduleContext {
  /** Every request of the run, in task order. */
  readonly requests: readonly TokenRequest[];
  readonly batchSize: number;
  /** The batches the previous stage produced (the default length-sorted schedule, or an earlier plugin's). */
  readonly batches: readonly (readonly TokenRequest[])[];
}

export interface PluginHooks {
  modelBuild?(context: ModelBuildContext): void;
  sessionOptions?(context: SessionOptionsContext): void;
  /** Returns the batches to run; every request must appear exactly once. */
  schedule?(context: ScheduleContext): TokenRequest[][];
  /** Facts about what the plugin did, recorded in results and shown in the report. */
  describe?(): { [key: string]: JsonValue };
}

export interface PluginDefinition<Options = unknown> {
  /** Lower-case, dash-separated; what configs name it by. */
  readonly name: string;
  readonly version: string;
  readonly description: string;
  readonly backends: readonly BackendName[];
  /** Validates and defaults the options the config gives; absent means the plugin takes none. */
  readonly options?: StandardSchemaV1<unknown, Options>;
  /** Plugins this one cannot run with, each with the reason the user sees. */
  readonly conflicts?: Readonly<Record<string, string>>;
  create(options: Options): PluginHooks;
}

/** Identity function that gives a plugin author type inference for options. */
export function definePlugin<Options>(definition: PluginDefinition<Options>): PluginDefinition<Options> {
  return definition;
}
