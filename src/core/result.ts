/**
 * The result envelope: one versioned shape every evaluator writes (`results.json`) and the results store,
 * reports and leaderboard read. What every competition has in common is here: which evaluator scored what
 * (subject), how it ended, on which machine, with which plugins, how long it took, its metrics, its headline
 * figure with the direction that wins, and the verdict it was judged with. What only one evaluator has (the
 * inference challenge's per-item log-likelihoods, say) is its typed `payload`.
 *
 * Readers check `schema` and `version` first; a change that removes or renames a field bumps the version.
 * Version 1 was the inference challenge's file before evaluators existed; its evaluator upgrades it.
 */
import { z } from 'zod';
import { environmentSchema } from './environment.js';
import { jsonObjectSchema, jsonValueSchema } from './json.js';

export const RESULT_SCHEMA_ID = 'optibench/results';
export const RESULT_VERSION = 2;

/** A metric and its standard error; stderr is null when fewer than two items were scored (it is undefined then). */
export const metricValueSchema = z.object({ value: z.number(), stderr: z.number().nullable() });
export type MetricValue = z.infer<typeof metricValueSchema>;

/** Which way a score wins: a time is better lower, an accuracy or a compression ratio higher. */
export const directionSchema = z.enum(['lower', 'higher']);
export type Direction = z.infer<typeof directionSchema>;

/** The figure an evaluator ranks by, as one result measured it. */
export const headlineSchema = z.object({
  /** Stable name, e.g. `inference_ms`. */
  name: z.string().min(1),
  /** For people: "inference time". */
  label: z.string().min(1),
  unit: z.string(),
  direction: directionSchema,
  /** Null when the run measured nothing that may be ranked (incomplete, resumed). */
  value: z.number().nullable(),
});
export type Headline = z.infer<typeof headlineSchema>;

/** A judgement of this result against a reference (the accuracy gate against the baseline, a score to beat). */
export const verdictSchema = z.object({
  passed: z.boolean(),
  /** One sentence: pass or fail and why. */
  reason: z.string(),
  /** The run judged against, when there is one. */
  referenceRunId: z.string().nullable(),
});
export type Verdict = z.infer<typeof verdictSchema>;

/** What was scored: the configuration actually run, and whose submission it was. */
export const subjectSchema = z.object({
  /** sha256 of the canonical configuration (see the evaluator for what it leaves out); null in migrated files that had none. */
  configSha256: z.string().nullable(),
  team: z.string().nullable(),
  /** The submission's commit, when a submission was scored. */
  commit: z.string().nullable(),
});
export type Subject = z.infer<typeof subjectSchema>;

export const pluginRecordSchema = z.object({
  name: z.string(),
  version: z.string(),
  /** `builtin`, `npm:<package>` or `file:<path>`. */
  source: z.string(),
  options: jsonValueSchema,
  /** What the plugin says it did (its `describe` hook). */
  facts: jsonObjectSchema,
});
export type PluginRecord = z.infer<typeof pluginRecordSchema>;

/** Every evaluator's timings have a total; the rest is the evaluator's. */
export const baseTimingsSchema = z.object({ totalMs: z.number() });

const STATUS = z.enum(['complete', 'incomplete']);
export type ResultStatus = z.infer<typeof STATUS>;

/** The envelope around one evaluator's payload and timings. */
export function resultSchema<Payload extends z.ZodType, Timings extends z.ZodType<{ totalMs: number }>>(payload: Payload, timings: Timings) {
  return z.object({
    schema: z.literal(RESULT_SCHEMA_ID),
    version: z.literal(RESULT_VERSION),
    evaluator: z.object({ id: z.string().min(1), version: z.string().min(1) }),
    runId: z.string().min(1),
    createdAt: z.string(),
    /** `incomplete` files hold what was computed before a failure; metrics then cover only that. */
    status: STATUS,
    error: z.string().optional(),
    subject: subjectSchema,
    /** The configuration as run (the evaluator's config schema). */
    config: jsonObjectSchema,
    environment: environmentSchema,
    plugins: z.array(pluginRecordSchema),
    timings,
    metrics: z.record(z.string(), metricValueSchema),
    headline: headlineSchema,
    verdict: verdictSchema.nullable(),
    payload,
  });
}

/** Any evaluator's result, payload and timings unread: what generic readers (store, leaderboard) need. */
export const anyResultSchema = resultSchema(z.unknown(), baseTimingsSchema.loose());

export type Result<Payload = unknown, Timings extends { totalMs: number } = { totalMs: number }> = Omit<z.infer<typeof anyResultSchema>, 'payload' | 'timings'> & {
  payload: Payload;
  timings: Timings;
};

/** `results.json` when complete, `results.incomplete.json` otherwise: a reader that globs the first never sees a half run. */
export function resultFileName(result: Pick<Result, 'status'>): string {
  return result.status === 'complete' ? 'results.json' : 'results.incomplete.json';
}

/** The JSON Schema of the envelope (payload and timings left open), for readers of results files. */
export function resultJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(anyResultSchema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
}
