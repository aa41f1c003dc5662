/**
 * What a compression run records: one item per sample (its table `compression_samples`, one migration) and the
 * payload of its results file, both with zod schemas so a file or a row read back is checked.
 */
import { z } from 'zod';
import { resultSchema, type Result } from '../../core/result.js';
import type { EvaluatorTables } from '../../core/store.js';

export const sampleItemSchema = z.object({
  index: z.number().int().nonnegative(),
  file: z.string(),
  kind: z.enum(['forward', 'backward']),
  shape: z.array(z.number().int().nonnegative()),
  /** The tensor's bytes (2 per bfloat16 value), what the ratio divides. */
  originalBytes: z.number().int().nonnegative(),
  compressedBytes: z.number().int().nonnegative().nullable(),
  compressSeconds: z.number().nonnegative().nullable(),
  decompressSeconds: z.number().nonnegative().nullable(),
  /** http: each server's start up to its first 200 on /health (not scored). */
  compressServerStartSeconds: z.number().nonnegative().nullable(),
  decompressServerStartSeconds: z.number().nonnegative().nullable(),
  ratio: z.number().nullable(),
  similarity: z.number().nullable(),
  bitExact: z.boolean(),
  raw: z.number(),
  normalized: z.number(),
  /** The order-0 entropy of the sample's 16-bit values, bits per value, and 16 / that (null: constant sample). */
  entropyBitsPerValue: z.number(),
  entropyRatio: z.number().nullable(),
  /** Why the sample scored 0 (timeout, crash, a limit, refused output); null when it round-tripped. */
  failure: z.string().nullable(),
});
export type SampleItem = z.infer<typeof sampleItemSchema>;

export const profileSchema = z.discriminatedUnion('name', [
  z.object({ name: z.literal('default'), timeBudgetSeconds: z.number(), similarityWeight: z.number(), ratioWeight: z.number(), sigmoidSlope: z.number(), sigmoidScale: z.number(), sigmoidCenter: z.number(), clipNormSimilarity: z.boolean() }),
  z.object({ name: z.literal('lossless'), timeScale: z.number(), timeSlack: z.number() }),
]);

export const compressionPayloadSchema = z.object({
  solution: z.object({ root: z.string(), name: z.string(), protocol: z.enum(['cli', 'http']), command: z.array(z.string()) }),
  profile: profileSchema,
  samples: z.object({ folder: z.string(), manifestSha256: z.string(), count: z.number().int() }),
  items: z.array(sampleItemSchema),
  round: z.object({ raw: z.number(), normalized: z.number() }),
  challengeMargin: z.number(),
  /** Where the limits came from and what enforces "1 CPU" (see the README). */
  limits: z.object({ wallSeconds: z.number(), memoryBytes: z.number(), cpus: z.number(), processes: z.number(), runner: z.string() }),
  /**
   * The evaluator's own share of a sample's timed window (protocols/overhead.ts): what a solution doing no work
   * takes for both calls, by `method`, and that over the samples' mean task time. Files written before
   * `roundTripSeconds` have `nullCallSeconds`, one `/bin/true` call.
   */
  evaluatorShare: z
    .object({
      roundTripSeconds: z.number().nullable().optional(),
      method: z.string().nullable().optional(),
      nullCallSeconds: z.number().nullable().optional(),
      shareOfTaskTime: z.number().nullable(),
    })
    .optional(),
});
export type CompressionPayload = z.infer<typeof compressionPayloadSchema>;

export const compressionTimingsSchema = z.object({ totalMs: z.number(), compressMs: z.number(), decompressMs: z.number() });
export type CompressionTimings = z.infer<typeof compressionTimingsSchema>;
export const compressionResultSchema = resultSchema(compressionPayloadSchema, compressionTimingsSchema);
export type CompressionResult = Result<CompressionPayload, CompressionTimings>;

const num = (v: unknown) => (v === null ? null : Number(v));

export const compressionTables: EvaluatorTables<SampleItem> = {
  migrations: [
    {
      description: 'per-sample results of a compression run',
      up: (sql) =>
        sql.exec(`CREATE TABLE compression_samples (
          run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, item_index INTEGER NOT NULL,
          file TEXT NOT NULL, kind TEXT NOT NULL, shape TEXT NOT NULL, original_bytes INTEGER NOT NULL,
          compressed_bytes INTEGER, compress_seconds REAL, decompress_seconds REAL,
          compress_server_start_seconds REAL, decompress_server_start_seconds REAL,
          ratio REAL, similarity REAL, bit_exact INTEGER NOT NULL, raw REAL NOT NULL, normalized REAL NOT NULL,
          entropy_bits_per_value REAL NOT NULL, entropy_ratio REAL, failure TEXT,
          PRIMARY KEY (run_id, item_index))`),
    },
  ],
  items: {
    table: 'compression_samples',
    columns: ['file', 'kind', 'shape', 'original_bytes', 'compressed_bytes', 'compress_seconds', 'decompress_seconds', 'compress_server_start_seconds', 'decompress_server_start_seconds', 'ratio', 'similarity', 'bit_exact', 'raw', 'normalized', 'entropy_bits_per_value', 'entropy_ratio', 'failure'],
    key: (item) => item.index,
    toRow: (i) => [i.file, i.kind, i.shape.join('x'), i.originalBytes, i.compressedBytes, i.compressSeconds, i.decompressSeconds, i.compressServerStartSeconds, i.decompressServerStartSeconds, i.ratio, i.similarity, i.bitExact ? 1 : 0, i.raw, i.normalized, i.entropyBitsPerValue, i.entropyRatio, i.failure],
    fromRow: (row) =>
      sampleItemSchema.parse({
        index: row.item_index,
        file: row.file,
        kind: row.kind,
        shape: String(row.shape).split('x').map(Number),
        originalBytes: row.original_bytes,
        compressedBytes: num(row.compressed_bytes),
        compressSeconds: num(row.compress_seconds),
        decompressSeconds: num(row.decompress_seconds),
        compressServerStartSeconds: num(row.compress_server_start_seconds),
        decompressServerStartSeconds: num(row.decompress_server_start_seconds),
        ratio: num(row.ratio),
        similarity: num(row.similarity),
        bitExact: row.bit_exact === 1,
        raw: row.raw,
        normalized: row.normalized,
        entropyBitsPerValue: row.entropy_bits_per_value,
        entropyRatio: num(row.entropy_ratio),
        failure: row.failure ?? null,
      }),
  },
};
