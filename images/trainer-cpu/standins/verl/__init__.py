"""CPU stand-in for veRL 0.6.0's package __init__ (images/trainer-cpu/README.md). veRL's own imports DataProto and
its device helpers, which import torch; this keeps only what the entry points need of it, the version."""

import os

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "version/version")) as f:
    __version__ = f.read().strip()

__all__ = ["__version__"]
