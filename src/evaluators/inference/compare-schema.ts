/**
 * compare.json: what `optibench compare` decided and from what. Versioned like results.json: readers check
 * `schema` and `version`; removing or renaming a field bumps the version.
 */
import { z } from 'zod';
import { agreementSchema } from './agreement.js';
import { bootstrapSchema, intervalSchema } from './paired-speedup.js';

export const COMPARE_SCHEMA_ID = 'optibench/compare';
export const COMPARE_VERSION = 1;

const tableSchema = z.object({
  bothCorrect: z.number().int().nonnegative(),
  baselineOnly: z.number().int().nonnegative(),
  candidateOnly: z.number().int().nonnegative(),
  neitherCorrect: z.number().int().nonnegative(),
});

export const metricComparisonSchema = z.object({
  name: z.string(),
  baseline: z.number().min(0).max(1),
  candidate: z.number().min(0).max(1),
  differencePoints: z.number(),
  pairedStderrPoints: z.number().nullable(),
  table: tableSchema,
  mcnemarP: z.number().min(0).max(1),
});

export const verdictSchema = z.object({ pass: z.boolean(), reason: z.string(), subsetNote: z.string().nullable() });

export const gateOptionsSchema = z.object({ metric: z.string(), maxDropPoints: z.number().nonnegative() });

const sideSchema = z.object({
  runId: z.string(),
  /** Paths relative to the folder of compare.json. */
  resultsFile: z.string(),
  report: z.string().nullable(),
  /** What ran it: `onnx (cpu, fp32)`; added in version 1, optional (files written before it lack it). */
  backend: z.string().optional(),
  plugins: z.array(z.string()),
  /** Median inference wall time of the run; null when it was not measured. */
  inferenceMedianMs: z.number().nullable(),
  tokensPerSecond: z.number(),
});

export const compareFileSchema = z.object({
  schema: z.literal(COMPARE_SCHEMA_ID),
  version: z.literal(COMPARE_VERSION),
  id: z.string(),
  createdAt: z.string(),
  /** `runs`: both configurations were run by this invocation; `results`: two existing results files were judged. */
  mode: z.enum(['runs', 'results']),
  command: z.array(z.string()),
  /** Whether --submission was given (a subset is then refused). */
  submission: z.boolean(),
  items: z.object({ count: z.number().int(), totalDocs: z.number().int(), datasetSha256: z.string(), datasetPath: z.string() }),
  baseline: sideSchema,
  candidate: sideSchema,
  /**
   * Measured in the same invocation, the passes interleaved: the median over rounds of the baseline's pass time
   * over the candidate's in the same round; null in `results` mode or when unmeasured.
   */
  speedup: z.number().nullable(),
  /** In `runs` mode: the interleaved passes and the speedup's interval (added in version 1, optional). */
  timing: z
    .object({
      /** Every measured pass in the order it ran: baseline, candidate, baseline, ... */
      passes: z.array(z.object({ round: z.number().int().nonnegative(), side: z.enum(['baseline', 'candidate']), ms: z.number() })),
      pairedRatios: z.array(z.number()),
      speedupInterval: intervalSchema.nullable(),
      bootstrap: bootstrapSchema,
      /** Coefficient of variation of each side's pass times; null with one pass. */
      cv: z.object({ baseline: z.number().nullable(), candidate: z.number().nullable() }),
    })
    .optional(),
  gate: gateOptionsSchema,
  metrics: z.array(metricComparisonSchema),
  verdict: verdictSchema,
  warnings: z.array(z.string()),
  /** With `--backends a,b`: how closely the two backends agree (absent otherwise; added in version 1, optional). */
  agreement: agreementSchema.optional(),
});

export type CompareFile = z.infer<typeof compareFileSchema>;
