#!/usr/bin/env python3
"""Encodes strings with Python's sentencepiece: the reference optibench's own tokenizer is compared and
timed against (tests, and `optibench tokenizer bench`).

    python3 sentencepiece_reference.py MODEL < {"strings": [...]} > {"ids": [[...], ...], "seconds": s, "version": v}

No BOS or EOS is added (sentencepiece's default); `seconds` times the encoding alone, not the start-up or
the JSON. Errors go to stderr with a non-zero exit.
"""
import json
import sys
import time

try:
    import sentencepiece as spm
except ImportError:
    sys.stderr.write("sentencepiece_reference: Python's sentencepiece is not installed (Debian: python3-sentencepiece)\n")
    sys.exit(3)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: sentencepiece_reference.py MODEL < strings.json\n")
        sys.exit(2)
    processor = spm.SentencePieceProcessor(model_file=sys.argv[1])
    strings = json.load(sys.stdin)["strings"]
    started = time.perf_counter()
    ids = processor.encode(strings)
    seconds = time.perf_counter() - started
    json.dump({"ids": ids, "seconds": seconds, "version": spm.__version__}, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
