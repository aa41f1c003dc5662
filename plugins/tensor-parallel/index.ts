/**
 * tensor-parallel: the PyTorch worker runs under torchrun with N ranks, each holding only its shard of the
 * weights (Megatron-style): attention heads and MLP columns split column-wise, o_proj and down_proj row-wise
 * with an all-reduce after each; embeddings and the LM head replicated or sharded by vocabulary. gloo on
 * the CPU, NCCL on GPUs. Rank 0 answers optibench. See src/backends/pytorch/worker/tensor_parallel.py.
 */
import { z } from 'zod';
import { OptibenchError } from '../../src/core/errors.js';
import { defineInferencePlugin } from '../../src/evaluators/inference/hooks.js';

const options = z.strictObject({
  /** Processes (one per GPU on CUDA). */
  ranks: z.number().int().min(1).default(2),
  /** `replicated`: every rank holds the whole embedding and LM head; `sharded`: each holds its slice of the vocabulary. */
  embeddings: z.enum(['replicated', 'sharded']).default('replicated'),
  /** torch.distributed backend: `auto` picks NCCL on cuda and gloo on the CPU. */
  backend: z.enum(['gloo', 'nccl', 'auto']).default('auto'),
});

export default defineInferencePlugin({
  name: 'tensor-parallel',
  version: '1.0.0',
  description: 'Splits the PyTorch model over N processes under torchrun (heads and MLP columns per rank, all-reduce after each block)',
  appliesTo: { evaluator: 'inference', targets: ['pytorch'] },
  options,
  create(settings) {
    return {
      modelBuild({ model, build }) {
        const n = settings.ranks;
        const bad = [
          ['num_attention_heads', model.numHeads],
          ['num_key_value_heads', model.numKeyValueHeads],
          ['intermediate_size', model.intermediateSize],
          ...(settings.embeddings === 'sharded' ? [['vocab_size', model.vocabSize] as const] : []),
        ].filter(([, value]) => (value as number) % n !== 0);
        if (bad.length) {
          throw new OptibenchError(
            `tensor-parallel over ${n} ranks needs ${bad.map(([name, value]) => `${name} (${value})`).join(', ')} divisible by ${n}`,
            { key: 'plugins' },
          );
        }
        build.extra.tensorParallel = { ranks: n, embeddings: settings.embeddings, backend: settings.backend };
      },
      sessionOptions({ session }) {
        if (settings.backend === 'nccl' && session.executionProvider !== 'cuda') {
          throw new OptibenchError('tensor-parallel backend nccl runs on GPUs: use gloo (or auto) with executionProvider cpu', { key: 'plugins' });
        }
      },
      describe: () => ({ ranks: settings.ranks, embeddings: settings.embeddings, backend: settings.backend }),
    };
  },
});
