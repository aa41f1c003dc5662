"""Tensor parallelism (Megatron-style) for the built-in LLaMA forward, one rank per process under torchrun.

Every rank holds only its shard of each weight:

- attention: q_proj, k_proj, v_proj are split by output features, i.e. by heads (rank r holds query heads
  [r*H/N, (r+1)*H/N) and the key/value heads they read, [r*KV/N, (r+1)*KV/N)); o_proj is split by input
  features (the same heads) and its partial outputs are summed with an all_reduce;
- MLP: gate_proj and up_proj split by output features, down_proj by input features, then an all_reduce;
- embeddings and LM head: replicated, or (embeddings: "sharded") split by vocabulary: each rank looks up
  the ids in its range (zeros elsewhere) and an all_reduce sums them; the LM head's logits for each rank's
  slice of the vocabulary are put together with an all_gather before the log-softmax;
- norms: replicated (they are tiny).

Rank 0 speaks the protocol; the other ranks receive every request through broadcast_object_list, run their
shard, and send nothing (see protocol.py). gloo on CPU, NCCL on GPUs.
"""

import torch
import torch.distributed as dist


class ParallelContext:
    """Where this process sits: rank, world size, how embeddings are held. world == 1 is the plain run."""

    def __init__(self, rank=0, world=1, embeddings="replicated"):
        self.rank = rank
        self.world = world
        self.embeddings = embeddings

    @property
    def shard_vocab(self):
        return self.world > 1 and self.embeddings == "sharded"

    def split(self, total, what):
        """(start, length) of this rank's share of `total` features; refuses an uneven split."""
        if total % self.world != 0:
            raise ValueError(f"tensor parallelism over {self.world} ranks needs {what} ({total}) divisible by {self.world}")
        length = total // self.world
        return (self.rank * length, length)

    def all_reduce(self, tensor):
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor

    def all_gather_last(self, tensor):
        """Concatenates every rank's `tensor` along the last dimension, in rank order."""
        if self.world == 1:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=-1)


def check_divisible(config, world, embeddings):
    """A clear error, before any weight is read, for a model that does not split over `world` ranks."""
    problems = []
    if config.num_heads % world:
        problems.append(f"num_attention_heads {config.num_heads}")
    if config.num_kv_heads % world:
        problems.append(f"num_key_value_heads {config.num_kv_heads}")
    if config.intermediate_size % world:
        problems.append(f"intermediate_size {config.intermediate_size}")
    if embeddings == "sharded" and config.vocab_size % world:
        problems.append(f"vocab_size {config.vocab_size} (embeddings: sharded)")
    if problems:
        raise ValueError(f"tensor parallelism over {world} ranks needs these divisible by {world}: {', '.join(problems)}")


def init_from_environment(backend):
    """Joins the process group torchrun set up (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)."""
    import datetime
    import os

    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    # Ranks other than 0 wait for the next request inside a collective: optibench's own timeout (the TypeScript
    # side kills the process group) is what bounds a request, so the collectives' is made long.
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(days=7))
    return rank, world
