/**
 * Version 1 of the results file, as the inference challenge wrote it before evaluators existed: the same facts
 * as version 2, laid out flat. Kept to read such files (`optibench rescore`, baselines recorded back then) and
 * upgrade them to version 2; nothing writes it any more.
 */
import { z } from 'zod';
import { environmentSchema } from '../../core/environment.js';
import { jsonObjectSchema, jsonValueSchema } from '../../core/json.js';
import { RESULT_SCHEMA_ID, RESULT_VERSION, metricValueSchema } from '../../core/result.js';
import { INFERENCE_EVALUATOR_ID } from './hooks.js';
import { inferenceHeadline, inferencePayloadSchema, inferenceTimingsSchema, type InferenceResult } from './results.js';

const payload = inferencePayloadSchema.shape;

export const resultsV1Schema = z.object({
  schema: z.literal(RESULT_SCHEMA_ID),
  version: z.literal(1),
  runId: z.string(),
  createdAt: z.string(),
  status: z.enum(['complete', 'incomplete']),
  error: z.string().optional(),
  task: payload.task,
  model: payload.model,
  backend: payload.backend,
  plugins: z.array(z.object({ name: z.string(), version: z.string(), source: z.string(), options: jsonValueSchema, facts: jsonObjectSchema })),
  config: jsonObjectSchema,
  environment: environmentSchema,
  timings: inferenceTimingsSchema,
  throughput: payload.throughput,
  peakRssBytes: payload.peakRssBytes,
  repeatMaxAbsDiff: payload.repeatMaxAbsDiff,
  configSha256: z.string().optional(),
  shuffleSeed: payload.shuffleSeed,
  canary: payload.canary,
  resumed: payload.resumed,
  micro: payload.micro,
  headlineMetric: z.string(),
  metrics: z.record(z.string(), metricValueSchema),
  items: payload.items,
});

export type ResultsV1 = z.infer<typeof resultsV1Schema>;

/**
 * The same run as a version 2 result. Version 1 files were written by `optibench run` (and its callers) on the
 * organizer's or a team's machine: no team or commit, no verdict inside; the evaluator version is the one
 * the inference challenge had then.
 */
export function upgradeResultsV1(v1: ResultsV1): InferenceResult {
  const { schema: _schema, version: _version, runId, createdAt, status, error, config, environment, plugins, timings, metrics, configSha256, headlineMetric, ...rest } = v1;
  return {
    schema: RESULT_SCHEMA_ID,
    version: RESULT_VERSION,
    evaluator: { id: INFERENCE_EVALUATOR_ID, version: '1' },
    runId,
    createdAt,
    status,
    ...(error === undefined ? {} : { error }),
    subject: { configSha256: configSha256 ?? null, team: null, commit: null },
    config,
    environment,
    plugins,
    timings,
    metrics,
    headline: inferenceHeadline(timings.inference.medianMs, (rest.resumed?.itemsCarriedOver ?? 0) > 0),
    verdict: null,
    payload: { ...rest, primaryMetric: headlineMetric },
  };
}
