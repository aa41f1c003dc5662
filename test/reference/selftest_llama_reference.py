#!/usr/bin/env python3
"""Self-test of llama_reference.py against a deliberately different computation.

    /usr/bin/python3 test/reference/selftest_llama_reference.py

Builds tiny random LLaMA models in a temporary directory with its own safetensors writer (F32, F16 and
BF16 tensors; one file or two shards with an index; tied and untied embeddings; GQA and MHA; head_dim,
biases and rope scaling), runs llama_reference.py on them as a subprocess, and compares its answers with
a float64 numpy implementation written differently on purpose: attention with explicit loops over heads
and positions, rotary embeddings as complex rotations of the pairs (j, j + d/2), GQA by index mapping,
weights decoded from their bits by hand. Also checks two single-layer cases against closed forms, the
isGreedy flag, determinism, the CLI options and the error exits. Exit 0 and a summary when all pass.
"""

import cmath
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "llama_reference.py")
TOLERANCE = 1e-5  # float32 reference vs float64 numpy: float32 rounding only
TOLERANCE_F64 = 1e-9  # --dtype float64 reference vs float64 numpy: the same mathematics

failures = []
summary = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print(f"FAIL: {message}", file=sys.stderr)
    return condition


# ----------------------------------------------------------------------------------------------
# encoding / decoding of stored numbers (decoding by hand, from the bits)
# ----------------------------------------------------------------------------------------------


def bf16_bits(values):
    """float32 values -> bf16 bit patterns, rounded to nearest even."""
    u = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def decode_bf16_bits(bits):
    """bf16 bits -> float64, from sign / exponent / mantissa (no reinterpretation of memory)."""
    out = np.empty(bits.shape, dtype=np.float64)
    for idx, b in np.ndenumerate(bits):
        b = int(b)
        sign = -1.0 if b >> 15 else 1.0
        exp = (b >> 7) & 0xFF
        mant = b & 0x7F
        assert exp != 0xFF, "no inf/nan in test weights"
        if exp == 0:
            out[idx] = sign * math.ldexp(mant / 128.0, -126)
        else:
            out[idx] = sign * math.ldexp(1.0 + mant / 128.0, exp - 127)
    return out


def f16_bits(values):
    return np.asarray(values, dtype=np.float16).view(np.uint16)


def decode_f16_bits(bits):
    out = np.empty(bits.shape, dtype=np.float64)
    for idx, b in np.ndenumerate(bits):
        b = int(b)
        sign = -1.0 if b >> 15 else 1.0
        exp = (b >> 10) & 0x1F
        mant = b & 0x3FF
        assert exp != 0x1F, "no inf/nan in test weights"
        if exp == 0:
            out[idx] = sign * math.ldexp(mant / 1024.0, -14)
        else:
            out[idx] = sign * math.ldexp(1.0 + mant / 1024.0, exp - 15)
    return out


def encode(values, dtype):
    """-> (raw bytes, the exact float64 values those bytes hold)."""
    if dtype == "F64":
        v = np.asarray(values, dtype=np.float64)
        return v.astype("<f8").tobytes(), v.copy()
    if dtype == "F32":
        v = np.asarray(values, dtype=np.float32)
        return v.astype("<f4").tobytes(), v.astype(np.float64)
    if dtype == "F16":
        bits = f16_bits(values)
        return bits.astype("<u2").tobytes(), decode_f16_bits(bits)
    if dtype == "BF16":
        bits = bf16_bits(values)
        return bits.astype("<u2").tobytes(), decode_bf16_bits(bits)
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header = {"__metadata__": {"format": "pt", "writer": "optibench selftest"}}
    offset = 0
    blobs = []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # padded to 8 bytes, as the official writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


# ----------------------------------------------------------------------------------------------
# tiny random models
# ----------------------------------------------------------------------------------------------


def weight_shapes(cfg):
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    d = cfg.get("head_dim") or H // nh
    shapes = {"model.embed_tokens.weight": (V, H)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (H,)
        shapes[p + "self_attn.q_proj.weight"] = (nh * d, H)
        shapes[p + "self_attn.k_proj.weight"] = (nkv * d, H)
        shapes[p + "self_attn.v_proj.weight"] = (nkv * d, H)
        shapes[p + "self_attn.o_proj.weight"] = (H, nh * d)
        if cfg.get("attention_bias"):
            for proj, n in (("q", nh * d), ("k", nkv * d), ("v", nkv * d), ("o", H)):
                shapes[p + f"self_attn.{proj}_proj.bias"] = (n,)
        shapes[p + "post_attention_layernorm.weight"] = (H,)
        shapes[p + "mlp.gate_proj.weight"] = (I, H)
        shapes[p + "mlp.up_proj.weight"] = (I, H)
        shapes[p + "mlp.down_proj.weight"] = (H, I)
        if cfg.get("mlp_bias"):
            shapes[p + "mlp.gate_proj.bias"] = (I,)
            shapes[p + "mlp.up_proj.bias"] = (I,)
            shapes[p + "mlp.down_proj.bias"] = (H,)
    shapes["model.norm.weight"] = (H,)
    if not cfg.get("tie_word_embeddings"):
        shapes["lm_head.weight"] = (V, H)
    return shapes


def random_weights(cfg, rng, embed_std=1.0):
    out = {}
    for name, shape in weight_shapes(cfg).items():
        if name.endswith("norm.weight"):
            w = 1.0 + 0.2 * rng.standard_normal(shape)
        elif name.endswith(".bias"):
            w = 0.2 * rng.standard_normal(shape)
        elif name == "model.embed_tokens.weight":
            w = embed_std * rng.standard_normal(shape)
        else:
            gain = 1.5 if ("q_proj" in name or "k_proj" in name) else 2.0 if name == "lm_head.weight" else 1.0
            w = gain * rng.standard_normal(shape) / math.sqrt(shape[1])
        out[name] = w if name.endswith(".bias") else w.astype(np.float32)  # biases: float64, to store as F64
    return out


def save_model(model_dir, cfg, weights, dtype_of, shard_of=None):
    """Writes config.json and the weights; returns the exact float64 values stored.

    dtype_of(name) -> "F32" | "F16" | "BF16"; shard_of(name) -> shard file name, or None for one file."""
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    stored = {}
    files = {}
    for name, values in weights.items():
        dtype = dtype_of(name)
        raw, exact = encode(values, dtype)
        stored[name] = exact
        target = shard_of(name) if shard_of else "model.safetensors"
        files.setdefault(target, []).append((name, dtype, values.shape, raw))
    for file_name, tensors in files.items():
        write_safetensors(os.path.join(model_dir, file_name), tensors)
    if shard_of:
        index = {
            "metadata": {"total_size": sum(len(t[3]) for ts in files.values() for t in ts)},
            "weight_map": {name: shard_of(name) for name in weights},
        }
        with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
    return stored


# ----------------------------------------------------------------------------------------------
# the second computation: float64 numpy, loops, complex rotations
# ----------------------------------------------------------------------------------------------


def rope_frequencies(cfg):
    """One angular frequency per pair (j, j + d/2), scalar by scalar."""
    nh = cfg["num_attention_heads"]
    d = cfg.get("head_dim") or cfg["hidden_size"] // nh
    theta = cfg.get("rope_theta") or 10000.0
    scaling = cfg.get("rope_scaling")
    kind = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    freqs = []
    for j in range(d // 2):
        w = theta ** (-(2.0 * j) / d)
        if kind == "linear":
            w = w / scaling["factor"]
        elif kind == "llama3":
            factor = scaling["factor"]
            low_ff, high_ff = scaling["low_freq_factor"], scaling["high_freq_factor"]
            old_len = scaling["original_max_position_embeddings"]
            wavelength = 2.0 * math.pi / w
            if wavelength < old_len / high_ff:  # short wavelengths: unchanged
                pass
            elif wavelength > old_len / low_ff:  # long wavelengths: slowed by factor
                w = w / factor
            else:  # in between: blend of the two by how many turns fit the old context
                s = (old_len / wavelength - low_ff) / (high_ff - low_ff)
                w = (1.0 - s) * (w / factor) + s * w
        freqs.append(w)
    return freqs


def np_rms_norm(x, w, eps):
    out = np.empty_like(x)
    for t in range(x.shape[0]):
        ms = sum(float(v) * float(v) for v in x[t]) / x.shape[1]
        out[t] = x[t] / math.sqrt(ms + eps) * w
    return out


def np_rotate(vec, position, freqs):
    """Rotates each pair (vec[j], vec[j + d/2]) by the angle position * freqs[j]."""
    half = len(vec) // 2
    out = np.empty_like(vec)
    for j in range(half):
        z = complex(vec[j], vec[j + half]) * cmath.exp(1j * position * freqs[j])
        out[j], out[j + half] = z.real, z.imag
    return out


def np_logprobs(cfg, W, tokens):
    """float64 log-probabilities [S, V] for every position of `tokens`."""
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads") or nh
    d = cfg.get("head_dim") or H // nh
    eps = cfg["rms_norm_eps"]
    group = nh // nkv
    freqs = rope_frequencies(cfg)
    S = len(tokens)

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    x = np.stack([W["model.embed_tokens.weight"][t] for t in tokens])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = np_rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(a, p + "self_attn.q_proj").reshape(S, nh, d)
        k = lin(a, p + "self_attn.k_proj").reshape(S, nkv, d)
        v = lin(a, p + "self_attn.v_proj").reshape(S, nkv, d)
        attn = np.zeros((S, nh, d))
        for h in range(nh):
            g = h // group  # the kv head this query head shares
            for t in range(S):
                qt = np_rotate(q[t, h], t, freqs)
                scores = []
                for s in range(t + 1):  # causal: only positions up to t
                    ks = np_rotate(k[s, g], s, freqs)
                    scores.append(float(np.dot(qt, ks)) / math.sqrt(d))
                top = max(scores)
                weights = [math.exp(sc - top) for sc in scores]
                total = sum(weights)
                for s, wgt in enumerate(weights):
                    attn[t, h] += (wgt / total) * v[s, g]
        x = x + lin(attn.reshape(S, nh * d), p + "self_attn.o_proj")
        m = np_rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        gate = lin(m, p + "mlp.gate_proj")
        up = lin(m, p + "mlp.up_proj")
        x = x + lin(gate / (1.0 + np.exp(-gate)) * up, p + "mlp.down_proj")
    x = np_rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    logits = x @ head.T
    out = np.empty_like(logits)
    for t in range(S):
        top = logits[t].max()
        out[t] = logits[t] - (top + math.log(sum(math.exp(z - top) for z in logits[t])))
    return out


def np_score(cfg, W, context, continuation):
    whole = context + continuation
    lp = np_logprobs(cfg, W, whole[:-1])
    tokens = []
    greedy = True
    for t in range(len(context), len(whole)):
        row = lp[t - 1]
        tokens.append(float(row[whole[t]]))
        greedy = greedy and int(np.argmax(row)) == whole[t]
    return sum(tokens), greedy, tokens


def np_greedy_continuation(cfg, W, context, n):
    seq = list(context)
    for _ in range(n):
        seq.append(int(np.argmax(np_logprobs(cfg, W, seq)[-1])))
    return seq[len(context) :]


# ----------------------------------------------------------------------------------------------
# running the reference
# ----------------------------------------------------------------------------------------------


def run_reference(model_dir, requests, extra=(), stdin_requests=False, tmp=None):
    req_path = os.path.join(tmp, "requests.json")
    body = json.dumps({"requests": requests})
    with open(req_path, "w") as f:
        f.write(body)
    cmd = [sys.executable, REFERENCE, "--model", model_dir, "--requests", "-" if stdin_requests else req_path]
    cmd += list(extra)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        cmd, input=body if stdin_requests else None, capture_output=True, text=True, env=env, timeout=600
    )
    return proc


def answers_of(proc, label):
    if not check(proc.returncode == 0, f"{label}: reference exited {proc.returncode}: {proc.stderr.strip()}"):
        return None
    return json.loads(proc.stdout)


def compare(label, cfg, W, requests, output, tolerance):
    check(isinstance(output.get("torch"), str), f"{label}: output lacks the torch version")
    answers = output["answers"]
    check([a["id"] for a in answers] == [r["id"] for r in requests], f"{label}: answers not in request order")
    worst = 0.0
    greedy_true = 0
    for r, a in zip(requests, answers):
        total, greedy, tokens = np_score(cfg, W, r["context"], r["continuation"])
        check(set(a) == {"id", "logprob", "isGreedy", "tokenLogprobs"}, f"{label}: answer keys {sorted(a)}")
        check(len(a["tokenLogprobs"]) == len(tokens), f"{label} id {r['id']}: tokenLogprobs length")
        diffs = [abs(a["logprob"] - total)] + [abs(x - y) for x, y in zip(a["tokenLogprobs"], tokens)]
        worst = max(worst, max(diffs))
        check(max(diffs) <= tolerance, f"{label} id {r['id']}: differs by {max(diffs):.3g} (> {tolerance})")
        check(
            abs(a["logprob"] - sum(a["tokenLogprobs"])) <= 1e-9, f"{label} id {r['id']}: logprob != sum(tokenLogprobs)"
        )
        check(a["isGreedy"] is greedy, f"{label} id {r['id']}: isGreedy {a['isGreedy']}, numpy says {greedy}")
        greedy_true += greedy
    return worst, greedy_true


def random_requests(cfg, W, rng, count, first_id=0):
    V = cfg["vocab_size"]
    requests = []
    for i in range(count):
        ctx_len = int(rng.integers(1, 30))
        cont_len = int(rng.integers(1, 6))
        requests.append(
            {
                "id": first_id + i,
                "group": i // 2,
                "context": [int(t) for t in rng.integers(0, V, ctx_len)],
                "continuation": [int(t) for t in rng.integers(0, V, cont_len)],
            }
        )
    # Two continuations that are the numpy model's greedy choice: isGreedy must be true.
    for j, (ctx_len, n) in enumerate(((5, 3), (1, 1))):
        context = [int(t) for t in rng.integers(0, V, ctx_len)]
        requests.append(
            {
                "id": first_id + count + j,
                "context": context,
                "continuation": np_greedy_continuation(cfg, W, context, n),
            }
        )
    # A context of the full length: positions up to max_position_embeddings - 1.
    maxp = cfg["max_position_embeddings"]
    requests.append(
        {
            "id": first_id + count + 2,
            "context": [int(t) for t in rng.integers(0, V, maxp - 1)],
            "continuation": [int(t) for t in rng.integers(0, V, 2)],
        }
    )
    return requests


# ----------------------------------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------------------------------


def base_config(**over):
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "num_hidden_layers": 2,
        "rms_norm_eps": 1e-5,
        "vocab_size": 50,
        "max_position_embeddings": 40,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "hidden_act": "silu",
    }
    cfg.update(over)
    return {k: v for k, v in cfg.items() if v is not None}


def random_case(tmp, label, cfg, seed, dtype_of, shard_of=None, extra=(), stdin_requests=False, embed_std=1.0):
    """Runs the reference twice, float32 (default) and --dtype float64, and compares both with numpy."""
    rng = np.random.default_rng(seed)
    model_dir = os.path.join(tmp, label)
    W = save_model(model_dir, cfg, random_weights(cfg, rng, embed_std), dtype_of, shard_of)
    requests = random_requests(cfg, W, rng, 8, first_id=100 * seed)
    proc = run_reference(model_dir, requests, extra=extra, stdin_requests=stdin_requests, tmp=tmp)
    output = answers_of(proc, label)
    proc64 = run_reference(model_dir, requests, extra=("--dtype", "float64"), tmp=tmp)
    output64 = answers_of(proc64, label + " float64")
    if output is None or output64 is None:
        return None
    worst, greedy_true = compare(label, cfg, W, requests, output, TOLERANCE)
    worst64, _ = compare(label + " float64", cfg, W, requests, output64, TOLERANCE_F64)
    check(greedy_true >= 2, f"{label}: expected at least two greedy continuations, got {greedy_true}")
    lps = [x for a in output["answers"] for x in a["tokenLogprobs"]]
    summary.append(
        f"{label:<26} {len(requests):>2} requests, log-probs {min(lps):6.2f}..{max(lps):5.2f}, greedy {greedy_true};"
        f" max |diff| float32 {worst:.1e}, float64 {worst64:.1e}"
    )
    return model_dir, requests, proc.stdout


def hand_case_uniform_attention(tmp):
    """One layer, q = k = 0 (uniform causal attention), v = o = I, MLP = 0, norms = 1, eps = 0, lm_head = I.

    Token i embeds as 2 e_i, so rmsnorm(2 e_i) = 2 e_i (hidden 4).
    Fed [0, 1]:  position 0: h = 2e0 + 2e0 = 4e0      -> norm 2e0               -> logits (2, 0, 0, 0)
                 position 1: h = 2e1 + (2e0 + 2e1)/2  -> e0 + 3e1, rms sqrt(2.5) -> logits (1, 3, 0, 0)/sqrt(2.5)
    """
    cfg = base_config(
        hidden_size=4, intermediate_size=3, num_attention_heads=2, num_key_value_heads=2, num_hidden_layers=1,
        vocab_size=4, rms_norm_eps=0.0, max_position_embeddings=8,
    )
    I4 = np.eye(4, dtype=np.float32)
    weights = {
        "model.embed_tokens.weight": 2 * I4,
        "model.layers.0.input_layernorm.weight": np.ones(4, np.float32),
        "model.layers.0.self_attn.q_proj.weight": np.zeros((4, 4), np.float32),
        "model.layers.0.self_attn.k_proj.weight": np.zeros((4, 4), np.float32),
        "model.layers.0.self_attn.v_proj.weight": I4,
        "model.layers.0.self_attn.o_proj.weight": I4,
        "model.layers.0.post_attention_layernorm.weight": np.ones(4, np.float32),
        "model.layers.0.mlp.gate_proj.weight": np.zeros((3, 4), np.float32),
        "model.layers.0.mlp.up_proj.weight": np.zeros((3, 4), np.float32),
        "model.layers.0.mlp.down_proj.weight": np.zeros((4, 3), np.float32),
        "model.norm.weight": np.ones(4, np.float32),
        "lm_head.weight": I4,
    }
    model_dir = os.path.join(tmp, "hand_uniform")
    save_model(model_dir, cfg, weights, lambda n: "F32")
    r = math.sqrt(2.5)
    lp0 = {0: 2 - math.log(math.exp(2) + 3), 1: -math.log(math.exp(2) + 3)}
    lse1 = math.log(math.exp(1 / r) + math.exp(3 / r) + 2)
    lp1 = {0: 1 / r - lse1, 1: 3 / r - lse1, 2: -lse1}
    requests = [
        {"id": 1, "context": [0], "continuation": [1]},  # pos 0 -> 1: not greedy
        {"id": 2, "context": [0], "continuation": [0]},  # pos 0 -> 0: greedy
        {"id": 3, "context": [0, 1], "continuation": [1]},  # pos 1 -> 1: greedy
        {"id": 4, "context": [0], "continuation": [1, 2]},  # pos 0 -> 1, pos 1 -> 2
    ]
    expected = {
        1: ([lp0[1]], False),
        2: ([lp0[0]], True),
        3: ([lp1[1]], True),
        4: ([lp0[1], lp1[2]], False),
    }
    return check_hand("hand_uniform_attention", model_dir, requests, expected, tmp)


def hand_case_rotary(tmp):
    """One layer, one head of dim 2 (one rotary pair, frequency 1 whatever theta is), q = k = v = o = I,
    MLP = 0, eps = 0. Token 0 embeds as e0, token 1 as e1; rmsnorm gives sqrt2 e0, sqrt2 e1.

    Fed [0, 1], position 1: q = R(1) n1 = sqrt2 (-sin 1, cos 1), keys k0 = n0 = sqrt2 (1, 0), k1 = R(1) n1.
    Scores /sqrt2: s0 = -sqrt2 sin 1, s1 = sqrt2. h = e1 + sqrt2 (p0, p1). A rotation the other way
    (sin with the opposite sign) would give s0 = +sqrt2 sin 1.
    Position 0: h = e0 + sqrt2 e0, normed to sqrt2 e0.
    lm_head rows: (1, 0), (0, 1), (0.5, 2).
    """
    cfg = base_config(
        hidden_size=2, intermediate_size=2, num_attention_heads=1, num_key_value_heads=1, num_hidden_layers=1,
        vocab_size=3, rms_norm_eps=0.0, max_position_embeddings=8, rope_theta=500000.0,
    )
    I2 = np.eye(2, dtype=np.float32)
    head = np.array([[1, 0], [0, 1], [0.5, 2]], np.float32)
    weights = {
        "model.embed_tokens.weight": np.array([[1, 0], [0, 1], [1, 1]], np.float32),
        "model.layers.0.input_layernorm.weight": np.ones(2, np.float32),
        "model.layers.0.self_attn.q_proj.weight": I2,
        "model.layers.0.self_attn.k_proj.weight": I2,
        "model.layers.0.self_attn.v_proj.weight": I2,
        "model.layers.0.self_attn.o_proj.weight": I2,
        "model.layers.0.post_attention_layernorm.weight": np.ones(2, np.float32),
        "model.layers.0.mlp.gate_proj.weight": np.zeros((2, 2), np.float32),
        "model.layers.0.mlp.up_proj.weight": np.zeros((2, 2), np.float32),
        "model.layers.0.mlp.down_proj.weight": np.zeros((2, 2), np.float32),
        "model.norm.weight": np.ones(2, np.float32),
        "lm_head.weight": head,
    }
    model_dir = os.path.join(tmp, "hand_rotary")
    save_model(model_dir, cfg, weights, lambda n: "F32")
    rt2 = math.sqrt(2)

    def logprobs(h):
        rms = math.sqrt((h[0] ** 2 + h[1] ** 2) / 2)
        n = (h[0] / rms, h[1] / rms)
        logits = [row[0] * n[0] + row[1] * n[1] for row in head.astype(np.float64)]
        lse = math.log(sum(math.exp(z) for z in logits))
        return [z - lse for z in logits]

    lp0 = logprobs((1 + rt2, 0.0))
    s0, s1 = -rt2 * math.sin(1.0), rt2
    p0 = math.exp(s0) / (math.exp(s0) + math.exp(s1))
    p1 = 1 - p0
    lp1 = logprobs((rt2 * p0, 1 + rt2 * p1))
    requests = [
        {"id": 10, "context": [0, 1], "continuation": [2]},
        {"id": 11, "context": [0], "continuation": [1, 0]},
    ]
    expected = {
        10: ([lp1[2]], int(np.argmax(lp1)) == 2),
        11: ([lp0[1], lp1[0]], int(np.argmax(lp0)) == 1 and int(np.argmax(lp1)) == 0),
    }
    return check_hand("hand_rotary", model_dir, requests, expected, tmp)


def check_hand(label, model_dir, requests, expected, tmp):
    output = answers_of(run_reference(model_dir, requests, tmp=tmp), label)
    if output is None:
        return
    worst = 0.0
    for a in output["answers"]:
        tokens, greedy = expected[a["id"]]
        diffs = [abs(x - y) for x, y in zip(a["tokenLogprobs"], tokens)] + [abs(a["logprob"] - sum(tokens))]
        worst = max(worst, max(diffs))
        check(len(a["tokenLogprobs"]) == len(tokens), f"{label} id {a['id']}: tokenLogprobs length")
        check(max(diffs) <= 1e-6, f"{label} id {a['id']}: {a['tokenLogprobs']} vs closed form {tokens}")
        check(a["isGreedy"] is greedy, f"{label} id {a['id']}: isGreedy {a['isGreedy']}, expected {greedy}")
    summary.append(f"{label:<26} {len(requests):>2} requests  max |diff| {worst:.2e}  (closed form)")


def error_cases(tmp, model_dir):
    """Bad inputs: non-zero exit, a message on stderr, nothing on stdout."""
    good = {"id": 1, "context": [1, 2], "continuation": [3]}
    cases = {
        "token out of range": [{"id": 1, "context": [1, 2], "continuation": [50]}],
        "negative token": [{"id": 1, "context": [-1], "continuation": [3]}],
        "empty continuation": [{"id": 1, "context": [1], "continuation": []}],
        "empty context": [{"id": 1, "context": [], "continuation": [3, 4]}],
        "too long": [{"id": 1, "context": [1] * 40, "continuation": [2, 3]}],
        "duplicate id": [good, good],
        "id not an integer": [{"id": "x", "context": [1], "continuation": [3]}],
    }
    passed = 0
    for name, requests in cases.items():
        proc = run_reference(model_dir, requests, tmp=tmp)
        ok = check(proc.returncode != 0, f"error case '{name}': exit status 0")
        ok &= check("error" in proc.stderr, f"error case '{name}': no message on stderr")
        ok &= check(proc.stdout == "", f"error case '{name}': wrote to stdout")
        passed += ok
    # A broken model directory: a weight missing from the file.
    broken = os.path.join(tmp, "broken")
    cfg = base_config(num_hidden_layers=1)
    weights = random_weights(cfg, np.random.default_rng(9))
    del weights["model.layers.0.mlp.up_proj.weight"]
    save_model(broken, cfg, weights, lambda n: "F32")
    proc = run_reference(broken, [good], tmp=tmp)
    ok = check(proc.returncode != 0 and "up_proj" in proc.stderr, "missing weight: not reported")
    # No weights at all.
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    with open(os.path.join(empty, "config.json"), "w") as f:
        json.dump(cfg, f)
    proc2 = run_reference(empty, [good], tmp=tmp)
    ok &= check(proc2.returncode != 0 and "safetensors" in proc2.stderr, "missing safetensors: not reported")
    # A truncated safetensors file.
    path = os.path.join(broken, "model.safetensors")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-10])
    proc3 = run_reference(broken, [good], tmp=tmp)
    ok &= check(proc3.returncode != 0 and "data_offsets" in proc3.stderr, "truncated safetensors: not reported")
    passed += ok
    summary.append(f"{'error exits':<26} {passed}/{len(cases) + 1} cases exit non-zero with a message")


def main():
    with tempfile.TemporaryDirectory(prefix="llama-ref-selftest-") as tmp:
        # 1. GQA (4 heads, 2 kv heads), untied, two shards + index; shard 1 BF16, shard 2 F32 with F16 norms.
        cfg = base_config()

        def shard(name):
            return "model-00001-of-00002.safetensors" if (
                name.startswith("model.embed") or name.startswith("model.layers.0.")
            ) else "model-00002-of-00002.safetensors"

        def dtype(name):
            if shard(name).startswith("model-00001"):
                return "BF16"
            return "F16" if name.endswith("norm.weight") else "F32"

        first = random_case(tmp, "gqa_sharded_bf16_f32_f16", cfg, 1, dtype, shard, extra=("--threads", "1"))

        # 2. Tied embeddings, one file, MHA by default (no num_key_value_heads), default rope_theta, all BF16.
        cfg2 = base_config(num_key_value_heads=None, rope_theta=None, tie_word_embeddings=True)
        # (embedding std 0.4: as the LM head it then gives logits of std ~2, log-probs of a few units)
        random_case(tmp, "tied_mha_defaults_bf16", cfg2, 2, lambda n: "BF16", stdin_requests=True, embed_std=0.4)

        # 3. head_dim != hidden / heads, q/k/v/o and MLP biases, llama3 rope scaling, GQA 4:1, 3 layers.
        cfg3 = base_config(
            num_key_value_heads=1, head_dim=16, attention_bias=True, mlp_bias=True, num_hidden_layers=3,
            rope_theta=100.0,
            rope_scaling={
                "rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
        )
        random_case(tmp, "headdim_bias_llama3rope", cfg3, 3, lambda n: "F64" if n.endswith(".bias") else "F32")

        # 4. Linear rope scaling (old "type" key), rotary angles in float64.
        cfg4 = base_config(rope_scaling={"type": "linear", "factor": 2.0})
        random_case(tmp, "linear_rope_float64", cfg4, 4, lambda n: "F32", extra=("--rope-dtype", "float64"))

        # 5. Closed forms.
        hand_case_uniform_attention(tmp)
        hand_case_rotary(tmp)

        # 6. Deterministic, and --out writes the same JSON as stdout.
        if first is not None:
            model_dir, requests, stdout = first
            out_path = os.path.join(tmp, "answers.json")
            proc = run_reference(model_dir, requests, extra=("--threads", "1", "--out", out_path), tmp=tmp)
            same = proc.returncode == 0 and proc.stdout == "" and open(out_path).read() == stdout
            check(same, "a second run (with --out) did not reproduce the first byte for byte")
            # Each request alone: the answer for a request does not depend on the others in the file.
            alone = answers_of(run_reference(model_dir, requests[3:4], extra=("--threads", "1"), tmp=tmp), "alone")
            together = json.loads(stdout)["answers"][3]
            check(alone is not None and alone["answers"][0] == together, "answer changed with the other requests")
            summary.append(f"{'determinism':<26} identical bytes on rerun, --out, request alone == in batch")

            error_cases(tmp, model_dir)

    for line in summary:
        print(line)
    if failures:
        print(f"selftest_llama_reference: {len(failures)} FAILED", file=sys.stderr)
        return 1
    print(
        f"selftest_llama_reference: all checks passed (log-prob tolerance {TOLERANCE:g} float32,"
        f" {TOLERANCE_F64:g} float64)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
