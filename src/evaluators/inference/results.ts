/**
 * The inference evaluator's result: the common envelope (`core/result.ts`) around the HellaSwag payload
 * (every item's four log-likelihoods, so `optibench rescore` can redo every metric offline) and the
 * inference timings (prepare, load, warm-up and each measured pass apart).
 */
import { z } from 'zod';
import { jsonObjectSchema } from '../../core/json.js';
import { resultSchema, type Headline } from '../../core/result.js';
import type { HeadlineSpec } from '../../core/evaluator.js';
import type { DocSelection } from '../../core/subset.js';

/** core/subset.ts's DocSelection as results record it. */
export const selectionRecordSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('seeded'), limit: z.number().nullable(), seed: z.number().int() }),
  z.object({ mode: z.literal('first'), limit: z.number().nullable() }),
  z.object({ mode: z.literal('indices'), indices: z.array(z.number().int().nonnegative()) }),
]);

/** The selection of a results file, including one written before selections were recorded (a seeded subset). */
export function recordedSelection(dataset: { limit: number | null; seed: number; selection?: z.infer<typeof selectionRecordSchema> | undefined }): DocSelection {
  return dataset.selection ?? { mode: 'seeded', limit: dataset.limit, seed: dataset.seed };
}

export function selectionRecord(selection: DocSelection): z.infer<typeof selectionRecordSchema> {
  return selection.mode === 'indices' ? { mode: 'indices', indices: [...selection.indices] } : { ...selection };
}

export const itemResultSchema = z.object({
  /** Index of the document in the dataset file. */
  index: z.number().int().nonnegative(),
  gold: z.number().int().nonnegative(),
  choiceChars: z.array(z.number().int().nonnegative()),
  loglikelihoods: z.array(z.number()),
  isGreedy: z.array(z.boolean()),
  contextTokens: z.number().int().nonnegative(),
  continuationTokens: z.array(z.number().int().nonnegative()),
  predictions: z.record(z.string(), z.number().int()),
});

export const carriedRequestSchema = z.object({
  index: z.number().int().nonnegative(),
  ending: z.number().int().nonnegative(),
  logprob: z.number(),
  isGreedy: z.boolean(),
});
export type CarriedRequest = z.infer<typeof carriedRequestSchema>;

/** Null when no repeat finished (an incomplete run). */
export const statsSchema = z.object({
  repeats: z.array(z.number()),
  medianMs: z.number().nullable(),
  minMs: z.number().nullable(),
  maxMs: z.number().nullable(),
});

export const latencySummarySchema = z.object({
  count: z.number().int(),
  totalMs: z.number(),
  meanMs: z.number(),
  p50Ms: z.number(),
  p90Ms: z.number(),
  p95Ms: z.number(),
  p99Ms: z.number(),
  stdevMs: z.number(),
  stdevPercent: z.number(),
});

export const inferenceTimingsSchema = z.object({
  /** Reading and tokenizing the dataset, building the requests and the schedule. */
  prepareMs: z.number(),
  /** Reading the model and building or loading the backend session. */
  loadMs: z.number(),
  /** Untimed warm-up batches run before the measured repeats. */
  warmupMs: z.number(),
  /** Every measured pass over all requests; the median is the headline inference time. */
  inference: statsSchema,
  /** Per measured pass, the time inside model executions (ONNX Runtime session runs, worker forwards). */
  modelExecution: statsSchema.optional(),
  /** Median share of a measured pass spent outside model executions: the harness's own cost. */
  harnessOverhead: z.number().nullable().optional(),
  /**
   * Every measured batch's time, for the latency distribution and the throughput over a pass. Added in
   * evaluator version 1 without a version bump: it is optional, so files written before it still read.
   */
  batches: z
    .object({
      /** Requests in each batch, in the order the batches ran (canary batches are not measured batches). */
      requests: z.array(z.number().int().nonnegative()),
      /** Per measured pass, each batch's time from request to answer, in the same order. */
      passesMs: z.array(z.array(z.number())),
      /** Over every batch of every measured pass, as optimum-benchmark summarises a latency list. */
      latency: latencySummarySchema.nullable(),
    })
    .optional(),
  /**
   * With segmented passes (`bench --full`): each pass ran as `count` turns over contiguous slices of the items
   * (in the run's item order), each slice scheduled on its own, and another configuration may have run
   * between them; the pass's time is the sum of its segments'. Absent for an ordinary, unsegmented run.
   */
  segments: z
    .object({
      count: z.number().int().positive(),
      /** Items in each segment, in order. */
      items: z.array(z.number().int().nonnegative()),
      /** Per measured pass, each segment's time. */
      passesMs: z.array(z.array(z.number())),
    })
    .optional(),
  totalMs: z.number(),
});

/** Bounded as any untrusted input is: a sandboxed run's results come from the submission's side. */
export const operatorProfileSchema = z.object({
  batches: z.number().int().nonnegative(),
  warmupBatches: z.number().int().nonnegative(),
  runs: z.number().int().nonnegative(),
  runMs: z.number().nonnegative(),
  kernelMs: z.number().nonnegative(),
  kernels: z
    .array(z.object({ scope: z.string().max(200), operator: z.string().max(200), calls: z.number().int().nonnegative(), ms: z.number().nonnegative(), flops: z.number().nonnegative().optional() }))
    .max(10_000),
});

export const inferencePayloadSchema = z.object({
  task: z.object({
    name: z.string(),
    version: z.string(),
    dataset: z.object({
      path: z.string(),
      sha256: z.string(),
      totalDocs: z.number().int(),
      selectedDocs: z.number().int(),
      /** Items, or (below 1) a share of them; null when all were scored or `selection` lists indices. */
      limit: z.number().nullable(),
      seed: z.number().int(),
      /** How the items were chosen (core/subset.ts); absent in files written before it was recorded: seeded. */
      selection: selectionRecordSchema.optional(),
    }),
  }),
  model: z.object({
    dir: z.string(),
    weightsSha256: z.string(),
    config: jsonObjectSchema,
  }),
  backend: z.object({
    name: z.string(),
    build: jsonObjectSchema,
    session: jsonObjectSchema,
    load: jsonObjectSchema,
  }),
  throughput: z.object({
    requests: z.number().int(),
    batches: z.number().int(),
    /** Token positions the model computed per pass, padding excluded (shared prefixes counted once). */
    tokensThroughModel: z.number().int(),
    /** The same, padding included. */
    paddedTokens: z.number().int(),
    /** What lm-evaluation-harness computes for the same requests: every request as its own sequence. */
    pairwiseTokens: z.number().int(),
    itemsPerSecond: z.number(),
    tokensPerSecond: z.number(),
    /** lm-eval-equivalent throughput: pairwiseTokens over the median inference time. */
    pairwiseTokensPerSecond: z.number(),
  }),
  /** Peak resident set size of the optibench process during the run. */
  peakRssBytes: z.number(),
  /**
   * Peak resident set size of the backend's worker, where the model ran (PyTorch: every rank's, summed),
   * read from the worker after the measured passes; absent for in-process backends (ONNX Runtime), and in
   * results written before it was recorded.
   */
  workerPeakRssBytes: z.number().optional(),
  /** Largest difference between the log-likelihoods of repeats: 0 means the backend is deterministic. */
  repeatMaxAbsDiff: z.number(),
  /** Seed of the order the items were issued in (shuffled per run, so a backend cannot key answers by position). */
  shuffleSeed: z.number().int().optional(),
  /**
   * The canary check: `items` documents were issued again during each measured pass as fresh requests with
   * their endings in another order; every ending's log-likelihood matched the original within `tolerance`.
   * Canary batches are neither timed into the headline nor scored.
   */
  canary: z
    .object({ items: z.number().int().nonnegative(), requests: z.number().int().nonnegative(), tolerance: z.number(), maxAbsDiff: z.number() })
    .optional(),
  /**
   * Set when the run continued an interrupted one: the items carried over were computed earlier and are not
   * in the timings or the throughput, which cover only the `itemsRun` this process computed.
   */
  resumed: z
    .object({
      itemsCarriedOver: z.number().int().nonnegative(),
      itemsRun: z.number().int().nonnegative(),
      /** Finished requests of items the interrupted run had not finished, taken from its incomplete file, not computed again. */
      requestsCarriedOver: z.number().int().nonnegative().optional(),
    })
    .optional(),
  /**
   * An incomplete run's answered requests of the items it did not finish (by dataset index and ending), so
   * `--resume` computes only what is missing: with long-first batches, most items are part-way when a run stops.
   */
  partialRequests: z.array(carriedRequestSchema).optional(),
  /**
   * Set when a system under test answered over the SUT protocol (an organizer's re-run): the organizer's
   * harness timed it from outside; `reported` is what the SUT said about itself, kept as said and never ranked.
   */
  sut: z
    .object({
      protocol: z.number().int(),
      name: z.string(),
      form: z.enum(['config', 'command']),
      timedBy: z.literal('organizer'),
      seed: z.number().int(),
      passes: z.number().int(),
      warmupRequests: z.number().int(),
      /** Median share of a measured pass spent in the harness's own work (writing requests, reading answers). */
      harnessShare: z.number().nullable(),
      /** Later passes against pass 1: the largest difference of a request's sum, and per continuation token (what `tolerance` bounds). */
      agreement: z.object({ maxAbsDiff: z.number(), maxPerToken: z.number(), tolerance: z.number() }),
      reissue: z.object({ ratio: z.number().nullable(), tolerance: z.number(), floorMs: z.number() }),
      reported: jsonObjectSchema,
    })
    .optional(),
  /** Micro-benchmarks taken on the loaded model after the measured repeats (optibench bench). */
  micro: jsonObjectSchema.optional(),
  /**
   * `--profile-ops`: the runtime profiler's kernel times on a sample of the run's batches, taken in a second
   * session after the measured passes (never during them). For looking at where the time goes, never ranked:
   * in a sandboxed run it is what the submission's side of the sandbox wrote.
   */
  operatorProfile: operatorProfileSchema.optional(),
  /** The task's metric quoted first and judged by the accuracy gate by default (acc_norm for HellaSwag); a key of `metrics`. */
  primaryMetric: z.string(),
  items: z.array(itemResultSchema),
});

export const inferenceResultSchema = resultSchema(inferencePayloadSchema, inferenceTimingsSchema);

export type InferenceResult = z.infer<typeof inferenceResultSchema>;
export type InferencePayload = z.infer<typeof inferencePayloadSchema>;
export type InferenceTimings = z.infer<typeof inferenceTimingsSchema>;
export type ItemResult = z.infer<typeof itemResultSchema>;

/** The inference challenge ranks by the organizer-measured median inference time: lower wins. */
export const INFERENCE_HEADLINE: HeadlineSpec = { name: 'inference_ms', label: 'inference time', unit: 'ms', direction: 'lower', positive: true };

/**
 * The time a run is ranked by: pass 1 of a SUT measured by the organizer's harness (the one pass whose every
 * request was new to it, and the one scored), else the median of the measured passes of an in-process run.
 */
export function rankedInferenceMs(results: Pick<InferenceResult, 'timings' | 'payload'>): number | null {
  return results.payload.sut ? (results.timings.inference.repeats[0] ?? null) : results.timings.inference.medianMs;
}

/**
 * The run's rankable time: the median of its measured passes, unless it measured only part of its items (a
 * resumed run's clock covered only the items it ran, so it must not be ranked against full runs).
 */
export function inferenceHeadline(medianMs: number | null, resumed: boolean): Headline {
  const { name, label, unit, direction } = INFERENCE_HEADLINE;
  return { name, label, unit, direction, value: resumed ? null : medianMs };
}
