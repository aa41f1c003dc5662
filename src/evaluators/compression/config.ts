/**
 * The compression evaluator's config (YAML or JSON; `optibench schema config --evaluator compression`): where
 * the samples are, which scoring profile and its constants, the limits of every sandboxed call, and the
 * challenge margin. Errors name the file, the line and the key (core/config-file.ts).
 */
import path from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../../core/config-file.js';
import { DEFAULT_PROFILE, LOSSLESS_PROFILE, type ScoringProfile } from './scoring.js';

export const COMPRESSION_CONFIG_VERSION = 1;
const MB = 1000 ** 2;

const defaultConstants = z.strictObject({
  timeBudgetSeconds: z.number().finite().default(DEFAULT_PROFILE.timeBudgetSeconds),
  similarityWeight: z.number().finite().default(DEFAULT_PROFILE.similarityWeight),
  ratioWeight: z.number().finite().default(DEFAULT_PROFILE.ratioWeight),
  sigmoidSlope: z.number().finite().default(DEFAULT_PROFILE.sigmoidSlope),
  sigmoidScale: z.number().finite().positive().default(DEFAULT_PROFILE.sigmoidScale),
  sigmoidCenter: z.number().finite().default(DEFAULT_PROFILE.sigmoidCenter),
  clipNormSimilarity: z.boolean().default(DEFAULT_PROFILE.clipNormSimilarity),
});

const losslessConstants = z.strictObject({
  timeScale: z.number().finite().default(LOSSLESS_PROFILE.timeScale),
  timeSlack: z.number().finite().default(LOSSLESS_PROFILE.timeSlack),
});

/** What every call of a solution may use; the defaults are the (1.5 GB, 1 CPU, 60 s). */
export const callLimitsSchema = z.strictObject({
  /** Wall seconds of one call (one compression or one decompression, an http server's start included). */
  wallSeconds: z.number().positive().default(60),
  /** Data memory of each process (RLIMIT_DATA). */
  memoryBytes: z.number().int().positive().default(1.5 * 1000 * MB),
  /** CPUs the call is pinned to (taskset; see README "Matrix compression" for what this does not stop). */
  cpus: z.number().int().positive().default(1),
  /** Processes and threads of the call (RLIMIT_NPROC). */
  processes: z.number().int().positive().default(64),
  /** Its private /tmp and /dev/shm. */
  tmpBytes: z.number().int().positive().default(256 * 1024 ** 2),
  /** Everything written in its work dir (the output cap below is per file). */
  diskBytes: z.number().int().positive().default(2 * 1024 ** 3),
});
export type CallLimits = z.infer<typeof callLimitsSchema>;

export const compressionConfigSchema = z.strictObject({
  version: z.literal(COMPRESSION_CONFIG_VERSION).default(COMPRESSION_CONFIG_VERSION),
  /** A sample set: manifest.csv and its .npy files (PROTOCOL.md). */
  samples: z.string().min(1).default('samples'),
  profile: z.enum(['default', 'lossless']).default('default'),
  default: defaultConstants.prefault({}),
  lossless: losslessConstants.prefault({}),
  limits: callLimitsSchema.prefault({}),
  /** The challenge rule: a new top must beat the current one's raw score by this fraction (0.01: 1%). */
  challengeMargin: z.number().min(0).default(0.01),
  outputDir: z.string().default('reports'),
});

export type CompressionConfig = z.infer<typeof compressionConfigSchema>;

export function compressionJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(compressionConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** Reads a config file (paths resolved against its folder) or the defaults (against `cwd`). */
export async function loadCompressionConfig(file: string | undefined, cwd = process.cwd()): Promise<CompressionConfig> {
  const config = await loadConfigFile(compressionConfigSchema, file);
  const base = file ? path.dirname(file) : cwd;
  return { ...config, samples: path.resolve(base, config.samples), outputDir: path.resolve(base, config.outputDir) };
}

export function profileOf(config: CompressionConfig): ScoringProfile {
  return config.profile === 'lossless' ? { name: 'lossless', ...config.lossless } : { name: 'default', ...config.default };
}
