"""Reading a Hugging Face LLaMA directory's safetensors, one tensor (or one slice of one) at a time.

Each file is memory-mapped and a tensor is a view of its bytes until it is copied, so a rank of a
tensor-parallel run copies only its shard: the rest of the checkpoint is never in memory. Written for the
worker (no `safetensors` package needed); F32, F16, BF16 and F64 tensors.
"""

import json
import mmap
import os
import struct

import torch

# safetensors dtype -> (torch dtype, bytes per element)
_DTYPES = {
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "F64": (torch.float64, 8),
}


class WeightError(Exception):
    """The checkpoint is missing, unreadable or inconsistent."""


class SafetensorsFile:
    def __init__(self, path):
        self.path = path
        try:
            size = os.path.getsize(path)
            self._file = open(path, "rb")
            head = self._file.read(8)
            if len(head) != 8:
                raise WeightError(f"{path}: too short for a safetensors file")
            (header_len,) = struct.unpack("<Q", head)
            if header_len > size - 8:
                raise WeightError(f"{path}: header length {header_len} exceeds the file size {size}")
            header = json.loads(self._file.read(header_len).decode("utf-8"))
        except OSError as e:
            raise WeightError(f"cannot read {path}: {e}") from e
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WeightError(f"{path}: the header is not valid JSON: {e}") from e
        if not isinstance(header, dict):
            raise WeightError(f"{path}: the header is not a JSON object")
        self._data_start = 8 + header_len
        data_size = size - self._data_start
        self.entries = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            dtype = entry.get("dtype") if isinstance(entry, dict) else None
            shape = entry.get("shape") if isinstance(entry, dict) else None
            offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
            if dtype not in _DTYPES:
                raise WeightError(f"{path}: tensor {name!r} has dtype {dtype!r} (F32, F16, BF16 or F64 expected)")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise WeightError(f"{path}: tensor {name!r} has a bad shape {shape!r}")
            count = 1
            for d in shape:
                count *= d
            if (
                not isinstance(offsets, list)
                or len(offsets) != 2
                or not all(isinstance(o, int) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size
                or offsets[1] - offsets[0] != count * _DTYPES[dtype][1]
            ):
                raise WeightError(f"{path}: tensor {name!r} has bad data_offsets {offsets!r}")
            self.entries[name] = (dtype, tuple(shape), offsets[0], count)
        # Copy-on-write: torch.frombuffer wants a writable buffer; nothing is ever written back to the file.
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY) if size > 0 else None

    def tensor(self, name, rows=None, cols=None):
        """The stored tensor (in its stored dtype), or the slice rows=(start, length) / cols=(start, length)
        of a matrix. Only the slice is copied out of the mapping."""
        dtype, shape, begin, count = self.entries[name]
        torch_dtype = _DTYPES[dtype][0]
        if count == 0:
            view = torch.empty(shape, dtype=torch_dtype)
        else:
            view = torch.frombuffer(self._map, dtype=torch_dtype, count=count, offset=self._data_start + begin).view(shape)
        if rows is not None:
            view = view.narrow(0, rows[0], rows[1])
        if cols is not None:
            view = view.narrow(1, cols[0], cols[1])
        return view.clone()


class WeightStore:
    """Every tensor of a model directory: model.safetensors, or shards listed in model.safetensors.index.json."""

    def __init__(self, model_dir):
        single = os.path.join(model_dir, "model.safetensors")
        index = os.path.join(model_dir, "model.safetensors.index.json")
        self._where = {}
        if os.path.isfile(single):
            st = SafetensorsFile(single)
            for name in st.entries:
                self._where[name] = st
        elif os.path.isfile(index):
            try:
                with open(index, "r", encoding="utf-8") as f:
                    weight_map = json.load(f).get("weight_map")
            except (OSError, json.JSONDecodeError, AttributeError) as e:
                raise WeightError(f"cannot read {index}: {e}") from e
            if not isinstance(weight_map, dict):
                raise WeightError(f"{index}: no weight_map object")
            shards = {}
            for name, shard in weight_map.items():
                if not isinstance(shard, str) or os.path.basename(shard) != shard:
                    raise WeightError(f"{index}: bad shard name {shard!r} for {name!r}")
                if shard not in shards:
                    shards[shard] = SafetensorsFile(os.path.join(model_dir, shard))
                if name not in shards[shard].entries:
                    raise WeightError(f"{index}: {name!r} is mapped to {shard}, which does not hold it")
                self._where[name] = shards[shard]
        else:
            raise WeightError(f"{model_dir}: neither model.safetensors nor model.safetensors.index.json")

    def __contains__(self, name):
        return name in self._where

    def get(self, name, shape, rows=None, cols=None):
        """Tensor `name`, checked to have `shape`, or its rows/cols slice (see SafetensorsFile.tensor)."""
        if name not in self._where:
            raise WeightError(f"weight {name!r} is missing")
        stored = self._where[name].entries[name][1]
        if tuple(stored) != tuple(shape):
            raise WeightError(f"weight {name!r} has shape {list(stored)}, expected {list(shape)}")
        return self._where[name].tensor(name, rows, cols)
