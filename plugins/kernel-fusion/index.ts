/**
 * kernel-fusion: builds the RMSNorms, the residual adds before them, the rotary embeddings and the attention
 * from ONNX Runtime's fused contrib operators (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization,
 * RotaryEmbedding, MultiHeadAttention) instead of chains of standard operators, computes the q/k/v and the gate/up
 * projections each as one MatMul over stacked weights, and sets the session's graph
 * optimisation level. Which fusions the built graph actually holds is in the load facts (`fusions`).
 */
import { z } from 'zod';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';
import type { FusionSettings } from '../../src/models/llama/graph/fused.js';

const options = z
  .strictObject({
    /** RMSNorm -> SimplifiedLayerNormalization. */
    rmsNorm: z.boolean().default(true),
    /** Residual add + RMSNorm -> com.microsoft.SkipSimplifiedLayerNormalization. */
    skipRmsNorm: z.boolean().default(true),
    /** Rotary embeddings -> com.microsoft.RotaryEmbedding. */
    rotary: z.boolean().default(true),
    /** Attention -> com.microsoft.MultiHeadAttention with an additive mask (`mha`), or left plain (`none`). */
    attention: z.enum(['none', 'mha']).default('mha'),
    /**
     * q/k/v projections as one MatMul over stacked weights, gate/up as another (split after). Off by default:
     * measured interleaved on the medium model, the Split's copies cost more than the wider matmuls save, in
     * fp32 and with dynamic int8 alike (see the README).
     */
    projections: z.boolean().default(false),
    /** With the head at every position: log-softmax only at the scored positions (row-wise, the same numbers). */
    scoredLogSoftmax: z.boolean().default(true),
    /** ONNX Runtime's own graph rewrites on top (`disabled` runs the fused graph exactly as built). */
    graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']).default('all'),
  })
  .refine((o) => o.rmsNorm || o.skipRmsNorm || o.rotary || o.attention !== 'none' || o.projections || o.scoredLogSoftmax, {
    message: 'no fusion chosen: enable at least one of rmsNorm, skipRmsNorm, rotary, attention, projections, scoredLogSoftmax',
  });

export default defineInferencePlugin({
  name: 'kernel-fusion',
  version: '1.0.0',
  description: "Builds RMSNorm, residual add + RMSNorm, rotary embeddings and attention from ONNX Runtime's fused contrib operators",
  appliesTo: { evaluator: 'inference', targets: ['onnx'] },
  options,
  conflicts: {
    'onnx-session':
      "both set the session's graph optimisation level (the later hook would silently win): use kernel-fusion's graphOptimizationLevel option",
  },
  create(settings) {
    const fusions: FusionSettings = {
      rmsNorm: settings.rmsNorm,
      skipRmsNorm: settings.skipRmsNorm,
      rotary: settings.rotary,
      attention: settings.attention,
      projections: settings.projections,
      scoredLogSoftmax: settings.scoredLogSoftmax,
    };
    return {
      modelBuild({ build }) {
        build.extra.fusions = { ...fusions };
      },
      sessionOptions({ session }) {
        session.extra.graphOptimizationLevel = settings.graphOptimizationLevel;
      },
      describe: () => ({ requested: { ...fusions }, graphOptimizationLevel: settings.graphOptimizationLevel }),
    };
  },
});
