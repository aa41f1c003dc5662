"""The template's codec: a lossless starting point (zlib, from the standard library). Replace both functions.

`raw` is the tensor's bfloat16 bit patterns, little-endian, C order (2 bytes per value); `shape` a tuple of
ints. `decompress(compress(raw, shape), shape)` must give `raw` back (or values close to it, for a lossy
entry: the score weighs similarity). The decompressor runs in a separate sandbox: everything it needs must
be in the compressed bytes.
"""

import zlib


def compress(raw, shape):
    return zlib.compress(raw, 6)


def decompress(blob, shape):
    return zlib.decompress(blob)
