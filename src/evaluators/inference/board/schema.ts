/**
 * `leaderboard.json`, the machine-readable twin of the leaderboard page: what a script should read instead
 * of scraping HTML. Versioned like results.json; a consumer checks `schema` and `version` first.
 *
 * Version 2 added, per row, the members' names, who timed the figure (`timedBy`) and on which machine, and the
 * baseline each speedup is against with its own median time (`baseline`); and, for the board, the one baseline
 * every row is against when they share it.
 */
import { z } from 'zod';
import { boardFileShape, boardRowShape, rankShape } from '../../../core/board.js';

export const LEADERBOARD_SCHEMA = 'optibench/leaderboard';
export const LEADERBOARD_VERSION = 2;

/** A baseline run and its median inference time in ms; null when what the store holds is not a measurement. */
const baseline = z.object({ runId: z.string(), medianMs: z.number().positive().nullable() }).strict();

const metric = z.object({ value: z.number(), stderr: z.number().nullable() }).strict();

const gate = z
  .object({
    passed: z.boolean(),
    metric: z.string(),
    baselineRunId: z.string(),
    baselineValue: z.number(),
    value: z.number(),
    dropPoints: z.number(),
    maxDropPoints: z.number(),
    fullSet: z.boolean(),
    reason: z.string(),
  })
  .strict();

export const leaderboardRowSchema = z
  .object({
    ...boardRowShape,
    inferenceMs: z.number().nullable(),
    speedup: z.number().nullable(),
    baseline: baseline.nullable(),
    acc: metric.nullable(),
    accNorm: metric.nullable(),
    gate: gate.nullable(),
  })
  .strict();

export const leaderboardFileSchema = z
  .object({
    schema: z.literal(LEADERBOARD_SCHEMA),
    version: z.literal(LEADERBOARD_VERSION),
    ...boardFileShape,
    /** The baseline of every row that names one, when they all name the same; null otherwise (each row says). */
    baseline: baseline.nullable(),
    ranked: z.array(leaderboardRowSchema.extend(rankShape).strict()),
    gateFailed: z.array(leaderboardRowSchema),
    pending: z.array(leaderboardRowSchema),
    failed: z.array(leaderboardRowSchema),
  })
  .strict();

export type LeaderboardRow = z.infer<typeof leaderboardRowSchema>;
export type LeaderboardFile = z.infer<typeof leaderboardFileSchema>;
