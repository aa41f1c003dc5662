/**
 * bench.json: the plugin ablation of `optibench bench`. Versioned like results.json: readers check `schema`
 * and `version`; removing or renaming a field bumps the version.
 */
import { z } from 'zod';
import { environmentSchema } from '../../core/environment.js';
import { metricValueSchema } from '../../core/result.js';
import { gateOptionsSchema } from './compare-schema.js';
import { microBatchSchema } from './micro.js';
import { peakSchema } from './peak.js';
import { selectionRecordSchema } from './results.js';
import { noiseSchema, peakSampleSchema } from './contention.js';
import { bootstrapSchema, intervalSchema } from './paired-speedup.js';

export const BENCH_SCHEMA_ID = 'optibench/bench';
/**
 * 2: the configurations' passes run interleaved (round-robin); `speedup` became the median of per-round paired
 * ratios, with `speedupInterval`, `pairedRatios` and `cv` (and `vsReference` paired the same way); `peak` is the highest of `peakSamples`; `passes`,
 * `bootstrap` and `noise` were added.
 */
export const BENCH_VERSION = 2;

export const benchConfigurationSchema = z.object({
  /** `baseline`, a plugin's name (that plugin alone), or `all` (every plugin together). */
  label: z.string(),
  plugins: z.array(z.string()),
  runId: z.string(),
  /** Paths relative to the folder of bench.json. */
  resultsFile: z.string(),
  report: z.string(),
  inference: z.object({ medianMs: z.number(), minMs: z.number(), maxMs: z.number(), repeats: z.array(z.number()) }),
  tokensThroughModel: z.number().int(),
  paddedTokens: z.number().int(),
  pairwiseTokens: z.number().int(),
  tokensPerSecond: z.number(),
  /** lm-eval-equivalent throughput: pairwiseTokens over the median inference time. */
  pairwiseTokensPerSecond: z.number(),
  itemsPerSecond: z.number(),
  /**
   * The median over rounds of the baseline's pass time over this configuration's pass time in the same round
   * (the passes run interleaved, so each ratio is of passes that ran back to back).
   */
  speedup: z.number(),
  /** The per-round ratios the speedup is the median of, in round order. */
  pairedRatios: z.array(z.number()),
  /** The bootstrap interval of the speedup (see `bootstrap`); null with no paired round. */
  speedupInterval: intervalSchema.nullable(),
  /**
   * Coefficient of variation of this configuration's pass times (sample standard deviation over the mean); null
   * with one pass. With segmented passes (`segments` > 1) the segments hold different items, so it is instead
   * the CV of the per-turn paired ratios to the baseline (null for the baseline itself).
   */
  cv: z.number().nullable(),
  /**
   * The baseline's total measured time over this configuration's (sum over every turn): the ratio of the
   * whole passes' wall times. Added without a version bump (optional).
   */
  wholeSpeedup: z.number().optional(),
  headlineMetric: z.string(),
  metrics: z.record(z.string(), metricValueSchema),
  /** The accuracy gate against the baseline; null for the baseline itself. */
  gate: z
    .object({
      pass: z.boolean(),
      differencePoints: z.number(),
      pairedStderrPoints: z.number().nullable(),
      mcnemarP: z.number(),
      reason: z.string(),
    })
    .nullable(),
  flops: z.object({
    /** Positions through the attention and MLP weights per pass (tokensThroughModel). */
    tokens: z.number().int(),
    /** Positions the LM head ran at: every position, or only the scored ones (head-pruning). */
    headPositions: z.number().int(),
    headAt: z.enum(['all', 'scored']),
    /** Forward FLOPs of one pass (see `formula`). */
    flops: z.number(),
    gflopsPerSecond: z.number(),
    /** Achieved GFLOP/s over the MatMul peak measured in this invocation (the highest of its samples). */
    fractionOfPeak: z.number(),
  }),
  /** tinybench on representative batches of this configuration's schedule, model loaded once. */
  micro: z.array(microBatchSchema),
  /** Median share of a measured pass spent outside model executions (the harness's own cost). */
  harnessOverhead: z.number().nullable().optional(),
  /** Which backend ran it: the bench's own, or the reference backend (`--reference`). */
  backend: z.string().optional(),
  /** Set on the reference configuration (e.g. PyTorch eager scoring every pair, as lm-eval does). */
  reference: z.boolean().optional(),
  /**
   * This configuration's lm-eval-equivalent throughput over the reference's, both from this invocation: the
   * median over rounds of the reference's pass time over this configuration's (version 1: of the medians).
   */
  vsReference: z.number().nullable().optional(),
});

export const benchFileSchema = z.object({
  schema: z.literal(BENCH_SCHEMA_ID),
  version: z.literal(BENCH_VERSION),
  id: z.string(),
  createdAt: z.string(),
  command: z.array(z.string()),
  environment: environmentSchema,
  task: z.string(),
  items: z.object({
    count: z.number().int(),
    totalDocs: z.number().int(),
    datasetPath: z.string(),
    datasetSha256: z.string(),
    limit: z.number().nullable(),
    seed: z.number().int(),
    /** How the items were chosen; absent in files written before it was recorded (a seeded subset). */
    selection: selectionRecordSchema.optional(),
    /** Set when the items are a subset: figures are then of that subset only. */
    subsetNote: z.string().nullable(),
  }),
  model: z.object({ dir: z.string(), weightsSha256: z.string(), layerWeightParameters: z.number().int(), vocabSize: z.number().int(), hiddenSize: z.number().int() }),
  backend: z.object({ name: z.string(), executionProvider: z.string(), dtype: z.string(), intraOpThreads: z.number().int(), interOpThreads: z.number().int() }),
  repeats: z.number().int(),
  /**
   * Turns per pass: each pass ran in this many segments (contiguous slices of the items, the same slices for
   * every configuration), interleaved segment by segment; `passes` then holds one entry per segment and every
   * paired ratio is of one segment. Absent (1) for unsegmented passes; added without a version bump.
   */
  segments: z.number().int().positive().optional(),
  batchSize: z.number().int(),
  /** The highest of the peak samples: what the MatMul did at its best during this invocation. */
  peak: peakSchema,
  /** The MatMul peak sampled before the first round, between rounds and after the last, with the machine's load. */
  peakSamples: z.array(peakSampleSchema).min(1),
  /** Every measured pass in the order it ran (round-robin: round 0 of each configuration, then round 1, ...). */
  passes: z.array(z.object({ round: z.number().int().nonnegative(), configuration: z.string(), ms: z.number() })),
  bootstrap: bootstrapSchema,
  /** Whether the machine was too busy for the figures to be trusted, and what was seen. */
  noise: noiseSchema,
  /** How `flops` is computed, in words. */
  formula: z.string(),
  gate: gateOptionsSchema,
  configurations: z.array(benchConfigurationSchema).min(1),
});

export type BenchFile = z.infer<typeof benchFileSchema>;
export type BenchConfiguration = z.infer<typeof benchConfigurationSchema>;
