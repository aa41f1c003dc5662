/**
 * The build settings the ONNX LLaMA builder understands in `BuildSettings.extra` (plugins set them in their
 * `modelBuild` hook). Anything else is refused: a setting meant for another backend must not be ignored.
 */
import { z } from 'zod';
import { OptibenchError } from '../../../core/errors.js';

export const onnxBuildExtraSchema = z
  .strictObject({
  /**
   * Key/value cache inputs and outputs (`past_rows`, `past.N.key|value`, `present.N.key|value`), so a shared
   * context can be run once and each continuation scored from its cache (the prefix-sharing plugin).
   */
  kvCache: z.boolean().default(false),
  /**
   * Where the final norm, LM head and log-softmax run: at every position, as lm-evaluation-harness computes
   * them (the faithful baseline), or only at the positions whose next token is scored (the head-pruning plugin).
   */
  head: z.enum(['all', 'scored']).default('all'),
  /**
   * Attention follows an explicit `tree_mask` input ([batch, seq, seq]: which slot each slot may attend to)
   * instead of causal order, so one row can hold a context and all its endings as a tree (the
   * prefix-sharing plugin's default method).
   */
  treeMask: z.boolean().default(false),
})
  .refine((extra) => !(extra.kvCache && extra.treeMask), { message: 'kvCache and treeMask are two ways of sharing a prefix: choose one' });

export type OnnxBuildExtra = z.infer<typeof onnxBuildExtraSchema>;

export function parseOnnxBuildExtra(extra: unknown): OnnxBuildExtra {
  const parsed = onnxBuildExtraSchema.safeParse(extra);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new OptibenchError(`build setting "${issue.keys[0]}" is not supported by the ONNX LLaMA builder (a plugin for another backend?)`);
  }
  throw new OptibenchError(`build setting ${issue.path.join('.')}: ${issue.message}`);
}
