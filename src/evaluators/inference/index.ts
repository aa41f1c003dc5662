/**
 * The inference challenge as an evaluator: LLaMA on HellaSwag with optimization plugins, ranked by the median
 * inference time among the runs whose accuracy stays within the gate of the baseline's.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import type { Evaluator } from '../../core/evaluator.js';
import type { LoadedPlugin } from '../../core/plugin-loader.js';
import { INFERENCE_STANDINGS, teamStandings } from './board/query.js';
import { renderInferenceBoard } from './board/render.js';
import { registerBench } from './commands/bench.js';
import { registerCompare } from './commands/compare.js';
import { registerExport } from './commands/export.js';
import { registerGenerateModel } from './commands/generate-model.js';
import { registerMachineCheck } from './commands/machine-check.js';
import { registerModelScale } from './commands/model-scale.js';
import { registerRerun } from './commands/rerun.js';
import { registerRescore } from './commands/rescore.js';
import { registerRun } from './commands/run.js';
import { registerServe } from './commands/serve.js';
import { probeSut } from './sut/probe.js';
import { registerSut } from './commands/sut.js';
import { configJsonSchema, configSchema, loadConfig, type RunConfig } from './config.js';
import { DEFAULT_GATE_METRIC, DEFAULT_MAX_DROP_POINTS, judge, type GateOptions } from './gate.js';
import { INFERENCE_EVALUATOR_ID, INFERENCE_EVALUATOR_VERSION, type InferenceHooks } from './hooks.js';
import { inferencePluginScope } from './plugins.js';
import { renderRunReportWithTexts } from './report/render-run.js';
import { readResultsFile } from './results-file.js';
import { INFERENCE_HEADLINE, inferenceResultSchema, type InferencePayload, type InferenceResult } from './results.js';
import { runEvaluation } from './runner.js';
import { inferenceTables } from './store/tables.js';
import { recordGateVerdict } from './rerun/baseline.js';
import { benchFileSchema } from './bench-schema.js';
import { machineCheckSchema } from './machine-check.js';
import { leaderboardFileSchema } from './board/schema.js';
import { compareFileSchema } from './compare-schema.js';

const jsonSchemaOf = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;

export const DEFAULT_GATE: GateOptions = { metric: DEFAULT_GATE_METRIC, maxDropPoints: DEFAULT_MAX_DROP_POINTS };

export const inferenceEvaluator: Evaluator<RunConfig, InferencePayload, GateOptions> = {
  id: INFERENCE_EVALUATOR_ID,
  version: INFERENCE_EVALUATOR_VERSION,
  title: 'HellaSwag inference',
  description: 'LLaMA on the HellaSwag validation set: the fastest inference time wins while accuracy stays within the gate of the baseline',
  config: {
    schema: configSchema,
    jsonSchema: configJsonSchema,
    load: async (file, cwd) => (await loadConfig(file, {}, cwd)).config,
    plugins: (config) => ({ entries: config.plugins, scope: inferencePluginScope(config.backend.name) }),
    outputDir: (config) => config.outputDir,
    cacheDir: (config) => config.cacheDir,
  },
  headline: INFERENCE_HEADLINE,
  async evaluate(entry, config, context) {
    return runEvaluation(
      config,
      {
        signal: context.signal,
        phase: (_phase, message) => context.say?.(message),
        onPrepared: (run) => context.recording?.started(run),
        onItems: (items) => context.recording?.items(items),
      },
      context.runId,
      { plugins: context.plugins as readonly LoadedPlugin<InferenceHooks>[], subject: { team: entry.team, commit: entry.commit } },
    );
  },
  judge(candidate, reference, rules = DEFAULT_GATE) {
    const verdict = judge(reference as InferenceResult, candidate as InferenceResult, rules).verdict;
    return { passed: verdict.pass, reason: verdict.reason, referenceRunId: reference.runId };
  },
  recordVerdict(store, runId, verdict, candidate, reference, rules = DEFAULT_GATE) {
    recordGateVerdict(store, runId, judge(reference as InferenceResult, candidate as InferenceResult, rules), reference.runId, rules);
  },
  verdictLabel: INFERENCE_STANDINGS.verdictLabel!,
  resultJsonSchema: () => jsonSchemaOf(inferenceResultSchema),
  fileSchemas: {
    compare: { file: 'compare.json (optibench compare)', jsonSchema: () => jsonSchemaOf(compareFileSchema) },
    bench: { file: 'bench.json (optibench bench)', jsonSchema: () => jsonSchemaOf(benchFileSchema) },
    'machine-check': { file: 'the JSON of optibench machine-check --json', jsonSchema: () => jsonSchemaOf(machineCheckSchema) },
    leaderboard: { file: "leaderboard.json (the inference board's, beside its page)", jsonSchema: () => jsonSchemaOf(leaderboardFileSchema) },
  },
  readResult: readResultsFile,
  renderReport: (result) => renderRunReportWithTexts(result as InferenceResult),
  tables: inferenceTables,
  board: {
    title: 'HellaSwag inference',
    columns: [
      { key: 'inference', label: 'inference', format: 'ms', value: (row) => row.score },
      { key: 'acc_norm', label: 'acc_norm', format: 'percent', value: (row) => row.metrics.acc_norm ?? null },
      { key: 'acc', label: 'acc', format: 'percent', value: (row) => row.metrics.acc ?? null },
    ],
    standings: teamStandings,
    render: renderInferenceBoard,
  },
  probeSubmission: probeSut,
  registerCommands(program: Command) {
    registerRun(program);
    registerRescore(program);
    registerExport(program);
    registerCompare(program);
    registerBench(program);
    registerMachineCheck(program);
    registerRerun(program);
    registerGenerateModel(program);
    registerModelScale(program);
    registerServe(program);
    registerSut(program);
  },
};
