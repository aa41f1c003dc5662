/**
 * The inference evaluator's hook map: what a plugin that `appliesTo: { evaluator: 'inference' }` may do. Each
 * hook is called at one stage, in the order the plugins are listed in the config:
 *
 *   1. `modelBuild`      changes how the model is built (dtype, fusions, quantization); keys the build cache
 *   2. `sessionOptions`  changes how the backend runs it (threads, optimisation level, providers)
 *   3. `schedule`        changes the order and grouping of requests into batches
 *   4. `describe`        facts about what the plugin did, for results and the report (every evaluator has it)
 *
 * Targets are the backends (`onnx`, `pytorch`). A third-party plugin imports `defineInferencePlugin` from
 * `optibench/inference` for type inference; a plain object with the same shape works as well.
 */
import type { BackendName, BuildSettings, ModelInfo, SessionSettings, TokenRequest } from '../../core/backend.js';
import type { BaseHooks, PluginDefinition } from '../../core/plugin.js';

export const INFERENCE_EVALUATOR_ID = 'inference';
/** Bumped when what a run scores or how changes (results say which rules scored them). */
export const INFERENCE_EVALUATOR_VERSION = '1';

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

export interface InferenceHooks extends BaseHooks {
  modelBuild?(context: ModelBuildContext): void;
  sessionOptions?(context: SessionOptionsContext): void;
  /** Returns the batches to run; every request must appear exactly once. */
  schedule?(context: ScheduleContext): TokenRequest[][];
}

/** The hook names, in the order they are called: the loader refuses any other. */
export const INFERENCE_HOOKS: readonly (keyof InferenceHooks)[] = ['modelBuild', 'sessionOptions', 'schedule', 'describe'];

export type InferencePluginDefinition<Options = unknown> = PluginDefinition<Options, InferenceHooks> & {
  readonly appliesTo: { readonly evaluator: typeof INFERENCE_EVALUATOR_ID; readonly targets?: readonly BackendName[] };
};

/** Identity function that gives an inference plugin's author type inference for options and hooks. */
export function defineInferencePlugin<Options>(definition: InferencePluginDefinition<Options>): InferencePluginDefinition<Options> {
  return definition;
}
