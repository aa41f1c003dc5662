"""The protocol driver of a compression solution (optibench's PROTOCOL.md, version 1), both protocols:

    python3 solution.py --compress   --input-file job.json   # protocol cli
    python3 solution.py --decompress --input-file job.json
    python3 solution.py --port 8000                          # protocol http: GET /health, POST /compress, /decompress

The codec itself lives in codec.py beside this file: `compress(raw, shape) -> bytes` and
`decompress(blob, shape) -> bytes`, where `raw` is the tensor's bfloat16 bit patterns as little-endian bytes
(C order) and `shape` a tuple of ints. Change codec.py, not this file.

In protocol cli the decompressor gets only the compressed bytes, so the shape travels in front of the codec's
output as a zstd *skippable frame* (magic 0x184D2A50, 4-byte little-endian length, then the shape as JSON): a
codec whose output is a zstd frame stays a valid zstd stream that the `zstd` CLI decodes.
Standard library + numpy only; no `cgi` (gone from Python 3.13), multipart is parsed by hand.
"""

import argparse
import base64
import io
import json
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

import codec

SKIPPABLE_MAGIC = 0x184D2A50


def npy_to_raw(npy_bytes):
    """The .npy's bit patterns as little-endian bytes, and its shape (<u2, the PROTOCOL.md form)."""
    array = np.load(io.BytesIO(npy_bytes), allow_pickle=False)
    if array.dtype.kind not in "ui" or array.dtype.itemsize != 2:
        raise ValueError(f"expected a <u2 .npy of bfloat16 bits, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype="<u2").tobytes(), tuple(int(d) for d in array.shape)


def raw_to_npy(raw, shape):
    out = io.BytesIO()
    np.save(out, np.frombuffer(raw, dtype="<u2").reshape(shape), allow_pickle=False)
    return out.getvalue()


def frame(shape, payload):
    header = json.dumps(list(shape)).encode("ascii")
    return struct.pack("<II", SKIPPABLE_MAGIC, len(header)) + header + payload


def unframe(blob):
    magic, length = struct.unpack_from("<II", blob, 0)
    if magic != SKIPPABLE_MAGIC:
        raise ValueError("the compressed bytes do not start with this solution's shape frame")
    shape = tuple(int(d) for d in json.loads(blob[8 : 8 + length].decode("ascii")))
    return shape, memoryview(blob)[8 + length :]


def expected_size(shape):
    n = 2
    for d in shape:
        n *= d
    return n


def run_cli(mode, job_path):
    with open(job_path, "r", encoding="utf-8") as f:
        job = json.load(f)
    if mode == "compress":
        raw, shape = npy_to_raw(base64.b64decode(job["data_to_compress_base64"]))
        out = frame(shape, codec.compress(raw, shape))
    else:
        shape, payload = unframe(base64.b64decode(job["data_to_decompress_base64"]))
        raw = codec.decompress(bytes(payload), shape)
        if len(raw) != expected_size(shape):
            raise ValueError(f"the codec returned {len(raw)} bytes for shape {shape}")
        out = raw_to_npy(raw, shape)
    with open(job["expected_output_filepath"], "wb") as f:
        f.write(out)


def parse_multipart(content_type, body):
    """{field name: bytes} of a multipart/form-data body (fields only; the boundary from the Content-Type)."""
    params = dict(
        p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p
    )
    boundary = params.get("boundary", "").strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    fields = {}
    delimiter = b"--" + boundary.encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]  # the CRLF before the next delimiter belongs to it
        for line in head.decode("latin-1").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                for item in line.split(";")[1:]:
                    key, _, value = item.strip().partition("=")
                    if key == "name":
                        fields[value.strip('"')] = data
    return fields


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, content_type="application/octet-stream"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, b"ok\n", "text/plain")
        else:
            self.reply(404, b"not found\n", "text/plain")

    def do_POST(self):
        if self.path not in ("/compress", "/decompress"):
            self.reply(404, b"not found\n", "text/plain")
            return
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            fields = parse_multipart(self.headers.get("Content-Type", ""), body)
            if "file" not in fields or "shape" not in fields:
                raise ValueError("expected the form fields file and shape")
            shape = tuple(int(d) for d in fields["shape"].decode("ascii").split("x"))
            if self.path == "/compress":
                if len(fields["file"]) != expected_size(shape):
                    raise ValueError(f"{len(fields['file'])} bytes for shape {shape}")
                out = codec.compress(fields["file"], shape)
            else:
                out = codec.decompress(fields["file"], shape)
        except Exception as e:  # the evaluator shows the reason; the server keeps serving
            self.reply(400, f"{type(e).__name__}: {e}\n".encode("utf-8"), "text/plain")
            return
        self.reply(200, out)

    def log_message(self, format, *args):
        pass  # one line per request on stderr would only slow the timed window


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--compress", action="store_true")
    mode.add_argument("--decompress", action="store_true")
    mode.add_argument("--port", type=int)
    ap.add_argument("--input-file")
    args = ap.parse_args()
    if args.port is not None:
        # Threads: an HTTP/1.1 client keeps idle connections open, and a one-connection server would stall a
        # second connection until the first one times out.
        ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()
    elif not args.input_file:
        sys.exit("--compress and --decompress need --input-file <job.json>")
    else:
        run_cli("compress" if args.compress else "decompress", args.input_file)


if __name__ == "__main__":
    main()
