/**
 * `board.json`, the machine-readable twin of a generic board page (an evaluator without a page of its own):
 * what a script reads instead of scraping HTML. Versioned; a consumer checks `schema` and `version` first.
 */
import { z } from 'zod';
import { directionSchema, metricValueSchema } from '../core/result.js';

export const BOARD_SCHEMA = 'optibench/board';
export const BOARD_VERSION = 1;

const cell = z.union([z.string(), z.number(), metricValueSchema.strict(), z.null()]);

export const boardRowSchema = z
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
    score: z.number().nullable(),
    verdict: z.object({ passed: z.boolean(), reason: z.string(), referenceRunId: z.string().nullable() }).strict().nullable(),
    /** The evaluator's columns, by key. */
    columns: z.record(z.string(), cell),
    referenceMatch: z.boolean().nullable(),
    reportPath: z.string().nullable(),
    /** The report as a link relative to the folder this file is in (or an http(s) URL as stored). */
    reportHref: z.string().nullable(),
  })
  .strict();

export const boardFileSchema = z
  .object({
    schema: z.literal(BOARD_SCHEMA),
    version: z.literal(BOARD_VERSION),
    evaluator: z.object({ id: z.string(), version: z.string(), title: z.string() }).strict(),
    /** What the rank is by, and which way wins. */
    score: z.object({ name: z.string(), label: z.string(), unit: z.string(), direction: directionSchema }).strict(),
    columns: z.array(z.object({ key: z.string(), label: z.string(), format: z.string() }).strict()),
    title: z.string(),
    /** The day the board is for (YYYY-MM-DD); also the snapshot's folder name. */
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    generatedAt: z.string(),
    round: z.number().int().nullable(),
    top: z.number().int().positive(),
    ranked: z.array(boardRowSchema.extend({ rank: z.number().int().positive(), advances: z.boolean() }).strict()),
    /** Judged, and the verdict failed. */
    rejected: z.array(boardRowSchema),
    pending: z.array(boardRowSchema),
    failed: z.array(boardRowSchema),
    /** Earlier boards kept beside this one, newest first. */
    earlier: z.array(z.string()),
  })
  .strict();

export type BoardRow = z.infer<typeof boardRowSchema>;
export type BoardFile = z.infer<typeof boardFileSchema>;
