/**
 * torch-compile: the PyTorch worker runs the model through torch.compile (TorchDynamo + Inductor), with the
 * chosen mode. Needs PyTorch >= 2.0 in the worker; on an older PyTorch the load fails with the reason.
 * Compilation happens on the first batches of each new shape: the run's warm-up absorbs the first.
 */
import { z } from 'zod';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

const options = z.strictObject({
  /** torch.compile's mode: `reduce-overhead` uses CUDA graphs, `max-autotune` searches kernels longer. */
  mode: z.enum(['default', 'reduce-overhead', 'max-autotune']).default('default'),
  /** torch.compile's `dynamic`: compile for varying shapes at once (true) or specialise (false); unset: torch's default. */
  dynamic: z.boolean().optional(),
});

export default defineInferencePlugin({
  name: 'torch-compile',
  version: '1.0.0',
  description: 'Compiles the PyTorch model with torch.compile (PyTorch >= 2.0): mode default, reduce-overhead or max-autotune',
  appliesTo: { evaluator: 'inference', targets: ['pytorch'] },
  options,
  create(settings) {
    return {
      modelBuild({ build }) {
        build.extra.compile = settings.dynamic === undefined ? { mode: settings.mode } : { mode: settings.mode, dynamic: settings.dynamic };
      },
      describe: () => ({ mode: settings.mode, dynamic: settings.dynamic ?? null }),
    };
  },
});
