"""The worker's protocol loop (see ../PROTOCOL.md): JSON lines on stdin, JSON lines on stdout, logs on stderr.

Rank 0 (the only process without torchrun) reads requests, checks them, and answers. Under torchrun each
checked request is also sent to the other ranks with broadcast_object_list, every rank runs it on its shard,
and only rank 0 writes to stdout. A request that fails its checks is answered with an error and nothing is
broadcast; a failure while running it under torchrun ends the process (torchrun then stops every rank), since
the other ranks may be waiting in a collective that will never complete.
"""

import base64
import os
import platform
import sys
import traceback

import torch

from . import hf
from .llama import HAS_SDPA, LlamaForScoring
from .tensor_parallel import ParallelContext, init_from_environment
from .weights import WeightError, WeightStore

PROTOCOL = 1

_IN_DTYPES = {"int64": (torch.int64, 8), "bool": (torch.bool, 1)}


class RequestError(Exception):
    """A request refused before anything ran; `kind` is bad_request or load."""

    def __init__(self, message, kind="bad_request"):
        super().__init__(message)
        self.kind = kind


class Channel:
    """stdout reserved for protocol lines: fd 1 is pointed at stderr, so a stray print (ours, a library's, or
    C code writing to fd 1) lands in the logs instead of corrupting the protocol."""

    def __init__(self, speaks):
        fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._out = os.fdopen(fd, "w", encoding="utf-8") if speaks else None
        if not speaks:
            os.close(fd)

    def send(self, message):
        if self._out is None:
            return
        import json

        self._out.write(json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n")
        self._out.flush()


def log(rank, message):
    sys.stderr.write(f"optibench-worker[{rank}]: {message}\n")
    sys.stderr.flush()


def torch_version_tuple():
    parts = []
    for piece in torch.__version__.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _peak_rss_bytes():
    """This process's peak resident memory so far (Linux reports kilobytes, macOS bytes); 0 if unknown."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return 0
    return peak if sys.platform == "darwin" else peak * 1024


def _cores():
    """Physical cores among the CPUs this process may run on: what "one thread per core" means here, as in
    ONNX Runtime's default. Hyperthreads of one core count once; without the sysfs topology, each CPU counts."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/core_id") as core, open(f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id") as package:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def _decode(name, spec):
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data"}:
        raise RequestError(f"input {name}: expected {{dtype, shape, data}}")
    if spec["dtype"] not in _IN_DTYPES:
        raise RequestError(f"input {name}: dtype {spec['dtype']!r} (int64 or bool expected)")
    shape = spec["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(f"input {name}: bad shape {shape!r}")
    dtype, size = _IN_DTYPES[spec["dtype"]]
    try:
        data = base64.b64decode(spec["data"], validate=True)
    except (ValueError, TypeError) as e:
        raise RequestError(f"input {name}: data is not base64: {e}") from e
    count = 1
    for d in shape:
        count *= d
    if len(data) != count * size:
        raise RequestError(f"input {name}: {len(data)} bytes for shape {shape} of {spec['dtype']}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape)


def _encode(tensor):
    tensor = tensor.detach().contiguous().cpu()
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    names = {torch.float32: "float32", torch.uint8: "uint8"}
    try:
        raw = tensor.numpy().tobytes()
    except (ImportError, RuntimeError):  # no numpy: slower, same bytes
        import array

        raw = bytes(tensor.flatten().tolist()) if tensor.dtype == torch.uint8 else array.array("f", tensor.flatten().tolist()).tobytes()
    return {"dtype": names[tensor.dtype], "shape": list(tensor.shape), "data": base64.b64encode(raw).decode("ascii")}


def _check_keys(where, given, allowed, kind="load"):
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise RequestError(f"{where}: {unknown[0]!r} is not supported by the PyTorch worker (a plugin for another backend?)", kind)


def _enum(where, value, allowed):
    if value not in allowed:
        raise RequestError(f"{where} must be one of {', '.join(allowed)}, not {value!r}", "load")
    return value


class Worker:
    def __init__(self, rank, world, channel):
        self.rank, self.world, self.channel = rank, world, channel
        self.model = None
        self.fn = None
        self.facts = None

    # -- checks (rank 0, before anything is broadcast) ---------------------------------------------

    def prepare(self, request):
        op = request.get("op")
        if op == "load":
            return self._prepare_load(request)
        if op == "forward":
            if self.model is None:
                raise RequestError("forward before load")
            _check_keys("forward request", request, ("id", "op", "inputs"), "bad_request")
            return {"op": "forward", "id": request["id"], "inputs": self._prepare_inputs(request.get("inputs"))}
        if op in ("shapes", "stats", "close"):
            if op == "shapes" and self.model is None:
                raise RequestError("shapes before load")
            return {"op": op, "id": request["id"]}
        raise RequestError(f"unknown op {op!r} (load, forward, shapes, stats, close)")

    def _prepare_load(self, request):
        if self.model is not None:
            raise RequestError("the model is already loaded")
        _check_keys("load request", request, ("id", "op", "modelDir", "dtype", "device", "threads", "extra"), "bad_request")
        model_dir = request.get("modelDir")
        if not isinstance(model_dir, str) or not os.path.isdir(model_dir):
            raise RequestError(f"modelDir {model_dir!r} is not a directory", "load")
        dtype = _enum("dtype", request.get("dtype", "fp32"), ("fp32", "fp16", "bf16"))
        device = _enum("device", request.get("device", "cpu"), ("cpu", "cuda"))
        threads = request.get("threads", 0)
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise RequestError("threads must be a non-negative integer", "load")
        extra = request.get("extra", {})
        if not isinstance(extra, dict):
            raise RequestError("extra must be an object", "load")
        _check_keys("build setting", extra, ("treeMask", "compile", "quantization", "tensorParallel"))
        have = torch.__version__
        plan = {"op": "load", "id": request["id"], "modelDir": model_dir, "dtype": dtype, "device": device, "threads": threads}

        if device == "cuda" and not torch.cuda.is_available():
            raise RequestError(f"device cuda: this PyTorch ({have}) sees no CUDA device (torch.cuda.is_available() is false)", "load")
        if dtype == "fp16" and device == "cpu":
            try:
                torch.nn.functional.linear(torch.ones(1, 1, dtype=torch.float16), torch.ones(1, 1, dtype=torch.float16))
            except RuntimeError:
                raise RequestError(f"fp16 on the CPU: this PyTorch ({have}) has no half-precision matmul on the CPU; use fp32 or bf16 there, or fp16 on cuda", "load") from None

        compile_ = extra.get("compile")
        if compile_ is not None:
            if not isinstance(compile_, dict):
                raise RequestError("build setting compile must be an object", "load")
            _check_keys("build setting compile", compile_, ("mode", "dynamic"))
            if not hasattr(torch, "compile") or torch_version_tuple() < (2, 0):
                raise RequestError(f"torch-compile needs PyTorch >= 2.0; this worker has {have}", "load")
            mode = _enum("compile.mode", compile_.get("mode", "default"), ("default", "reduce-overhead", "max-autotune"))
            dynamic = compile_.get("dynamic")
            if dynamic is not None and not isinstance(dynamic, bool):
                raise RequestError("compile.dynamic must be true or false", "load")
            plan["compile"] = {"mode": mode, "dynamic": dynamic}

        quant = extra.get("quantization")
        if quant is not None:
            if not isinstance(quant, dict):
                raise RequestError("build setting quantization must be an object", "load")
            _check_keys("build setting quantization", quant, ("method", "lmHead"))
            _enum("quantization.method", quant.get("method"), ("int8-dynamic",))
            if device != "cpu":
                raise RequestError(
                    "int8-dynamic quantization runs on the CPU only: torch.ao.quantization.quantize_dynamic has no CUDA kernels "
                    "(weight-only int8 on GPUs needs a library such as bitsandbytes, which this worker does not use)",
                    "load",
                )
            if dtype != "fp32":
                raise RequestError(f"int8-dynamic quantization starts from an fp32 model; backend.dtype is {dtype}", "load")
            engines = torch.backends.quantized.supported_engines
            engine = next((e for e in ("x86", "fbgemm", "onednn", "qnnpack") if e in engines), None)
            if engine is None:
                raise RequestError(f"this PyTorch ({have}) has no quantized CPU engine (supported: {engines})", "load")
            plan["quantization"] = {"method": "int8-dynamic", "lmHead": bool(quant.get("lmHead", False)), "engine": engine}

        tp = extra.get("tensorParallel")
        if tp is not None:
            if not isinstance(tp, dict):
                raise RequestError("build setting tensorParallel must be an object", "load")
            _check_keys("build setting tensorParallel", tp, ("ranks", "embeddings", "backend"))
            if tp.get("ranks") != self.world:
                raise RequestError(f"tensorParallel.ranks is {tp.get('ranks')!r} but the worker runs {self.world} process(es)", "load")
            plan["tensorParallel"] = {
                "ranks": self.world,
                "embeddings": _enum("tensorParallel.embeddings", tp.get("embeddings", "replicated"), ("replicated", "sharded")),
                "backend": torch.distributed.get_backend() if self.world > 1 else "none",
            }
        elif self.world > 1:
            raise RequestError(f"the worker runs {self.world} ranks but the build has no tensorParallel setting", "load")

        wanted = os.environ.get("OPTIBENCH_PYTORCH_IMPLEMENTATION", "auto")
        _enum("OPTIBENCH_PYTORCH_IMPLEMENTATION", wanted, ("auto", "builtin", "transformers"))
        transformers = hf.version() if wanted != "builtin" else None
        if wanted == "transformers" and transformers is None:
            raise RequestError("OPTIBENCH_PYTORCH_IMPLEMENTATION=transformers, but transformers cannot be imported", "load")
        if wanted == "transformers" and tp is not None:
            raise RequestError("tensor parallelism runs the built-in forward, not transformers", "load")
        plan["implementation"] = "transformers" if transformers is not None and tp is None else "builtin"
        return plan

    def _prepare_inputs(self, inputs):
        if not isinstance(inputs, dict):
            raise RequestError("forward: inputs must be an object of named tensors")
        masks = [name for name in ("attention_mask", "tree_mask") if name in inputs]
        expected = {"input_ids", "position_ids", "score_positions", "target_ids"} | set(masks)
        if len(masks) != 1 or set(inputs) != expected:
            raise RequestError(
                "forward: inputs must be input_ids, position_ids, score_positions, target_ids and one of attention_mask or tree_mask; "
                f"got {sorted(inputs)}"
            )
        t = {name: _decode(name, spec) for name, spec in inputs.items()}
        want = {"input_ids": "int64", "position_ids": "int64", "attention_mask": "int64", "tree_mask": "bool", "score_positions": "int64", "target_ids": "int64"}
        for name, tensor in t.items():
            if inputs[name]["dtype"] != want[name]:
                raise RequestError(f"forward: {name} must be {want[name]}")
        ids = t["input_ids"]
        if ids.dim() != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
            raise RequestError(f"forward: input_ids must be [rows, seq] with rows, seq >= 1, not {list(ids.shape)}")
        rows, seq = ids.shape
        scored = t["score_positions"].shape
        shapes = {
            "position_ids": [rows, seq],
            "attention_mask": [rows, seq],
            "tree_mask": [rows, seq, seq],
            "score_positions": [rows, scored[1] if len(scored) == 2 else -1],
            "target_ids": [rows, scored[1] if len(scored) == 2 else -1],
        }
        for name, shape in shapes.items():
            if name in t and list(t[name].shape) != shape:
                hint = " (this worker has no key/value cache: the mask is as wide as the sequence)" if name == "attention_mask" else ""
                raise RequestError(f"forward: {name} has shape {list(t[name].shape)}, expected {shape}{hint}")
        config = self.facts["config"]

        def within(name, high):
            tensor = t[name]
            if tensor.numel() and (int(tensor.min()) < 0 or int(tensor.max()) >= high):
                raise RequestError(f"forward: {name} must lie in [0, {high})")

        within("input_ids", config["vocabSize"])
        within("target_ids", config["vocabSize"])
        within("position_ids", config["maxLength"])
        within("score_positions", seq)
        return t

    # -- running (every rank) ----------------------------------------------------------------------

    def execute(self, plan, progress):
        op = plan["op"]
        if op == "load":
            return self._load(plan, progress)
        if op == "forward":
            return self._forward(plan["inputs"])
        if op == "shapes":
            return {"ranks": self._gather(self.model.weight_shapes())}
        if op == "stats":
            return {"peakRssBytes": self._gather(_peak_rss_bytes())}
        if op == "close":
            return {}
        raise AssertionError(op)

    def _gather(self, value):
        """Every rank's `value`, in rank order, on rank 0 (None elsewhere)."""
        if self.world == 1:
            return [value]
        out = [None] * self.world if self.rank == 0 else None
        torch.distributed.gather_object(value, out, dst=0)
        return out

    def _load(self, plan, progress):
        if plan["threads"] > 0:
            torch.set_num_threads(plan["threads"])
        elif self.world == 1:
            # 0 is one thread per core, as ONNX Runtime takes it: PyTorch's own default is not (Debian's
            # torch starts with 1). Under torchrun each rank keeps the 1 thread torchrun gives it.
            torch.set_num_threads(_cores())
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[plan["dtype"]]
        device = plan["device"]
        if device == "cuda" and self.world > 1:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', self.rank))}"
        tp = plan.get("tensorParallel")
        par = ParallelContext(self.rank, self.world, tp["embeddings"]) if tp else ParallelContext()
        progress("reading weights")
        if plan["implementation"] == "transformers":
            model = hf.HfScorer(plan["modelDir"], dtype, device)
        else:
            try:
                model = LlamaForScoring(plan["modelDir"], WeightStore(plan["modelDir"]), dtype, device, par, progress)
            except (WeightError, ValueError) as e:
                raise RequestError(str(e), "load") from e
        model.eval()
        quant = plan.get("quantization")
        if quant:
            progress("quantizing the linear layers (int8, dynamic)")
            torch.backends.quantized.engine = quant["engine"]
            qconfig = torch.ao.quantization.default_dynamic_qconfig
            spec = {
                name: qconfig
                for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear) and (quant["lmHead"] or not name.endswith("lm_head"))
            }
            model = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8)
        fn = model
        comp = plan.get("compile")
        if comp:
            kwargs = {"mode": comp["mode"]}
            if comp["dynamic"] is not None:
                kwargs["dynamic"] = comp["dynamic"]
            fn = torch.compile(model, **kwargs)
        self.model, self.fn = model, fn
        shapes = model.weight_shapes()
        weight_bytes = self._gather(sum(entry[1] for entry in shapes.values()))
        config = getattr(model, "config", None)
        if config is not None:
            max_length, vocab = config.max_position_embeddings, config.vocab_size
        else:
            max_length, vocab = model.model.config.max_position_embeddings, model.model.config.vocab_size
        self.facts = {"config": {"maxLength": max_length, "vocabSize": vocab}}
        log(self.rank, f"loaded ({plan['implementation']}, {plan['dtype']}, {device}, {len(shapes)} weights, {sum(e[1] for e in shapes.values())} bytes)")
        return {
            "maxLength": max_length,
            "vocabSize": vocab,
            "implementation": plan["implementation"],
            "dtype": plan["dtype"],
            "device": device if self.world == 1 else plan["device"],
            "threads": torch.get_num_threads(),
            "sdpa": HAS_SDPA and plan["implementation"] == "builtin",
            "compile": comp or None,
            "quantization": quant or None,
            "tensorParallel": tp or None,
            "weightBytes": weight_bytes,
            "peakRssBytesAfterLoad": self._gather(_peak_rss_bytes()),
        }

    def _forward(self, t):
        from .llama import allowed_mask

        allowed = allowed_mask(t["position_ids"], t.get("attention_mask"), t.get("tree_mask"))
        device = self.model.cos.device if hasattr(self.model, "cos") else next(self.model.parameters()).device
        args = [x.to(device) for x in (t["input_ids"], t["position_ids"], allowed, t["score_positions"], t["target_ids"])]
        # no_grad rather than inference_mode: gloo completes collectives on its own threads, outside
        # inference mode, and may not write into inference tensors there.
        with torch.no_grad():
            logprobs, greedy = self.fn(*args)
        return {"logprobs": _encode(logprobs.float()), "greedy": _encode(greedy)}


def serve(argv):
    if sys.byteorder != "little":
        sys.stderr.write("optibench-worker: the protocol's tensors are little-endian; this machine is not\n")
        return 1
    backend = None
    if "--dist-backend" in argv:
        backend = argv[argv.index("--dist-backend") + 1]
    world = int(os.environ.get("WORLD_SIZE", "1")) if backend else 1
    rank = 0
    if backend:
        rank, world = init_from_environment(backend)
    channel = Channel(speaks=rank == 0)
    worker = Worker(rank, world, channel)
    if rank == 0:
        channel.send(
            {
                "type": "ready",
                "protocol": PROTOCOL,
                "torch": torch.__version__,
                "python": platform.python_version(),
                "cuda": torch.cuda.is_available(),
                "sdpa": HAS_SDPA,
                "compile": hasattr(torch, "compile"),
                "transformers": hf.version() if os.environ.get("OPTIBENCH_PYTORCH_IMPLEMENTATION") != "builtin" else None,
                "ranks": world,
                "pid": os.getpid(),
            }
        )
        return _lead(worker, channel)
    return _follow(worker)


def _lead(worker, channel):
    import json

    distributed = worker.world > 1
    for raw in iter(sys.stdin.buffer.readline, b""):
        line = raw.strip()
        if not line:
            continue
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            channel.send({"id": None, "ok": False, "kind": "bad_request", "error": f"not a JSON line: {e}"})
            continue
        rid = request.get("id") if isinstance(request, dict) else None
        if not isinstance(rid, int) or isinstance(rid, bool):
            channel.send({"id": None, "ok": False, "kind": "bad_request", "error": "a request is an object with an integer id"})
            continue

        def progress(message, rid=rid):
            channel.send({"id": rid, "type": "progress", "message": message})

        try:
            plan = worker.prepare(request)
        except RequestError as e:
            channel.send({"id": rid, "ok": False, "kind": e.kind, "error": str(e)})
            continue
        if distributed:
            torch.distributed.broadcast_object_list([plan], src=0)
        try:
            result = worker.execute(plan, progress)
        except Exception as e:  # noqa: BLE001 - every failure is answered, with its traceback in the logs
            traceback.print_exc()
            kind = e.kind if isinstance(e, RequestError) else "load" if plan["op"] == "load" else "runtime"
            message = str(e) if isinstance(e, RequestError) else f"{type(e).__name__}: {e}"
            channel.send({"id": rid, "ok": False, "kind": kind, "error": message})
            if distributed:
                # The other ranks may be waiting in a collective: end the process, torchrun stops the rest.
                sys.stderr.flush()
                os._exit(1)
            continue
        channel.send({"id": rid, "ok": True, "result": result})
        if plan["op"] == "close":
            break
    else:
        # stdin closed without a close request (optibench went away): stop the other ranks too.
        if distributed:
            torch.distributed.broadcast_object_list([{"op": "close", "id": None}], src=0)
    if distributed:
        torch.distributed.destroy_process_group()
    return 0


def _follow(worker):
    while True:
        box = [None]
        torch.distributed.broadcast_object_list(box, src=0)
        plan = box[0]
        try:
            worker.execute(plan, lambda message: None)
        except Exception:  # noqa: BLE001
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        if plan["op"] == "close":
            break
    torch.distributed.destroy_process_group()
    return 0
