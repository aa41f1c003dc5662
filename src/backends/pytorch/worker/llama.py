"""The built-in LLaMA forward in plain PyTorch, batched, with optibench's forward signature.

Same inputs and outputs as the ONNX graph (src/models/llama/onnx-graph.ts): `input_ids` and `position_ids`
[rows, seq]; `attention_mask` [rows, seq] (which key slots are real; causal by position, slot k holding
position k) or `tree_mask` [rows, seq, seq] (which slot may attend to which); `score_positions` and
`target_ids` [rows, scored]. Returns the log-softmax of the LM head's logits at each scored slot gathered at
its target, and whether the target is the arg-max.

Hugging Face's numerics: RMSNorm in float32, rotary embeddings in the rotate-half convention with float32
angles, the attention softmax in float32, grouped-query attention by repeating key/value heads, the
log-softmax in float32. The final norm and LM head run only at the scored slots (a row's logits do not
depend on the other rows, so this is the same number as computing them everywhere).

Attention uses torch.nn.functional.scaled_dot_product_attention with a boolean mask where it exists (PyTorch
>= 2.0), and matmul + masked softmax otherwise (PyTorch 1.13).
"""

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from .tensor_parallel import ParallelContext, check_divisible

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")
_LOWEST = torch.finfo(torch.float32).min


class Config:
    """The config.json fields the forward needs (optibench's TypeScript side has already validated the file)."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), "r", encoding="utf-8") as f:
            raw = json.load(f)
        self.hidden_size = int(raw["hidden_size"])
        self.intermediate_size = int(raw["intermediate_size"])
        self.num_heads = int(raw["num_attention_heads"])
        self.num_layers = int(raw["num_hidden_layers"])
        self.num_kv_heads = int(raw.get("num_key_value_heads") or self.num_heads)
        self.vocab_size = int(raw["vocab_size"])
        self.max_position_embeddings = int(raw.get("max_position_embeddings") or 2048)
        self.rms_norm_eps = float(raw.get("rms_norm_eps") or 1e-6)
        self.rope_theta = float(raw.get("rope_theta") or 10000.0)
        self.tie_word_embeddings = bool(raw.get("tie_word_embeddings") or False)
        self.head_dim = self.hidden_size // self.num_heads
        if raw.get("rope_scaling") not in (None, {}):
            raise ValueError("rope_scaling is not supported by the built-in forward (LLaMA-1 and LLaMA-2 use none)")
        if raw.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {raw.get('hidden_act')!r} is not supported (LLaMA uses silu)")


def rms_norm(x, weight, eps):
    """weight * (x / rms(x)), the normalisation in float32 whatever the model's dtype (as Hugging Face)."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def rotary_tables(config, dtype, device):
    """cos and sin [max_positions, head_dim], as Hugging Face and the ONNX builder compute them: inverse
    frequencies and angles rounded to float32, cos/sin of the float32 angle, then the model's dtype."""
    d = config.head_dim
    exponents = (torch.arange(0, d, 2, dtype=torch.float64) / d).float().double()
    inv_freq = (1.0 / (config.rope_theta ** exponents).float().double()).float()
    positions = torch.arange(config.max_position_embeddings, dtype=torch.float32)
    angles = torch.outer(positions, inv_freq).double()  # float32 products, exact in float64
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().float().to(dtype).to(device), angles.sin().float().to(dtype).to(device)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def linear(weight):
    """An nn.Linear (so torch.ao quantization and torch.compile see the usual module) around `weight`."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
    layer.weight = nn.Parameter(weight, requires_grad=False)
    return layer


def allowed_mask(position_ids, attention_mask=None, tree_mask=None):
    """[rows, 1, seq, seq] bool: which key slot each query slot may attend to."""
    if tree_mask is not None:
        return tree_mask.bool().unsqueeze(1)
    keys = torch.arange(attention_mask.shape[1], device=position_ids.device)
    causal = keys.view(1, 1, 1, -1) <= position_ids.view(position_ids.shape[0], 1, -1, 1)
    return causal & attention_mask.bool().view(attention_mask.shape[0], 1, 1, -1)


class Attention(nn.Module):
    def __init__(self, config, par, load, prefix):
        super().__init__()
        d = config.head_dim
        heads = par.split(config.num_heads, "num_attention_heads")
        kv = par.split(config.num_kv_heads, "num_key_value_heads")
        self.heads, self.kv_heads, self.head_dim = heads[1], kv[1], d
        self.scale = d**-0.5
        self.par = par
        H = config.hidden_size
        # Column-parallel: this rank's heads (output features); row-parallel o_proj: the same heads' inputs.
        self.q_proj = linear(load(prefix + "q_proj.weight", (config.num_heads * d, H), rows=(heads[0] * d, heads[1] * d)))
        self.k_proj = linear(load(prefix + "k_proj.weight", (config.num_kv_heads * d, H), rows=(kv[0] * d, kv[1] * d)))
        self.v_proj = linear(load(prefix + "v_proj.weight", (config.num_kv_heads * d, H), rows=(kv[0] * d, kv[1] * d)))
        self.o_proj = linear(load(prefix + "o_proj.weight", (H, config.num_heads * d), cols=(heads[0] * d, heads[1] * d)))

    def forward(self, x, cos, sin, allowed):
        B, S, _ = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(B, S, self.heads, d).transpose(1, 2)
        k = self.k_proj(x).view(B, S, self.kv_heads, d).transpose(1, 2)
        v = self.v_proj(x).view(B, S, self.kv_heads, d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:  # grouped-query attention: query head h reads key/value head h // rep
            rep = self.heads // self.kv_heads
            k = k[:, :, None].expand(B, self.kv_heads, rep, S, d).reshape(B, self.heads, S, d)
            v = v[:, :, None].expand(B, self.kv_heads, rep, S, d).reshape(B, self.heads, S, d)
        if HAS_SDPA:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
            probs = torch.softmax(scores.float().masked_fill(~allowed, _LOWEST), dim=-1).to(q.dtype)
            context = torch.matmul(probs, v)
        out = self.o_proj(context.transpose(1, 2).reshape(B, S, self.heads * d))
        return self.par.all_reduce(out)


class MLP(nn.Module):
    def __init__(self, config, par, load, prefix):
        super().__init__()
        H, I = config.hidden_size, config.intermediate_size
        cols = par.split(I, "intermediate_size")
        self.par = par
        self.gate_proj = linear(load(prefix + "gate_proj.weight", (I, H), rows=cols))
        self.up_proj = linear(load(prefix + "up_proj.weight", (I, H), rows=cols))
        self.down_proj = linear(load(prefix + "down_proj.weight", (H, I), cols=cols))

    def forward(self, x):
        return self.par.all_reduce(self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x)))


class Block(nn.Module):
    def __init__(self, config, par, load, layer):
        super().__init__()
        p = f"model.layers.{layer}."
        H = config.hidden_size
        self.eps = config.rms_norm_eps
        self.input_layernorm = nn.Parameter(load(p + "input_layernorm.weight", (H,)), requires_grad=False)
        self.self_attn = Attention(config, par, load, p + "self_attn.")
        self.post_attention_layernorm = nn.Parameter(load(p + "post_attention_layernorm.weight", (H,)), requires_grad=False)
        self.mlp = MLP(config, par, load, p + "mlp.")

    def forward(self, h, cos, sin, allowed):
        h = h + self.self_attn(rms_norm(h, self.input_layernorm, self.eps), cos, sin, allowed)
        return h + self.mlp(rms_norm(h, self.post_attention_layernorm, self.eps))


class LlamaForScoring(nn.Module):
    """The whole model; `forward` takes optibench's tensors and returns (target log-probs, is-greedy)."""

    def __init__(self, model_dir, store, dtype, device, par=None, progress=None):
        super().__init__()
        par = par or ParallelContext()
        config = Config(model_dir)
        if par.world > 1:
            check_divisible(config, par.world, par.embeddings)
        self.config, self.par, self.dtype, self.device = config, par, dtype, device
        H, V = config.hidden_size, config.vocab_size

        def load(name, shape, rows=None, cols=None):
            return store.get(name, shape, rows, cols).to(device=device, dtype=dtype)

        self.vocab = par.split(V, "vocab_size") if par.shard_vocab else (0, V)
        vocab_rows = self.vocab if par.shard_vocab else None
        self.embed_tokens = nn.Parameter(load("model.embed_tokens.weight", (V, H), rows=vocab_rows), requires_grad=False)
        layers = []
        for i in range(config.num_layers):
            if progress:
                progress(f"loading layer {i + 1} of {config.num_layers}")
            layers.append(Block(config, par, load, i))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.Parameter(load("model.norm.weight", (H,)), requires_grad=False)
        if config.tie_word_embeddings:
            self.lm_head = nn.Linear(H, self.embed_tokens.shape[0], bias=False, device="meta")
            self.lm_head.weight = self.embed_tokens
        else:
            self.lm_head = linear(load("lm_head.weight", (V, H), rows=vocab_rows))
        cos, sin = rotary_tables(config, dtype, device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def embed(self, input_ids):
        if not self.par.shard_vocab:
            return F.embedding(input_ids, self.embed_tokens)
        start, length = self.vocab
        mine = (input_ids >= start) & (input_ids < start + length)
        local = torch.where(mine, input_ids - start, torch.zeros_like(input_ids))
        h = F.embedding(local, self.embed_tokens) * mine.unsqueeze(-1).to(self.embed_tokens.dtype)
        return self.par.all_reduce(h)

    def forward(self, input_ids, position_ids, allowed, score_positions, target_ids):
        h = self.embed(input_ids)
        cos = self.cos[position_ids].unsqueeze(1)
        sin = self.sin[position_ids].unsqueeze(1)
        for layer in self.layers:
            h = layer(h, cos, sin, allowed)
        rows, scored = score_positions.shape
        at = torch.gather(h, 1, score_positions.unsqueeze(-1).expand(rows, scored, h.shape[-1]))
        logits = self.lm_head(rms_norm(at, self.norm, self.config.rms_norm_eps)).float()
        if self.par.shard_vocab:
            logits = self.par.all_gather_last(logits)
        logprobs = torch.log_softmax(logits, dim=-1)
        target = logprobs.gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
        return target, logits.argmax(dim=-1) == target_ids

    def weight_shapes(self):
        """{name: [shape, bytes]} of every weight this process holds, in the checkpoint's names (a quantized
        layer's packed int8 weight included)."""
        shapes = {}

        def put(name, tensor):
            weight = tensor.weight if isinstance(tensor, nn.Module) else tensor
            if callable(weight):  # torch.ao's dynamic quantized Linear: weight() is the int8 tensor
                weight = weight()
            shapes[name] = [list(weight.shape), weight.numel() * weight.element_size()]

        put("model.embed_tokens.weight", self.embed_tokens)
        for i, layer in enumerate(self.layers):
            p = f"model.layers.{i}."
            put(p + "input_layernorm.weight", layer.input_layernorm)
            for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
                put(p + f"self_attn.{name}.weight", getattr(layer.self_attn, name))
            put(p + "post_attention_layernorm.weight", layer.post_attention_layernorm)
            for name in ("gate_proj", "up_proj", "down_proj"):
                put(p + f"mlp.{name}.weight", getattr(layer.mlp, name))
        put("model.norm.weight", self.norm)
        put("lm_head.weight", self.lm_head)
        return shapes
