"""optibench's PyTorch worker: runs the LLaMA forward for optibench's TypeScript side over a JSON-lines
protocol (src/backends/pytorch/PROTOCOL.md). Started as `python -m worker` with this folder's parent on
PYTHONPATH, or under `python -m torch.distributed.run ... -m worker --dist-backend gloo|nccl`.

Nothing here imports torch at package import time, so a Python without torch can still say so clearly.
"""
