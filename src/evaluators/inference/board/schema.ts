/**
 * `leaderboard.json`, the machine-readable twin of the leaderboard page: what a script should read instead
 * of scraping HTML. Versioned like results.json; a consumer checks `schema` and `version` first.
 */
import { z } from 'zod';

export const LEADERBOARD_SCHEMA = 'optibench/leaderboard';
export const LEADERBOARD_VERSION = 1;

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
    team: z.string(),
    teamId: z.number().int(),
    submissionId: z.number().int(),
    submissions: z.number().int().positive(),
    round: z.number().int(),
    commitSha: z.string(),
    submittedAt: z.string(),
    state: z.enum(['judged', 'unjudged', 'pending', 'failed']),
    note: z.string().nullable(),
    runId: z.string().nullable(),
    runFinishedAt: z.string().nullable(),
    inferenceMs: z.number().nullable(),
    speedup: z.number().nullable(),
    acc: metric.nullable(),
    accNorm: metric.nullable(),
    gate: gate.nullable(),
    referenceMatch: z.boolean().nullable(),
    reportPath: z.string().nullable(),
    /** The report as a link relative to the folder this file is in (or an http(s) URL as stored). */
    reportHref: z.string().nullable(),
  })
  .strict();

export const leaderboardFileSchema = z
  .object({
    schema: z.literal(LEADERBOARD_SCHEMA),
    version: z.literal(LEADERBOARD_VERSION),
    title: z.string(),
    /** The day the board is for (YYYY-MM-DD); also the snapshot's folder name. */
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    generatedAt: z.string(),
    round: z.number().int().nullable(),
    top: z.number().int().positive(),
    ranked: z.array(leaderboardRowSchema.extend({ rank: z.number().int().positive(), advances: z.boolean() }).strict()),
    gateFailed: z.array(leaderboardRowSchema),
    pending: z.array(leaderboardRowSchema),
    failed: z.array(leaderboardRowSchema),
    /** Earlier boards kept beside this one, newest first. */
    earlier: z.array(z.string()),
  })
  .strict();

export type LeaderboardRow = z.infer<typeof leaderboardRowSchema>;
export type LeaderboardFile = z.infer<typeof leaderboardFileSchema>;
