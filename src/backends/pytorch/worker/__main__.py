"""Entry point: checks that torch imports, then runs the protocol loop (protocol.py)."""

import json
import sys


def _no_torch(error):
    message = f"PyTorch is not installed for {sys.executable} ({error})"
    sys.stderr.write(f"optibench-worker: {message}\n")
    # One protocol line, so optibench can say exactly this rather than guess from a traceback.
    sys.stdout.write(json.dumps({"type": "fatal", "kind": "no_torch", "error": message}) + "\n")
    sys.stdout.flush()
    return 3


def main():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        return _no_torch(e)
    from .protocol import serve

    return serve(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
