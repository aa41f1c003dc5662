"""Times a shipped solution's codec in-process (the organizer's benchmark, not a solution).

    python3 bench_codec.py --solution DIR --repeat N sample.npy ...

Imports DIR/codec.py and, per sample, runs compress and decompress N times each, checks the round trip is
bit-exact, and prints one JSON line: file, original and compressed byte counts, the median compress and
decompress seconds, exact. In-process so that the figure is the codec's own speed: process start and the
protocols' I/O are the evaluator's to measure (its report shows them).
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--solution", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("samples", nargs="+")
    args = ap.parse_args()
    sys.path.insert(0, args.solution)
    import codec  # noqa: E402  (the solution's own module, found through the path just added)

    for path in args.samples:
        array = np.load(path, allow_pickle=False)
        raw = np.ascontiguousarray(array, dtype="<u2").tobytes()
        shape = tuple(int(d) for d in array.shape)
        compress_s, decompress_s = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            blob = codec.compress(raw, shape)
            compress_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            back = codec.decompress(blob, shape)
            decompress_s.append(time.perf_counter() - t)
        print(
            json.dumps(
                {
                    "file": path,
                    "original_bytes": len(raw),
                    "compressed_bytes": len(blob),
                    "compress_s": statistics.median(compress_s),
                    "decompress_s": statistics.median(decompress_s),
                    "exact": bytes(back) == raw,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
