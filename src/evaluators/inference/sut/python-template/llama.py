"""A LLaMA forward in plain PyTorch, in Hugging Face's layout and numerics, for scoring (no generation).

This is the baseline to make faster. Its numbers are the organizer's: optibench's own backends compute the
same log-probabilities (to float32 rounding), and a submission whose answers drift from them loses accuracy,
so keep what these conventions protect when you change things:

- RMSNorm is computed in float32 whatever the model's dtype: squaring half-precision activations overflows.
- Rotary embeddings use the rotate-half convention (Hugging Face's checkpoints have their q/k weights
  permuted for it) and float32 angles, as the checkpoint was trained with.
- The attention softmax and the final log-softmax run in float32: in fp16/bf16 a 32,000-way softmax loses
  the small probabilities that the log-likelihood is made of.
- Greedy means the target is the arg-max of the logits (torch.argmax takes the first maximum on ties).
"""

import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # PyTorch >= 2.0
HAS_COMPILE = hasattr(torch, "compile")  # PyTorch >= 2.0


class Config:
    """The config.json fields the forward needs."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), "r", encoding="utf-8") as f:
            raw = json.load(f)
        self.hidden_size = int(raw["hidden_size"])
        self.intermediate_size = int(raw["intermediate_size"])
        self.num_layers = int(raw["num_hidden_layers"])
        self.num_heads = int(raw["num_attention_heads"])
        # Absent in LLaMA-1 configs: every head has its own key/value head.
        self.num_kv_heads = int(raw.get("num_key_value_heads") or self.num_heads)
        self.head_dim = int(raw.get("head_dim") or self.hidden_size // self.num_heads)
        self.rms_norm_eps = float(raw.get("rms_norm_eps") or 1e-6)
        self.rope_theta = float(raw.get("rope_theta") or 10000.0)
        self.vocab_size = int(raw["vocab_size"])
        self.max_position_embeddings = int(raw.get("max_position_embeddings") or 2048)
        self.tie_word_embeddings = bool(raw.get("tie_word_embeddings", False))
        # Refuse what this forward does not implement rather than answer with other numbers.
        if raw.get("rope_scaling"):
            raise ValueError(f"rope_scaling {raw['rope_scaling']!r} is not implemented (LLaMA-1 and 2 use none)")
        if raw.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {raw['hidden_act']!r} is not implemented (LLaMA uses silu)")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"{self.num_heads} attention heads do not share {self.num_kv_heads} key/value heads evenly")


def rms_norm(x, weight, eps):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return weight * xf.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary_tables(config, dtype, device):
    """cos and sin for every position, [max_positions, head_dim], computed from float32 angles."""
    d = config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    angles = torch.outer(torch.arange(config.max_position_embeddings, dtype=torch.float32), inv_freq)
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos().to(device=device, dtype=dtype), angles.sin().to(device=device, dtype=dtype)


class Attention(nn.Module):
    def __init__(self, config, linear):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = config.num_heads, config.num_kv_heads, config.head_dim
        H, d = config.hidden_size, config.head_dim
        self.q_proj = linear("q_proj", self.heads * d, H)
        self.k_proj = linear("k_proj", self.kv_heads * d, H)
        self.v_proj = linear("v_proj", self.kv_heads * d, H)
        self.o_proj = linear("o_proj", H, self.heads * d)

    def forward(self, x, cos, sin, causal):
        B, S, _ = x.shape
        q = self.q_proj(x).view(B, S, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kv_heads != self.heads:
            # Grouped-query attention: query head h reads key/value head h // (heads / kv_heads).
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        if HAS_SDPA:
            # Fused kernels (flash / memory-efficient on GPUs) keep the softmax in float32 internally.
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)).float() * self.head_dim**-0.5
            scores = scores.masked_fill(~causal, torch.finfo(torch.float32).min)
            out = torch.matmul(scores.softmax(dim=-1).to(v.dtype), v)
        return self.o_proj(out.transpose(1, 2).reshape(B, S, self.heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, config, linear):
        super().__init__()
        H, I = config.hidden_size, config.intermediate_size
        self.gate_proj = linear("gate_proj", I, H)
        self.up_proj = linear("up_proj", I, H)
        self.down_proj = linear("down_proj", H, I)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config, weight, linear, layer):
        super().__init__()
        p = f"model.layers.{layer}."
        self.eps = config.rms_norm_eps
        self.input_layernorm = weight(p + "input_layernorm.weight", config.hidden_size)
        self.self_attn = Attention(config, lambda name, *shape: linear(p + f"self_attn.{name}.weight", *shape))
        self.post_attention_layernorm = weight(p + "post_attention_layernorm.weight", config.hidden_size)
        self.mlp = MLP(config, lambda name, *shape: linear(p + f"mlp.{name}.weight", *shape))

    def forward(self, h, cos, sin, causal):
        h = h + self.self_attn(rms_norm(h, self.input_layernorm, self.eps), cos, sin, causal)
        return h + self.mlp(rms_norm(h, self.post_attention_layernorm, self.eps))


class Llama(nn.Module):
    """The model: `hidden_states` runs the transformer, `score` the head at the positions that are scored."""

    def __init__(self, config, checkpoint, dtype, device):
        super().__init__()
        self.config = config
        H, V = config.hidden_size, config.vocab_size

        def weight(name, *shape):
            # copy=True: an owned tensor on the device, not a view of the memory-mapped file.
            tensor = checkpoint.get(name, shape).to(device=device, dtype=dtype, copy=True)
            return nn.Parameter(tensor, requires_grad=False)

        def linear(name, out_features, in_features):
            # A real nn.Linear, so that quantization (torch.ao) and torch.compile see the usual module.
            layer = nn.Linear(in_features, out_features, bias=False, device="meta")
            layer.weight = weight(name, out_features, in_features)
            return layer

        self.embed_tokens = weight("model.embed_tokens.weight", V, H)
        self.layers = nn.ModuleList(Block(config, weight, linear, i) for i in range(config.num_layers))
        self.norm = weight("model.norm.weight", H)
        if config.tie_word_embeddings and "lm_head.weight" not in checkpoint:
            self.lm_head = nn.Linear(H, V, bias=False, device="meta")
            self.lm_head.weight = self.embed_tokens
        else:
            self.lm_head = linear("lm_head.weight", V, H)
        cos, sin = rotary_tables(config, dtype, device)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def hidden_states(self, input_ids):
        """[rows, seq] token ids, padded on the right -> [rows, seq, hidden] before the final norm.

        Every row starts at position 0, so one table slice serves all rows; padding sits after the last real
        token of its row, so the causal mask alone keeps it out of every real position's attention (what the
        padded positions compute is never read)."""
        S = input_ids.shape[1]
        cos, sin = self.cos[:S], self.sin[:S]
        causal = torch.ones(S, S, dtype=torch.bool, device=input_ids.device).tril()
        h = F.embedding(input_ids, self.embed_tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, causal)
        return h

    def score(self, hidden, rows, positions, targets):
        """For each scored token (its row, the position that predicts it, the target id): log p(target) in
        float32 and whether the target is the arg-max. The norm and the vocabulary-sized head run only there:
        a few tokens per request instead of the whole sequence."""
        at = hidden[rows, positions]
        logits = self.lm_head(rms_norm(at, self.norm, self.config.rms_norm_eps)).float()
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return logprobs, logits.argmax(dim=-1) == targets

    def weight_bytes(self):
        seen = {}
        for p in self.parameters():  # a tied head counts once
            seen[id(p)] = p.numel() * p.element_size()
        return sum(seen.values())


def dtype_runs(dtype, device):
    """Checks that matrix products exist for `dtype` on `device`, so a bad choice fails at load with the
    reason (PyTorch < 2.x has no float16 matmul on the CPU) instead of in the first pass."""
    try:
        a = torch.ones(2, 2, dtype=dtype, device=device)
        torch.matmul(a, a)
    except RuntimeError as e:
        raise RuntimeError(
            f"{dtype} on {device}: this PyTorch ({torch.__version__}) cannot multiply matrices in it ({e}); "
            "choose another SUT_DTYPE or SUT_DEVICE"
        ) from e
