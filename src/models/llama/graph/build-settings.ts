/**
 * The build settings the ONNX LLaMA builder understands in `BuildSettings.extra` (plugins set them in their
 * `modelBuild` hook). Anything else is refused: a setting meant for another backend must not be ignored.
 */
import { z } from 'zod';
import { OptibenchError } from '../../../core/errors.js';
import { fusionSettingsSchema } from './fused.js';
import { quantizationSettingsSchema } from './quantized-linear.js';

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
  /** Which norms and attention pieces are built from ONNX Runtime's fused contrib operators (the kernel-fusion plugin). */
  fusions: fusionSettingsSchema.optional(),
  /** Linear layers quantized: dynamic int8 (W8A8) or block-wise weight-only MatMulNBits (the quantization plugin). */
  quantization: quantizationSettingsSchema.optional(),
})
  .refine((extra) => !(extra.kvCache && extra.treeMask), { message: 'kvCache and treeMask are two ways of sharing a prefix: choose one' });

export type OnnxBuildExtra = z.infer<typeof onnxBuildExtraSchema>;

function knownKeys(path: PropertyKey[]): string {
  const group = path[0] === 'fusions' ? fusionSettingsSchema : path[0] === 'quantization' ? quantizationSettingsSchema : undefined;
  if (!group) return 'see the plugin that set it';
  // A union (quantization's modes) knows the keys of each of its objects.
  const objects = 'options' in group ? (group.options as readonly { shape: object }[]) : [group as { shape: object }];
  return [...new Set(objects.flatMap((o) => Object.keys(o.shape)))].join(', ');
}

export function parseOnnxBuildExtra(extra: unknown): OnnxBuildExtra {
  const parsed = onnxBuildExtraSchema.safeParse(extra);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = [...issue.path, issue.keys[0]].join('.');
    // At the top level an unknown key is most likely another backend's setting; inside a group, a typo.
    const hint = issue.path.length === 0 ? ' (a plugin for another backend?)' : ` (known: ${knownKeys(issue.path)})`;
    throw new OptibenchError(`build setting "${key}" is not supported by the ONNX LLaMA builder${hint}`);
  }
  throw new OptibenchError(`build setting ${issue.path.join('.')}: ${issue.message}`);
}
