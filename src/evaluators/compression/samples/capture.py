"""Captures real bfloat16 activations and gradients from optibench's LLaMA (the PyTorch worker's model code).

Run by samples/generate.ts with the worker's folder on PYTHONPATH:

    python3 capture.py --model DIR --tokens tokens.json --out DIR [--layers 0,3,7] [--bottleneck 128] [--seed N]

`tokens.json` is {"batches": [[[id, ...] * seq] * batch, ...]} (the TypeScript side tokenizes HellaSwag text with
the model's own tokenizer, so Python needs no tokenizer). For every batch it runs the forward in float32, takes
the LM loss (mean next-token cross-entropy over every position) and its backward, and writes, per chosen layer:

- `hidden_state`: the residual stream after the layer ([batch, seq, hidden]); backward: dL/d(that tensor);
- `mlp_activation`: the MLP's inner activation silu(gate(x)) * up(x), the input of down_proj
  ([batch, seq, intermediate]); backward: dL/d(that tensor);
- `bottleneck`: what a pipeline-parallel trainer with a linear bottleneck between stages sends
  ([batch, seq, k]): z = h @ P, P a fixed [hidden, k] Gaussian matrix (seeded, entries N(0, 1/hidden)).
  Its backward is the gradient a tied up-projection (the next stage reading h' = z @ P^T) sends back:
  dL/dz = dL/dh' @ P, with dL/dh' taken as the hidden state's gradient.

Each tensor is rounded to bfloat16 (round to nearest even, torch's .to(torch.bfloat16)) and saved as a `<u2`
.npy of its bit patterns (PROTOCOL.md). Prints one JSON line per file on stdout; the TypeScript side checks
the files and writes manifest.csv.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from worker.llama import LlamaForScoring, allowed_mask, rms_norm
from worker.weights import WeightStore


def bf16_bits(t):
    """The tensor's bfloat16 bit patterns as a uint16 numpy array (numpy has no bfloat16)."""
    return t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().view(np.uint16)


def save(out_dir, name, t, meta):
    bits = bf16_bits(t)
    np.save(os.path.join(out_dir, name), bits.astype("<u2"), allow_pickle=False)
    print(json.dumps(dict(meta, file=name, shape=list(bits.shape))), flush=True)


def run_batch(model, ids, layers, projection):
    """Forward with the worker's blocks, keeping the tensors to capture (retain_grad so the backward fills them)."""
    B, S = ids.shape
    position_ids = torch.arange(S).unsqueeze(0).expand(B, S)
    allowed = allowed_mask(position_ids, attention_mask=torch.ones(B, S, dtype=torch.long))
    cos = model.cos[position_ids].unsqueeze(1)
    sin = model.sin[position_ids].unsqueeze(1)
    # The worker's weights do not require grad: the embedding output is made the graph's leaf, so every
    # activation after it gets a gradient (and no weight gradient is computed).
    h = model.embed(ids).requires_grad_(True)
    kept = {}
    for i, block in enumerate(model.layers):
        h = h + block.self_attn(rms_norm(h, block.input_layernorm, block.eps), cos, sin, allowed)
        x = rms_norm(h, block.post_attention_layernorm, block.eps)
        inner = F.silu(block.mlp.gate_proj(x)) * block.mlp.up_proj(x)
        if i in layers:
            inner.retain_grad()
        h = h + block.mlp.down_proj(inner)
        if i in layers:
            h.retain_grad()
            kept[i] = (h, inner)
    logits = model.lm_head(rms_norm(h, model.norm, model.config.rms_norm_eps)).float()
    # Next-token LM loss over every position but the last (its target is not in the window).
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    loss.backward()
    for i in sorted(kept):
        h, inner = kept[i]
        yield i, "hidden_state", h, h.grad
        yield i, "mlp_activation", inner, inner.grad
        yield i, "bottleneck", h.detach() @ projection, h.grad @ projection


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", default="", help="comma-separated layer indices (default: first, middle, last)")
    ap.add_argument("--bottleneck", type=int, default=128)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = LlamaForScoring(args.model, WeightStore(args.model), torch.float32, torch.device("cpu"))
    n = model.config.num_layers
    layers = sorted({int(x) for x in args.layers.split(",") if x.strip()} or {0, n // 2, n - 1})
    if any(not 0 <= i < n for i in layers):
        sys.exit(f"--layers {args.layers}: the model has layers 0..{n - 1}")
    if not 80 <= args.bottleneck <= 144:
        sys.exit(f"--bottleneck {args.bottleneck}: the issue asks for a width in 80..144")
    gen = torch.Generator().manual_seed(args.seed)
    H = model.config.hidden_size
    projection = torch.randn(H, args.bottleneck, generator=gen) / H**0.5
    with open(args.tokens, "r", encoding="utf-8") as f:
        batches = json.load(f)["batches"]
    for b, batch in enumerate(batches):
        ids = torch.tensor(batch, dtype=torch.long)
        if ids.dim() != 2 or ids.shape[1] > model.config.max_position_embeddings:
            sys.exit(f"batch {b}: expected [batch, seq <= {model.config.max_position_embeddings}] token ids, got {list(ids.shape)}")
        with torch.enable_grad():
            for layer, source, fwd, bwd in run_batch(model, ids, layers, projection):
                stem = f"b{b}-l{layer}-{source.replace('_', '-')}"
                save(args.out, f"{stem}-fwd.npy", fwd, {"kind": "forward", "layer": layer, "source": source})
                save(args.out, f"{stem}-bwd.npy", bwd, {"kind": "backward", "layer": layer, "source": source})


if __name__ == "__main__":
    main()
