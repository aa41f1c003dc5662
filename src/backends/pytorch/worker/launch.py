"""torchrun for the worker: `python -m worker.launch <torchrun arguments>` is `python -m torch.distributed.run`
(torchrun's module form), with one fix applied first.

PyTorch < 2.0 on Python >= 3.11 (Debian 12's python3-torch 1.13 on Python 3.11, what CI runs) cannot parse
torchrun's own default `--redirects 0` / `--tee 0`: Std.from_str iterates an IntFlag, which no longer yields
its zero member on 3.11, so it returns None and torchrun fails before starting any rank. The fix maps that
None back to Std.NONE; on versions without the bug it changes nothing.
"""

import sys


def main():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        from .__main__ import _no_torch

        return _no_torch(e)
    from torch.distributed.elastic.multiprocessing.api import Std

    if Std.from_str("0") is None:
        original = Std.from_str

        def from_str(vm):
            value = original(vm)
            if isinstance(value, dict):
                return {rank: Std.NONE if std is None else std for rank, std in value.items()}
            return Std.NONE if value is None else value

        Std.from_str = staticmethod(from_str)

    from torch.distributed.run import main as torchrun

    torchrun()
    return 0


if __name__ == "__main__":
    sys.exit(main())
