"""gui-bridge: train GUI agents on the trainers you already use.

Public API (imported lazily so that ``bridge --help`` stays light)::

    from bridge import open_dataset, DatasetWriter, Episode, Step, Action
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "open_dataset": "bridge.dataset", "Dataset": "bridge.dataset", "DatasetWriter": "bridge.dataset",
    "Episode": "bridge.schema", "Step": "bridge.schema", "Action": "bridge.schema", "Element": "bridge.schema",
    "BridgeError": "bridge.errors",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
