#!/usr/bin/env python3
"""An optibench system under test (protocol version 1, see README.md): answers log-likelihood requests with
the LLaMA of llama.py.

The organizer's harness writes JSON lines to our stdin (load, pass, close) and reads ours from stdout
(hello, loaded, answers, bye, error). It owns the data, the tokenizer and the clock; we only answer.

Settings (environment): SUT_DEVICE (default cuda when available, else cpu), SUT_DTYPE (fp32, fp16, bf16;
default fp32), SUT_BATCH_SIZE (requests per forward, default 16), SUT_COMPILE=1 (torch.compile the
transformer, PyTorch >= 2.0).
"""

import os
import sys


def _claim_stdout():
    """Keeps the real stdout for protocol lines and points fd 1 at stderr for everything else.

    A single stray line on stdout (a library's print, a progress bar, C++ code writing to fd 1) would end the
    run as "not a protocol line". Redirecting at the file-descriptor level catches all of them, Python's and
    native code's alike; it has to happen before anything else is imported, since imports may print."""
    real = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return real


_PROTOCOL_OUT = _claim_stdout()

import json  # noqa: E402
import math  # noqa: E402
import traceback  # noqa: E402


def send(message):
    # allow_nan=False: NaN is not JSON, and the harness would refuse it anyway; better to fail here, loudly.
    _PROTOCOL_OUT.write(json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n")
    _PROTOCOL_OUT.flush()


def log(message):
    print(f"[sut] {message}", file=sys.stderr, flush=True)


# Our modules sit beside this file, wherever it is started from (the harness starts it from the repository root).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import torch
    import llama
    from safetensors_io import Checkpoint
except Exception as e:  # no torch for this python, or an edit that broke a module: say so in the protocol
    traceback.print_exc(file=sys.stderr)
    send({"type": "error", "message": f"{type(e).__name__} while importing, with {sys.executable}: {e}"[:2000]})
    sys.exit(1)

NAME = "optibench-python-template"
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class ProtocolError(Exception):
    """A message we cannot act on."""


class Settings:
    def __init__(self):
        env = os.environ
        self.device = env.get("SUT_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"SUT_DEVICE={self.device}, but this PyTorch ({torch.__version__}) sees no CUDA device")
        self.dtype_name = env.get("SUT_DTYPE") or "fp32"
        if self.dtype_name not in DTYPES:
            raise ValueError(f"SUT_DTYPE={self.dtype_name!r}: expected one of {', '.join(DTYPES)}")
        self.dtype = DTYPES[self.dtype_name]
        batch = env.get("SUT_BATCH_SIZE") or "16"
        if not batch.isdigit() or int(batch) < 1:
            raise ValueError(f"SUT_BATCH_SIZE={batch!r}: expected a positive integer")
        self.batch_size = int(batch)
        self.compile = env.get("SUT_COMPILE") == "1"


class Scorer:
    """The loaded model and how a pass is run on it."""

    def __init__(self, settings, model_dir, compile_it):
        self.settings = settings
        llama.dtype_runs(settings.dtype, settings.device)
        self.config = llama.Config(model_dir)
        self.model = llama.Llama(self.config, Checkpoint(model_dir), settings.dtype, settings.device).eval()
        self.forward = self.model.hidden_states
        if compile_it:
            # Compiles lazily, at the first batch of each new shape: the warm-up pass has the real lengths,
            # so with the same batching the measured passes meet no new shape (and pay no compile time).
            self.forward = torch.compile(self.model.hidden_states)

    def check(self, request):
        """Raises ProtocolError for a request this model cannot answer as asked."""
        if not isinstance(request, dict):
            raise ProtocolError(f"a request is not an object: {request!r:.200}")
        rid, context, continuation = request.get("id"), request.get("context"), request.get("continuation")
        if not isinstance(rid, int) or isinstance(rid, bool):
            raise ProtocolError(f"request id {rid!r:.100} is not an integer")
        for name, tokens in (("context", context), ("continuation", continuation)):
            if not isinstance(tokens, list) or not tokens:
                raise ProtocolError(f"request {rid}: {name} is not a non-empty list of token ids")
            if not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < self.config.vocab_size for t in tokens):
                raise ProtocolError(f"request {rid}: {name} holds something other than token ids below {self.config.vocab_size}")
        if len(context) + len(continuation) - 1 > self.config.max_position_embeddings:
            raise ProtocolError(f"request {rid}: {len(context)} + {len(continuation)} tokens exceed the model's positions")

    def run_pass(self, number, requests):
        """Answers every request, one `answers` line per batch as it finishes."""
        for r in requests:
            self.check(r)
        # Longest first: similar lengths share a batch (little padding), and an out-of-memory shows at once.
        ordered = sorted(requests, key=lambda r: len(r["context"]) + len(r["continuation"]), reverse=True)
        size = self.settings.batch_size
        for start in range(0, len(ordered), size):
            batch = ordered[start : start + size]
            send({"type": "answers", "pass": number, "answers": self.score_batch(batch)})

    def score_batch(self, batch):
        device = self.settings.device
        seqs = [r["context"] + r["continuation"] for r in batch]
        width = max(len(s) for s in seqs) - 1
        # The model reads (context + continuation)[:-1]; padding on the right (token 0, any id would do).
        ids = torch.tensor([s[:-1] + [0] * (width - len(s) + 1) for s in seqs], dtype=torch.long)
        # Continuation token j of a row is predicted by the position just before it.
        rows, positions, targets = [], [], []
        for i, r in enumerate(batch):
            first = len(r["context"]) - 1
            for j, token in enumerate(r["continuation"]):
                rows.append(i)
                positions.append(first + j)
                targets.append(token)
        with torch.inference_mode():
            hidden = self.forward(ids.to(device))
            logprobs, greedy = self.model.score(
                hidden,
                torch.tensor(rows, device=device),
                torch.tensor(positions, device=device),
                torch.tensor(targets, device=device),
            )
        # Summed in float64 (Python floats) on the CPU: the sum's own rounding stays far below the model's.
        sums, all_greedy = [0.0] * len(batch), [True] * len(batch)
        for i, lp, g in zip(rows, logprobs.double().cpu().tolist(), greedy.cpu().tolist()):
            sums[i] += lp
            all_greedy[i] = all_greedy[i] and g
        answers = []
        for r, lp, g in zip(batch, sums, all_greedy):
            if not math.isfinite(lp):
                raise RuntimeError(f"request {r['id']}: the log-prob is {lp} (an overflow in {self.settings.dtype_name}?)")
            answers.append({"id": r["id"], "logprob": lp, "greedy": g})
        return answers


def serve():
    settings = Settings()
    if not settings.compile:
        compiled = "off"
    elif llama.HAS_COMPILE:
        compiled = "on"
    else:
        compiled = f"requested, but torch {torch.__version__} has no torch.compile (it needs >= 2.0): running eager"
        log(f"SUT_COMPILE=1: {compiled}")
    about = {
        "framework": f"torch {torch.__version__}",
        "python": sys.version.split()[0],
        "device": settings.device,
        "dtype": settings.dtype_name,
        "batchSize": settings.batch_size,
        # Which attention kernel runs: scaled_dot_product_attention only exists from torch 2.0 on.
        "attention": "scaled_dot_product_attention" if llama.HAS_SDPA else "matmul+softmax",
        "sdpaAvailable": llama.HAS_SDPA,
        "compile": compiled,
        "compileAvailable": llama.HAS_COMPILE,
    }
    if settings.device.startswith("cuda") and torch.cuda.is_available():
        about["gpu"] = torch.cuda.get_device_name(torch.device(settings.device))
    send({"type": "hello", "protocol": "optibench-sut", "version": 1, "name": NAME, "about": about})

    scorer = None
    for raw in sys.stdin.buffer:
        try:
            message = json.loads(raw)
        except ValueError as e:
            raise ProtocolError(f"not a JSON line ({e}): {raw[:200]!r}") from e
        op = message.get("op") if isinstance(message, dict) else None
        if op == "load":
            model_dir = message.get("modelDir") or os.environ.get("OPTIBENCH_MODEL")
            if not isinstance(model_dir, str):
                raise ProtocolError("load without a modelDir (and OPTIBENCH_MODEL is not set)")
            log(f"loading {model_dir} on {settings.device} in {settings.dtype_name}")
            scorer = Scorer(settings, model_dir, compiled == "on")
            send({"type": "loaded", "about": {"dtype": settings.dtype_name, "weightsBytes": scorer.model.weight_bytes()}})
        elif op == "pass":
            if scorer is None:
                raise ProtocolError("a pass before load")
            number, requests = message.get("pass"), message.get("requests")
            if not isinstance(number, int) or not isinstance(requests, list):
                raise ProtocolError("a pass needs a number `pass` and a list `requests`")
            scorer.run_pass(number, requests)
        elif op == "close":
            send({"type": "bye"})
            return
        else:
            raise ProtocolError(f"unknown message {raw[:200]!r}")
    # End of stdin without close: the harness has gone; nothing is left to answer.


def main():
    try:
        serve()
    except Exception as e:  # every failure is reported in the protocol, then we stop
        traceback.print_exc(file=sys.stderr)
        message = str(e) if isinstance(e, ProtocolError) else f"{type(e).__name__}: {e}"
        try:
            send({"type": "error", "message": message[:2000]})
        except (OSError, ValueError):
            pass  # the harness has closed our stdout: the exit status is all it will see
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
