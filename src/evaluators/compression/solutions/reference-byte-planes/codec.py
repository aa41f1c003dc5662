"""The reference solution: bfloat16 byte planes, lossless (bit-exact).

A bfloat16 value is sign (1 bit), exponent (8) and mantissa (7). Activations and gradients spread their
values over few exponents (about 2.5 bits of entropy) while the sign and mantissa are close to uniform. So the
bits are regrouped into two byte planes:

- the exponent plane (one byte per value), entropy-coded with zstd tuned to behave as an order-0 coder:
  the `fast` strategy with the longest minimum match (7) and the smallest hash table (64 entries) keeps LZ
  from spending bits on short matches, so nearly all the plane goes through zstd's Huffman literal coder,
  close to the plane's order-0 entropy, and it is faster than a bigger table (measured on the medium model's
  samples: 2.83 bits per exponent and ~700 MB/s of input with hash_log 6; 2.91 bits and ~370 MB/s with 12);
- the sign+mantissa plane (sign in bit 7, mantissa in bits 0..6), stored as is unless zstd level 1 makes it
  smaller (it does when the sample has many repeated values, e.g. zeros).

Layout: b"BP1", a flags byte (bit 0: exponent plane is zstd, bit 1: sign+mantissa plane is zstd), the value
count (uint32 LE), the exponent part's length (uint32 LE), the exponent part, the sign+mantissa part.
Only numpy and zstandard (what the sandbox offers).
"""

import struct
import threading

import numpy as np
import zstandard

MAGIC = b"BP1"
_EXPONENT_CODER = zstandard.ZstdCompressor(
    compression_params=zstandard.ZstdCompressionParameters(
        strategy=zstandard.STRATEGY_FAST, min_match=7, window_log=17, hash_log=6, write_content_size=True
    )
)
_MANTISSA_CODER = zstandard.ZstdCompressor(level=1)


_local = threading.local()


def _buffers(count):
    """Work arrays reused between calls of the same size: a long-lived (http) server then touches no fresh
    pages per request, which otherwise costs as much as the arithmetic. Per thread: the http driver serves
    each connection on a thread of its own."""
    scratch = _local.__dict__
    if scratch.get("count") != count:
        scratch.clear()
        scratch.update(
            count=count,
            wide=np.empty(count, np.uint16),
            shifted=np.empty(count, np.uint16),
            exponent=np.empty(count, np.uint8),
            sign_mantissa=np.empty(count, np.uint8),
        )
    return scratch["wide"], scratch["shifted"]


def split_planes(raw):
    """(exponent plane, sign+mantissa plane) as uint8 arrays, from little-endian bf16 bytes."""
    u = np.frombuffer(raw, dtype="<u2")
    wide, shifted = _buffers(u.size)
    exponent, sign_mantissa = _local.exponent, _local.sign_mantissa
    np.right_shift(u, 7, out=exponent, casting="unsafe")  # drops the sign (bit 8 after the shift)
    np.bitwise_and(u, 0x807F, out=wide)  # sign at bit 15, mantissa at bits 0..6
    np.right_shift(wide, 8, out=shifted)  # sign to bit 7
    np.bitwise_or(wide, shifted, out=sign_mantissa, casting="unsafe")
    return exponent, sign_mantissa


def join_planes(exponent, sign_mantissa):
    wide, shifted = _buffers(exponent.size)
    np.left_shift(exponent, 7, out=wide, dtype=np.uint16)  # exponent to bits 7..14
    np.bitwise_and(sign_mantissa, 0x7F, out=shifted, dtype=np.uint16, casting="unsafe")
    np.bitwise_or(wide, shifted, out=wide)
    np.bitwise_and(sign_mantissa, 0x80, out=shifted, dtype=np.uint16, casting="unsafe")
    np.left_shift(shifted, 8, out=shifted)  # sign to bit 15
    np.bitwise_or(wide, shifted, out=wide)
    return wide.astype("<u2", copy=False).tobytes()


def _smaller(coder, plane):
    """(flag, bytes-like): zstd's output when it is smaller than the plane, else the plane itself (no copy)."""
    packed = coder.compress(plane)
    return (1, packed) if len(packed) < plane.size else (0, memoryview(plane))


def _mantissa_part(plane):
    """The sign+mantissa plane is close to uniform on real samples: a 64 KiB probe decides whether running
    zstd over all of it can pay (it does on samples with many repeated values)."""
    probe = plane[: 1 << 16]
    if len(_MANTISSA_CODER.compress(probe)) >= 0.98 * probe.size:
        return 0, memoryview(plane)
    return _smaller(_MANTISSA_CODER, plane)


def compress(raw, shape):
    if len(raw) % 2:
        raise ValueError("bfloat16 data has an even number of bytes")
    exponent, sign_mantissa = split_planes(raw)
    e_flag, e_part = _smaller(_EXPONENT_CODER, exponent)
    m_flag, m_part = _mantissa_part(sign_mantissa)
    header = MAGIC + struct.pack("<BII", e_flag | (m_flag << 1), exponent.size, len(e_part))
    return b"".join((header, e_part, m_part))


def decompress(blob, shape):
    blob = bytes(blob)
    if blob[:3] != MAGIC:
        raise ValueError("not a byte-planes stream (no BP1 magic)")
    flags, count, e_len = struct.unpack_from("<BII", blob, 3)
    start = 3 + 9
    e_part, m_part = blob[start : start + e_len], blob[start + e_len :]
    d = zstandard.ZstdDecompressor()
    exponent = d.decompress(e_part, max_output_size=count) if flags & 1 else e_part
    sign_mantissa = d.decompress(m_part, max_output_size=count) if flags & 2 else m_part
    if len(exponent) != count or len(sign_mantissa) != count:
        raise ValueError("a plane does not hold the stated number of values")
    return join_planes(np.frombuffer(exponent, dtype=np.uint8), np.frombuffer(sign_mantissa, dtype=np.uint8))
