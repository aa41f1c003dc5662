/**
 * The settings the PyTorch backend understands: build settings plugins put in `BuildSettings.extra`
 * (checked here before a worker starts, and again by the worker), and the worker's own session settings
 * that the runner fills from the config (`backend.python`, `backend.workerTimeoutSeconds`). Anything else is
 * refused: a setting meant for another backend must not be ignored.
 */
import { z } from 'zod';
import { OptibenchError } from '../../core/errors.js';
import { defaultPython } from '../../core/paths.js';

export const pytorchBuildExtraSchema = z.strictObject({
  /** Attention follows a `tree_mask` input: a context and the trie of its endings in one row (prefix-sharing). */
  treeMask: z.boolean().default(false),
  /** torch.compile the model (the torch-compile plugin; PyTorch >= 2.0). */
  compile: z.strictObject({ mode: z.enum(['default', 'reduce-overhead', 'max-autotune']), dynamic: z.boolean().optional() }).optional(),
  /** Linear layers quantized with torch.ao's dynamic int8 quantization on the CPU (the torch-quantization plugin). */
  quantization: z.strictObject({ method: z.literal('int8-dynamic'), lmHead: z.boolean() }).optional(),
  /** The worker runs under torchrun with this many ranks, each holding its shard (the tensor-parallel plugin). */
  tensorParallel: z
    .strictObject({
      ranks: z.number().int().positive(),
      embeddings: z.enum(['replicated', 'sharded']),
      backend: z.enum(['gloo', 'nccl', 'auto']),
    })
    .optional(),
});

export type PytorchBuildExtra = z.infer<typeof pytorchBuildExtraSchema>;

export function parsePytorchBuildExtra(extra: unknown): PytorchBuildExtra {
  const parsed = pytorchBuildExtraSchema.safeParse(extra);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw new OptibenchError(`build setting "${issue.keys[0]}" is not supported by the PyTorch backend (a plugin for another backend?)`);
  }
  throw new OptibenchError(`build setting ${issue.path.join('.')}: ${issue.message}`);
}

export interface WorkerSettings {
  readonly python: string;
  readonly timeoutMs: number;
}

/** `session.extra` of a PyTorch run: the Python executable and the worker's timeout, nothing else. */
export function parseWorkerSettings(extra: { readonly [key: string]: unknown }): WorkerSettings {
  for (const key of Object.keys(extra)) {
    if (key !== 'python' && key !== 'workerTimeoutSeconds') {
      throw new OptibenchError(`session setting "${key}" is not supported by the PyTorch backend (a plugin for another backend?)`);
    }
  }
  const python = extra.python ?? defaultPython();
  if (typeof python !== 'string' || python === '') throw new OptibenchError('backend.python must be a path or a command name', { key: 'backend.python' });
  const seconds = extra.workerTimeoutSeconds ?? 600;
  if (typeof seconds !== 'number' || !(seconds > 0)) {
    throw new OptibenchError('backend.workerTimeoutSeconds must be a positive number', { key: 'backend.workerTimeoutSeconds' });
  }
  return { python, timeoutMs: seconds * 1000 };
}
