/**
 * `board.json`, the machine-readable twin of a generic board page (an evaluator without a page of its own):
 * what a script reads instead of scraping HTML. Versioned; a consumer checks `schema` and `version` first.
 * Version 2 added, per row, the members' names, who timed the score (`timedBy`) and on which machine.
 */
import { z } from 'zod';
import { boardFileShape, boardRowShape, rankShape } from '../core/board.js';
import { directionSchema, metricValueSchema } from '../core/result.js';

export const BOARD_SCHEMA = 'optibench/board';
export const BOARD_VERSION = 2;

const cell = z.union([z.string(), z.number(), metricValueSchema.strict(), z.null()]);

export const boardRowSchema = z
  .object({
    ...boardRowShape,
    score: z.number().nullable(),
    verdict: z.object({ passed: z.boolean(), reason: z.string(), referenceRunId: z.string().nullable() }).strict().nullable(),
    /** The evaluator's columns, by key. */
    columns: z.record(z.string(), cell),
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
    ...boardFileShape,
    ranked: z.array(boardRowSchema.extend(rankShape).strict()),
    /** Judged, and the verdict failed. */
    rejected: z.array(boardRowSchema),
    pending: z.array(boardRowSchema),
    failed: z.array(boardRowSchema),
  })
  .strict();

export type BoardRow = z.infer<typeof boardRowSchema>;
export type BoardFile = z.infer<typeof boardFileSchema>;
