"""Reads a Hugging Face checkpoint's safetensors files with nothing but the standard library and torch.

The format: 8 bytes (little-endian u64) giving the header's length, the header (JSON: for each tensor its
dtype, shape and [begin, end) byte range counted from the end of the header), then the raw little-endian
data. A big model comes as shards listed in model.safetensors.index.json ({"weight_map": {name: file}}).

Files are memory-mapped, so a tensor is read from disk only when it is copied to its device and dtype: the
whole checkpoint is never in memory at once. (The `safetensors` package does the same; this file exists so
the template needs nothing installed but torch.)
"""

import json
import mmap
import os
import struct
import sys
import warnings

import torch

# safetensors dtype -> (torch dtype, bytes per element)
DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2), "F64": (torch.float64, 8)}


class CheckpointError(Exception):
    """The model directory is missing a file, or a file is not what its header says."""


class SafetensorsFile:
    def __init__(self, path):
        if sys.byteorder != "little":
            # torch.frombuffer reads in the machine's byte order; the data on disk is little-endian.
            raise CheckpointError("this reader assumes a little-endian machine")
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                prefix = f.read(8)
                if len(prefix) != 8:
                    raise CheckpointError(f"{path}: too short to be a safetensors file")
                (header_len,) = struct.unpack("<Q", prefix)
                if header_len > size - 8:
                    raise CheckpointError(f"{path}: header length {header_len} is past the end of the file")
                header = json.loads(f.read(header_len))
                # Read-only and shared: the page cache backs it, and (unlike a private writable copy) it does
                # not count against a per-process data limit such as the organizer sandbox's RLIMIT_DATA.
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as e:
            raise CheckpointError(f"cannot read {path}: {e}") from e
        except ValueError as e:  # JSON or UTF-8
            raise CheckpointError(f"{path}: the header is not JSON: {e}") from e
        if not isinstance(header, dict):
            raise CheckpointError(f"{path}: the header is not a JSON object")
        self._data_start = 8 + header_len
        data_len = size - self._data_start
        self.entries = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            try:
                dtype, shape, (begin, end) = entry["dtype"], list(entry["shape"]), entry["data_offsets"]
            except (KeyError, TypeError, ValueError) as e:
                raise CheckpointError(f"{path}: bad header entry for {name}: {entry!r}") from e
            if dtype not in DTYPES:
                raise CheckpointError(f"{path}: {name} is {dtype}; this reader knows {', '.join(DTYPES)}")
            count = 1
            for d in shape:
                count *= d
            if not 0 <= begin <= end <= data_len or end - begin != count * DTYPES[dtype][1]:
                raise CheckpointError(f"{path}: {name} has data_offsets {[begin, end]} that do not fit {dtype}{shape}")
            self.entries[name] = (DTYPES[dtype][0], shape, begin, count)

    def tensor(self, name):
        """The stored tensor as a view of the read-only mapping: nothing is read yet. Copy it (`.to(...,
        copy=True)`, `.clone()`) before writing to it: a write to the mapping itself is a segmentation fault."""
        dtype, shape, begin, count = self.entries[name]
        if count == 0:  # frombuffer refuses an empty range
            return torch.empty(shape, dtype=dtype)
        with warnings.catch_warnings():
            # PyTorch has no read-only tensors and warns about a read-only buffer; the caller copies.
            warnings.filterwarnings("ignore", message="The given buffer is not writable")
            flat = torch.frombuffer(self._map, dtype=dtype, count=count, offset=self._data_start + begin)
        return flat.view(shape)


class Checkpoint:
    """Every tensor of a model directory, by its Hugging Face name, from one file or from shards."""

    def __init__(self, model_dir):
        single = os.path.join(model_dir, "model.safetensors")
        index = os.path.join(model_dir, "model.safetensors.index.json")
        self._files = {}  # tensor name -> SafetensorsFile
        if os.path.isfile(single):
            st = SafetensorsFile(single)
            self._files = {name: st for name in st.entries}
        elif os.path.isfile(index):
            try:
                with open(index, "r", encoding="utf-8") as f:
                    weight_map = json.load(f)["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise CheckpointError(f"cannot read the weight_map of {index}: {e}") from e
            opened = {}
            for name, shard in weight_map.items():
                if shard not in opened:
                    opened[shard] = SafetensorsFile(os.path.join(model_dir, shard))
                if name not in opened[shard].entries:
                    raise CheckpointError(f"{index} puts {name} in {shard}, which does not hold it")
                self._files[name] = opened[shard]
        else:
            raise CheckpointError(f"{model_dir} has neither model.safetensors nor model.safetensors.index.json")

    def get(self, name, shape):
        """Tensor `name` as stored (a read-only view of the file, see SafetensorsFile.tensor), checked to have
        `shape`."""
        if name not in self._files:
            raise CheckpointError(f"the checkpoint has no {name}")
        tensor = self._files[name].tensor(name)
        if list(tensor.shape) != list(shape):
            raise CheckpointError(f"{name} has shape {list(tensor.shape)}, expected {list(shape)}")
        return tensor

    def __contains__(self, name):
        return name in self._files
