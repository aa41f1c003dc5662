/**
 * quantization: the LLaMA graph's linear layers in fewer bits (the `quantization` build setting, implemented
 * by src/models/llama/graph/quantized-linear.ts), and optionally the whole model in fp16.
 *
 * - `dynamic-int8` (default): int8 weights (per output channel), activations quantized at run time (per
 *   token by default, or per tensor as ONNX Runtime's dynamic quantization does).
 * - `weight-only`: block-wise 4- or 8-bit weights run by ONNX Runtime's MatMulNBits; activations stay float.
 * - `none`: no integer quantization (only with `fp16: true`: fp16 weights and activations).
 *
 * Options that belong to the other mode are refused rather than ignored, so a configuration says exactly
 * what ran.
 */
import { z } from 'zod';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';
import {
  DEFAULT_KEEP_FLOAT,
  DYNAMIC_INT8_KERNELS,
  INT8_WEIGHT_STORAGES,
  blockSizeSchema,
  quantizationSettingsSchema,
  regexPatternSchema,
  type QuantizationSettings,
} from '../../src/models/llama/graph/quantized-linear.js';

const options = z
  .strictObject({
    /**
     * `dynamic-int8` (W8A8, the default: scoring is all prefill, where integer GEMMs beat float ones and
     * weight-only kernels, which save memory traffic, do not), `weight-only` (MatMulNBits) or `none` (fp16 alone).
     */
    mode: z.enum(['dynamic-int8', 'weight-only', 'none']).default('dynamic-int8'),
    /**
     * dynamic-int8 only: the standard-operator chain or the contrib DynamicQuantizeMatMul. Default:
     * `matmul-integer` with per-token activations, `dynamic-quantize-matmul` with per-tensor ones.
     */
    kernel: z.enum(DYNAMIC_INT8_KERNELS).optional(),
    /**
     * dynamic-int8 only: `per-tensor` (ONNX Runtime's dynamic quantization: one scale for the whole batch) or
     * `per-token` (one scale per row: answers independent of the batch; needs kernel matmul-integer).
     * Default: `per-token`, or `per-tensor` when the kernel is `dynamic-quantize-matmul`.
     */
    activations: z.enum(['per-tensor', 'per-token']).optional(),
    /**
     * dynamic-int8 only: store the int8 codes `signed` (uint8 x int8 kernels, fastest with VNNI), `unsigned`
     * (+128, uint8 x uint8 kernels, exact everywhere, about half the speed) or `signed-7bit` (codes within
     * +-63, uint8 x int8 kernels that cannot saturate). Default: chosen for the CPU the graph is built on
     * (signed-7bit on x86-64 without VNNI, where 8-bit signed codes saturate).
     */
    int8Weights: z.enum(INT8_WEIGHT_STORAGES).optional(),
    /** weight-only only: 4 or 8 (default 4). */
    bits: z.union([z.literal(4), z.literal(8)], { message: 'bits must be 4 or 8' }).optional(),
    /** weight-only only: weights per block along the input dimension, a power of two >= 16 (default 32). */
    blockSize: blockSizeSchema.optional(),
    /** weight-only only: MatMulNBits accuracy_level 0-4 (default 0; 4 quantizes activations to int8 inside the kernel). */
    accuracyLevel: z.number().int().min(0, 'accuracyLevel must be 0-4').max(4, 'accuracyLevel must be 0-4').optional(),
    /** Weight names (regular expressions) kept in full precision; default: the LM head and the embeddings. */
    keepFloat: z.array(regexPatternSchema).optional(),
    /** Build the whole model in fp16 (`build.dtype = "fp16"`), with or without integer quantization. */
    fp16: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    const refuse = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
    const weightOnly = ['bits', 'blockSize', 'accuracyLevel'] as const;
    if (o.mode !== 'weight-only') {
      for (const key of weightOnly) if (o[key] !== undefined) refuse(key, `${key} applies to mode "weight-only" only, not "${o.mode}"`);
    }
    for (const key of ['kernel', 'activations', 'int8Weights'] as const) {
      if (o.mode !== 'dynamic-int8' && o[key] !== undefined) refuse(key, `${key} applies to mode "dynamic-int8" only, not "${o.mode}"`);
    }
    if (o.activations === 'per-token' && o.kernel === 'dynamic-quantize-matmul') {
      refuse('activations', 'per-token activation scales need kernel "matmul-integer": DynamicQuantizeMatMul quantizes the whole tensor with one scale');
    }
    if (o.mode === 'none') {
      if (!o.fp16) refuse('mode', 'mode "none" quantizes nothing: it needs fp16: true (or choose dynamic-int8 or weight-only)');
      if (o.keepFloat !== undefined) refuse('keepFloat', 'keepFloat applies to dynamic-int8 and weight-only, not mode "none"');
    }
  });

type Options = z.infer<typeof options>;

/** The build setting for these options, every default filled in (so equal graphs get equal cache keys). */
export function quantizationSetting(o: Options): QuantizationSettings | undefined {
  const keepFloat = o.keepFloat ?? [...DEFAULT_KEEP_FLOAT];
  if (o.mode === 'none') return undefined;
  if (o.mode === 'dynamic-int8') {
    // Per-token scales unless the kernel chosen cannot take them: the same speed class as per-tensor here,
    // more accurate, and a request's answer does not depend on the requests batched with it.
    const activations = o.activations ?? (o.kernel === 'dynamic-quantize-matmul' ? 'per-tensor' : 'per-token');
    const kernel = o.kernel ?? (activations === 'per-token' ? 'matmul-integer' : 'dynamic-quantize-matmul');
    return quantizationSettingsSchema.parse({ mode: o.mode, kernel, activations, ...(o.int8Weights ? { int8Weights: o.int8Weights } : {}), keepFloat });
  }
  return quantizationSettingsSchema.parse({ mode: o.mode, bits: o.bits, blockSize: o.blockSize, accuracyLevel: o.accuracyLevel, keepFloat });
}

export default defineInferencePlugin({
  name: 'quantization',
  version: '1.0.0',
  description: 'Quantized linear layers: dynamic int8 (W8A8) or block-wise 4/8-bit weight-only MatMulNBits; optionally fp16',
  appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  options,
  create(settings) {
    const setting = quantizationSetting(settings);
    return {
      modelBuild({ build }) {
        if (settings.fp16) build.dtype = 'fp16';
        if (setting) build.extra.quantization = { ...setting, keepFloat: [...setting.keepFloat] };
      },
      describe: () => {
        const what =
          setting === undefined
            ? 'fp16 weights and activations, no integer quantization'
            : setting.mode === 'dynamic-int8'
              ? `int8 weights per output channel, activations quantized at run time ${
                  setting.activations === 'per-token' ? 'per token (answers independent of the batch)' : 'per tensor (answers depend on the batch)'
                } (${setting.kernel})`
              : `${setting.bits}-bit weights in blocks of ${setting.blockSize} with zero points (MatMulNBits, accuracy level ${setting.accuracyLevel})`;
        return {
          ...(setting ? { ...setting, keepFloat: [...setting.keepFloat] } : { mode: settings.mode }),
          dtype: settings.fp16 ? 'fp16' : 'model default',
          summary: `${what}${settings.fp16 ? ', fp16 model' : ''}${setting && setting.keepFloat.length ? `; kept in float: ${setting.keepFloat.join(', ')}` : ''}`,
        };
      },
    };
  },
});
