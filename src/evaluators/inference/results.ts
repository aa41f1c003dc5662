/**
 * The versioned results file every evaluator writes (`results.json`). Readers check `schema` and
 * `version` first; a change that removes or renames a field bumps the version.
 */
import { z } from 'zod';
import { environmentSchema } from '../../core/environment.js';

export const RESULTS_SCHEMA_ID = 'optibench/results';
export const RESULTS_VERSION = 1;

const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

/** stderr is null when fewer than two items were scored (it is undefined then). */
export const metricValueSchema = z.object({ value: z.number(), stderr: z.number().nullable() });

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

/** Null when no repeat finished (an incomplete run). */
const statsSchema = z.object({
  repeats: z.array(z.number()),
  medianMs: z.number().nullable(),
  minMs: z.number().nullable(),
  maxMs: z.number().nullable(),
});


export const resultsSchema = z.object({
  schema: z.literal(RESULTS_SCHEMA_ID),
  version: z.literal(RESULTS_VERSION),
  runId: z.string(),
  createdAt: z.string(),
  /** `incomplete` files hold what was computed before a failure; metrics then cover only those items. */
  status: z.enum(['complete', 'incomplete']),
  error: z.string().optional(),
  task: z.object({
    name: z.string(),
    version: z.string(),
    dataset: z.object({
      path: z.string(),
      sha256: z.string(),
      totalDocs: z.number().int(),
      selectedDocs: z.number().int(),
      limit: z.number().int().nullable(),
      seed: z.number().int(),
    }),
  }),
  model: z.object({
    dir: z.string(),
    weightsSha256: z.string(),
    config: z.record(z.string(), jsonValue),
  }),
  backend: z.object({
    name: z.string(),
    build: z.record(z.string(), jsonValue),
    session: z.record(z.string(), jsonValue),
    load: z.record(z.string(), jsonValue),
  }),
  plugins: z.array(
    z.object({ name: z.string(), version: z.string(), source: z.string(), options: jsonValue, facts: z.record(z.string(), jsonValue) }),
  ),
  config: z.record(z.string(), jsonValue),
  environment: environmentSchema,
  timings: z.object({
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
    totalMs: z.number(),
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
  /** Largest difference between the log-likelihoods of repeats: 0 means the backend is deterministic. */
  repeatMaxAbsDiff: z.number(),
  /** sha256 of the canonical JSON of `config` (keys sorted, no whitespace) without outputDir and cacheDir: the config actually run. */
  configSha256: z.string().optional(),
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
  resumed: z.object({ itemsCarriedOver: z.number().int().nonnegative(), itemsRun: z.number().int().nonnegative() }).optional(),
  /** Micro-benchmarks taken on the loaded model after the measured repeats (optibench bench). */
  micro: z.record(z.string(), jsonValue).optional(),
  /** The metric the run is judged by; a key of `metrics`. */
  headlineMetric: z.string(),
  metrics: z.record(z.string(), metricValueSchema),
  items: z.array(itemResultSchema),
});

export type Results = z.infer<typeof resultsSchema>;
export type ItemResult = z.infer<typeof itemResultSchema>;
