/**
 * torch-quantization: the PyTorch worker's linear layers quantized to int8 with torch.ao's dynamic
 * quantization (`quantize_dynamic`): weights stored as int8 once, activations quantized per batch on the
 * fly, int8 GEMMs on the CPU. CPU only (PyTorch has no CUDA kernels for it), from an fp32 model. The LM head
 * stays fp32 unless `lmHead` is set: its logits decide every log-probability.
 */
import { z } from 'zod';
import { OptibenchError } from '../../src/core/errors.js';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

const options = z.strictObject({
  method: z.enum(['int8-dynamic']).default('int8-dynamic'),
  /** Quantize the LM head too (more speed on a large vocabulary, more damage to the log-probabilities). */
  lmHead: z.boolean().default(false),
});

export default defineInferencePlugin({
  name: 'torch-quantization',
  version: '1.0.0',
  description: "Quantizes the PyTorch model's linear layers to int8 (torch.ao dynamic quantization, CPU)",
  appliesTo: { evaluator: 'inference', targets: ['pytorch'] },
  options,
  create(settings) {
    return {
      modelBuild({ build }) {
        if (build.dtype !== 'fp32') {
          throw new OptibenchError(`torch-quantization's int8-dynamic quantization starts from an fp32 model; backend.dtype is ${build.dtype}`, { key: 'backend.dtype' });
        }
        build.extra.quantization = { method: settings.method, lmHead: settings.lmHead };
      },
      sessionOptions({ session }) {
        if (session.executionProvider !== 'cpu') {
          throw new OptibenchError(
            'torch-quantization (int8-dynamic) runs on the CPU only: PyTorch has no CUDA kernels for dynamic quantization; use executionProvider cpu',
            { key: 'backend.executionProvider' },
          );
        }
      },
      describe: () => ({ method: settings.method, lmHead: settings.lmHead }),
    };
  },
});
