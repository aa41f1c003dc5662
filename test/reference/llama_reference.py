#!/usr/bin/env python3
"""Independent reference for the LLaMA forward pass (Hugging Face semantics), in PyTorch.

Scores log-likelihood requests the way lm-evaluation-harness does, one request at a time
(batch of 1, no padding), from a Hugging Face LLaMA directory (config.json + safetensors).
It shares no code with optibench's ONNX path: its own safetensors reader, its own forward.

    /usr/bin/python3 test/reference/llama_reference.py --model DIR --requests FILE [--out FILE] [--threads N]
        [--dtype float32|float64] [--rope-dtype float32|float64]

Input:  {"requests": [{"id": int, "context": [token ids], "continuation": [token ids]}, ...]}
        (other keys of a request, such as "group", are ignored; FILE may be "-" for stdin)
Output: {"torch": "<version>", "answers": [{"id", "logprob", "isGreedy", "tokenLogprobs"}, ...]}
        answers in request order.

Precision (default --dtype float32): weights are converted to float32 on load; every activation is
float32 (RMSNorm and the attention softmax too, as HF does); rotary angles are float32 as in HF; the
final log_softmax is taken in float64 on the float32 logits. --dtype float64 runs all of it in float64
(rotary angles too, unless --rope-dtype says otherwise): a near-exact value to measure float32 error
against. Errors go to stderr with exit status 1 (2 for bad command-line usage).
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


class ReferenceError(Exception):
    """A problem with the inputs (model directory, config, weights or requests)."""


# ----------------------------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------------------------

# name -> (numpy dtype of the stored elements, bytes per element)
_ST_DTYPES = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # decoded by hand: bf16 is the upper half of a float32
}


class SafetensorsFile:
    """Reads tensors out of one .safetensors file, one at a time, as float32 (float64 for F64) numpy arrays."""

    def __init__(self, path):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(8)
                if len(head) != 8:
                    raise ReferenceError(f"{path}: too short for a safetensors file")
                (header_len,) = struct.unpack("<Q", head)
                if header_len > size - 8:
                    raise ReferenceError(f"{path}: header length {header_len} exceeds the file size {size}")
                header_bytes = f.read(header_len)
        except OSError as e:
            raise ReferenceError(f"cannot read {path}: {e}") from e
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ReferenceError(f"{path}: header is not valid JSON: {e}") from e
        if not isinstance(header, dict):
            raise ReferenceError(f"{path}: header is not a JSON object")
        self.data_start = 8 + header_len
        data_size = size - self.data_start
        self.entries = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            if not isinstance(entry, dict):
                raise ReferenceError(f"{path}: entry {name!r} is not an object")
            dtype = entry.get("dtype")
            shape = entry.get("shape")
            offsets = entry.get("data_offsets")
            if dtype not in _ST_DTYPES:
                raise ReferenceError(f"{path}: tensor {name!r} has unsupported dtype {dtype!r}")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ReferenceError(f"{path}: tensor {name!r} has a bad shape {shape!r}")
            if (
                not isinstance(offsets, list)
                or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size
            ):
                raise ReferenceError(f"{path}: tensor {name!r} has bad data_offsets {offsets!r}")
            count = 1
            for d in shape:
                count *= d
            if offsets[1] - offsets[0] != count * _ST_DTYPES[dtype][1]:
                raise ReferenceError(
                    f"{path}: tensor {name!r}: {offsets[1] - offsets[0]} bytes for shape {shape} of {dtype}"
                )
            self.entries[name] = (dtype, tuple(shape), offsets[0], offsets[1])

    def __contains__(self, name):
        return name in self.entries

    def load(self, name):
        dtype, shape, begin, end = self.entries[name]
        np_dtype, _ = _ST_DTYPES[dtype]
        with open(self.path, "rb") as f:
            f.seek(self.data_start + begin)
            raw = f.read(end - begin)
        if len(raw) != end - begin:
            raise ReferenceError(f"{self.path}: tensor {name!r} is truncated")
        stored = np.frombuffer(raw, dtype=np_dtype).reshape(shape)
        if dtype == "BF16":
            return (stored.astype(np.uint32) << 16).view(np.float32)
        if dtype == "F64":
            return stored.astype(np.float64)
        return stored.astype(np.float32)  # exact for F16; always a fresh, writable array


class WeightStore:
    """All tensors of a model directory: model.safetensors, or shards listed in model.safetensors.index.json."""

    def __init__(self, model_dir, dtype=torch.float32):
        self.dtype = dtype
        single = os.path.join(model_dir, "model.safetensors")
        index = os.path.join(model_dir, "model.safetensors.index.json")
        self.where = {}  # tensor name -> SafetensorsFile
        if os.path.isfile(single):
            st = SafetensorsFile(single)
            for name in st.entries:
                self.where[name] = st
        elif os.path.isfile(index):
            try:
                with open(index, "r", encoding="utf-8") as f:
                    weight_map = json.load(f).get("weight_map")
            except (OSError, json.JSONDecodeError, AttributeError) as e:
                raise ReferenceError(f"cannot read {index}: {e}") from e
            if not isinstance(weight_map, dict):
                raise ReferenceError(f"{index}: no weight_map object")
            shards = {}
            for name, shard in weight_map.items():
                if not isinstance(shard, str) or os.path.basename(shard) != shard:
                    raise ReferenceError(f"{index}: bad shard name {shard!r} for {name!r}")
                if shard not in shards:
                    shards[shard] = SafetensorsFile(os.path.join(model_dir, shard))
                if name not in shards[shard]:
                    raise ReferenceError(f"{index}: {name!r} is mapped to {shard} which does not hold it")
                self.where[name] = shards[shard]
        else:
            raise ReferenceError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")

    def __contains__(self, name):
        return name in self.where

    def tensor(self, name, shape):
        if name not in self.where:
            raise ReferenceError(f"weight {name!r} is missing")
        array = self.where[name].load(name)
        if tuple(array.shape) != tuple(shape):
            raise ReferenceError(f"weight {name!r} has shape {list(array.shape)}, expected {list(shape)}")
        return torch.from_numpy(array).to(self.dtype)


# ----------------------------------------------------------------------------------------------
# config
# ----------------------------------------------------------------------------------------------


class Config:
    def __init__(self, model_dir):
        path = os.path.join(model_dir, "config.json")
        try:
            with open(path, "r", encoding="utf-8") as f:
                raw = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ReferenceError(f"cannot read {path}: {e}") from e
        if not isinstance(raw, dict):
            raise ReferenceError(f"{path}: not a JSON object")

        def need_int(key):
            v = raw.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ReferenceError(f"{path}: {key} must be a positive integer, got {v!r}")
            return v

        def opt_int(key, default):
            return default if raw.get(key) is None else need_int(key)

        def opt_bool(key, default):
            v = raw.get(key, default)
            if v is None:
                return default
            if not isinstance(v, bool):
                raise ReferenceError(f"{path}: {key} must be a boolean, got {v!r}")
            return v

        model_type = raw.get("model_type")
        if model_type not in (None, "llama"):
            print(f"llama_reference: warning: model_type is {model_type!r}, computing it as LLaMA", file=sys.stderr)

        self.hidden_size = need_int("hidden_size")
        self.intermediate_size = need_int("intermediate_size")
        self.num_heads = need_int("num_attention_heads")
        self.num_layers = need_int("num_hidden_layers")
        self.num_kv_heads = opt_int("num_key_value_heads", self.num_heads)
        self.vocab_size = need_int("vocab_size")
        self.max_position_embeddings = need_int("max_position_embeddings")
        self.head_dim = opt_int("head_dim", self.hidden_size // self.num_heads)
        eps = raw.get("rms_norm_eps")
        if not isinstance(eps, (int, float)) or isinstance(eps, bool) or eps < 0:
            raise ReferenceError(f"{path}: rms_norm_eps must be a non-negative number, got {eps!r}")
        self.rms_norm_eps = float(eps)
        theta = raw.get("rope_theta", 10000.0)
        if theta is None:
            theta = 10000.0
        if not isinstance(theta, (int, float)) or isinstance(theta, bool) or theta <= 0:
            raise ReferenceError(f"{path}: rope_theta must be a positive number, got {theta!r}")
        self.rope_theta = float(theta)
        self.tie_word_embeddings = opt_bool("tie_word_embeddings", False)
        self.attention_bias = opt_bool("attention_bias", False)
        self.mlp_bias = opt_bool("mlp_bias", False)
        act = raw.get("hidden_act", "silu")
        if act not in ("silu", "swish"):
            raise ReferenceError(f"{path}: hidden_act {act!r} is not supported (LLaMA uses silu)")

        if self.num_heads % self.num_kv_heads != 0:
            raise ReferenceError(
                f"{path}: num_attention_heads {self.num_heads} is not a multiple of num_key_value_heads {self.num_kv_heads}"
            )
        if self.head_dim % 2 != 0:
            raise ReferenceError(f"{path}: head_dim {self.head_dim} must be even for rotary embeddings")

        self.rope_scaling = self._rope_scaling(path, raw.get("rope_scaling"))

    @staticmethod
    def _rope_scaling(path, scaling):
        """None, ("linear", factor) or ("llama3", factor, low_freq_factor, high_freq_factor, original_max)."""
        if scaling is None:
            return None
        if not isinstance(scaling, dict):
            raise ReferenceError(f"{path}: rope_scaling must be an object or null")
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind in (None, "default"):
            return None

        def num(key):
            v = scaling.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ReferenceError(f"{path}: rope_scaling.{key} must be a positive number, got {v!r}")
            return float(v)

        if kind == "linear":
            return ("linear", num("factor"))
        if kind == "llama3":
            low, high = num("low_freq_factor"), num("high_freq_factor")
            if high <= low:
                raise ReferenceError(f"{path}: rope_scaling.high_freq_factor must exceed low_freq_factor")
            return ("llama3", num("factor"), low, high, num("original_max_position_embeddings"))
        raise ReferenceError(f"{path}: rope_scaling type {kind!r} is not supported (only default, linear, llama3)")


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------


class Layer:
    pass


class LlamaReference:
    def __init__(self, model_dir, dtype=torch.float32, rope_dtype=None):
        """dtype: what weights and activations are computed in (float32, or float64 for a high-precision check).
        rope_dtype: what the rotary angles are computed in before cos/sin; defaults to dtype."""
        cfg = Config(model_dir)
        store = WeightStore(model_dir, dtype)
        self.cfg = cfg
        self.dtype = dtype
        H, I, V = cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size
        q_out = cfg.num_heads * cfg.head_dim
        kv_out = cfg.num_kv_heads * cfg.head_dim

        self.embed = store.tensor("model.embed_tokens.weight", (V, H))
        self.layers = []
        for i in range(cfg.num_layers):
            p = f"model.layers.{i}."
            L = Layer()
            L.input_norm = store.tensor(p + "input_layernorm.weight", (H,))
            L.q = store.tensor(p + "self_attn.q_proj.weight", (q_out, H))
            L.k = store.tensor(p + "self_attn.k_proj.weight", (kv_out, H))
            L.v = store.tensor(p + "self_attn.v_proj.weight", (kv_out, H))
            L.o = store.tensor(p + "self_attn.o_proj.weight", (H, q_out))
            if cfg.attention_bias:
                L.q_b = store.tensor(p + "self_attn.q_proj.bias", (q_out,))
                L.k_b = store.tensor(p + "self_attn.k_proj.bias", (kv_out,))
                L.v_b = store.tensor(p + "self_attn.v_proj.bias", (kv_out,))
                L.o_b = store.tensor(p + "self_attn.o_proj.bias", (H,))
            else:
                L.q_b = L.k_b = L.v_b = L.o_b = None
            L.post_norm = store.tensor(p + "post_attention_layernorm.weight", (H,))
            L.gate = store.tensor(p + "mlp.gate_proj.weight", (I, H))
            L.up = store.tensor(p + "mlp.up_proj.weight", (I, H))
            L.down = store.tensor(p + "mlp.down_proj.weight", (H, I))
            if cfg.mlp_bias:
                L.gate_b = store.tensor(p + "mlp.gate_proj.bias", (I,))
                L.up_b = store.tensor(p + "mlp.up_proj.bias", (I,))
                L.down_b = store.tensor(p + "mlp.down_proj.bias", (H,))
            else:
                L.gate_b = L.up_b = L.down_b = None
            self.layers.append(L)
        self.final_norm = store.tensor("model.norm.weight", (H,))
        if cfg.tie_word_embeddings:
            self.lm_head = self.embed
        else:
            self.lm_head = store.tensor("lm_head.weight", (V, H))
        self.inv_freq = self._inv_freq(rope_dtype or dtype)

    # -- pieces ---------------------------------------------------------------------------------

    def _inv_freq(self, dtype):
        cfg = self.cfg
        d = cfg.head_dim
        # inv_freq[j] = 1 / theta ** (2j / d), j = 0 .. d/2 - 1
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(dtype) / d))
        scaling = cfg.rope_scaling
        if scaling is None:
            return inv_freq
        if scaling[0] == "linear":
            return inv_freq / scaling[1]
        # llama3: long wavelengths are slowed down by `factor`, short ones kept, the band between interpolated
        _, factor, low_ff, high_ff, original_max = scaling
        low_freq_wavelen = original_max / low_ff
        high_freq_wavelen = original_max / high_ff
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (original_max / wavelen - low_ff) / (high_ff - low_ff)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
        return torch.where(is_medium, smoothed, scaled)

    def _cos_sin(self, seq_len):
        positions = torch.arange(seq_len, dtype=self.inv_freq.dtype)
        freqs = torch.outer(positions, self.inv_freq)  # [S, d/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [S, d]
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    @staticmethod
    def _rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat((-x[..., half:], x[..., :half]), dim=-1)

    def _rms_norm(self, x, weight):
        x = x.to(self.dtype)  # HF computes the norm in float32 whatever the model dtype; here all is self.dtype
        variance = x.pow(2).mean(-1, keepdim=True)
        return weight * (x * torch.rsqrt(variance + self.cfg.rms_norm_eps))

    @staticmethod
    def _linear(x, weight, bias):
        return F.linear(x, weight, bias)

    def _attention(self, L, x, cos, sin):
        cfg = self.cfg
        S = x.shape[0]
        nh, nkv, d = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        q = self._linear(x, L.q, L.q_b).view(S, nh, d).transpose(0, 1)  # [nh, S, d]
        k = self._linear(x, L.k, L.k_b).view(S, nkv, d).transpose(0, 1)  # [nkv, S, d]
        v = self._linear(x, L.v, L.v_b).view(S, nkv, d).transpose(0, 1)
        q = q * cos + self._rotate_half(q) * sin
        k = k * cos + self._rotate_half(k) * sin
        if nkv != nh:  # grouped-query attention: query head h reads kv head h // (nh / nkv)
            rep = nh // nkv
            k = k.repeat_interleave(rep, dim=0)
            v = v.repeat_interleave(rep, dim=0)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (d**-0.5)  # [nh, S, S]
        future = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=self.dtype)
        out = torch.matmul(probs, v)  # [nh, S, d]
        out = out.transpose(0, 1).reshape(S, nh * d)
        return self._linear(out, L.o, L.o_b)

    def _mlp(self, L, x):
        gate = self._linear(x, L.gate, L.gate_b)
        up = self._linear(x, L.up, L.up_b)
        return self._linear(F.silu(gate) * up, L.down, L.down_b)

    # -- forward --------------------------------------------------------------------------------

    def hidden_states(self, tokens):
        """Final-normed hidden states [S, H] (self.dtype) of one sequence of token ids."""
        ids = torch.tensor(tokens, dtype=torch.int64)
        h = self.embed[ids]
        cos, sin = self._cos_sin(len(tokens))
        for L in self.layers:
            h = h + self._attention(L, self._rms_norm(h, L.input_norm), cos, sin)
            h = h + self._mlp(L, self._rms_norm(h, L.post_norm))
        return self._rms_norm(h, self.final_norm)

    def score(self, context, continuation):
        """lm-evaluation-harness loglikelihood of `continuation` after `context`, batch of one."""
        whole = list(context) + list(continuation)
        n = len(continuation)
        fed = whole[:-1]
        h = self.hidden_states(fed)
        # Only the positions that predict continuation tokens: t-1 for t in len(context) .. len(whole)-1.
        logits = F.linear(h[len(fed) - n :], self.lm_head)  # [n, V], self.dtype
        logprobs = torch.log_softmax(logits.to(torch.float64), dim=-1)
        targets = torch.tensor(whole[len(context) :], dtype=torch.int64)
        token_logprobs = logprobs.gather(1, targets[:, None])[:, 0]
        greedy = logprobs.argmax(dim=-1)
        return {
            "logprob": float(token_logprobs.sum().item()),
            "isGreedy": bool(torch.equal(greedy, targets)),
            "tokenLogprobs": [float(x) for x in token_logprobs.tolist()],
        }


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def read_requests(path, cfg):
    try:
        if path == "-":
            raw = json.load(sys.stdin)
        else:
            with open(path, "r", encoding="utf-8") as f:
                raw = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ReferenceError(f"cannot read requests {path}: {e}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("requests"), list):
        raise ReferenceError('requests file must be an object {"requests": [...]}')

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    seen = set()
    requests = []
    for i, r in enumerate(raw["requests"]):
        where = f"requests[{i}]"
        if not isinstance(r, dict):
            raise ReferenceError(f"{where} is not an object")
        rid = r.get("id")
        if not is_int(rid):
            raise ReferenceError(f"{where}.id must be an integer")
        if rid in seen:
            raise ReferenceError(f"{where}: duplicate id {rid}")
        seen.add(rid)
        for key in ("context", "continuation"):
            toks = r.get(key)
            if not isinstance(toks, list) or not all(is_int(t) for t in toks):
                raise ReferenceError(f"{where}.{key} must be a list of integer token ids")
            for t in toks:
                if not 0 <= t < cfg.vocab_size:
                    raise ReferenceError(f"{where}.{key}: token id {t} outside [0, {cfg.vocab_size})")
        if len(r["context"]) == 0:
            raise ReferenceError(f"{where}.context is empty (nothing predicts the first continuation token)")
        if len(r["continuation"]) == 0:
            raise ReferenceError(f"{where}.continuation is empty")
        fed = len(r["context"]) + len(r["continuation"]) - 1
        if fed > cfg.max_position_embeddings:
            raise ReferenceError(
                f"{where}: {fed} positions to feed exceed max_position_embeddings {cfg.max_position_embeddings}"
            )
        requests.append((rid, r["context"], r["continuation"]))
    return requests


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Independent PyTorch reference for LLaMA log-likelihoods (lm-evaluation-harness semantics)."
    )
    parser.add_argument("--model", required=True, help="Hugging Face LLaMA directory (config.json, safetensors)")
    parser.add_argument("--requests", required=True, help='JSON file {"requests": [...]}, or - for stdin')
    parser.add_argument("--out", help="write the answers JSON here instead of stdout")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads(N)")
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="dtype of weights and activations (default float32; float64 for a high-precision check)",
    )
    parser.add_argument(
        "--rope-dtype",
        choices=("float32", "float64"),
        help="dtype of the rotary angles before cos/sin (default: --dtype; float32 is what Hugging Face does)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")

    try:
        torch.manual_seed(0)
        torch.use_deterministic_algorithms(True)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        with torch.no_grad():
            dtypes = {"float32": torch.float32, "float64": torch.float64}
            model = LlamaReference(args.model, dtypes[args.dtype], dtypes.get(args.rope_dtype))
            requests = read_requests(args.requests, model.cfg)
            answers = []
            for rid, context, continuation in requests:
                answer = model.score(context, continuation)
                if not all(math.isfinite(x) for x in answer["tokenLogprobs"]):
                    raise ReferenceError(f"request {rid}: non-finite log-probability")
                answers.append({"id": rid, **answer})
        text = json.dumps({"torch": torch.__version__, "answers": answers}, allow_nan=False)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        else:
            sys.stdout.write(text + "\n")
    except ReferenceError as e:
        print(f"llama_reference: error: {e}", file=sys.stderr)
        return 1
    except (OSError, MemoryError, RuntimeError) as e:
        print(f"llama_reference: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
