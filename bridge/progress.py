"""Progress bars for long data work (import, validate, convert/export, eval): tqdm on stderr, shown only when
stderr is a terminal (``disable=None`` is tqdm's "off when not a TTY"), so logs, pipes and CI stay clean.
``BRIDGE_PROGRESS=0`` turns them off on a terminal too."""
from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")


def bar(total: Optional[int] = None, desc: str = "", unit: str = "it", enabled: bool = True):
    """A tqdm bar (a context manager with ``update(n)``), silent unless stderr is a TTY."""
    from tqdm import tqdm

    on = enabled and os.environ.get("BRIDGE_PROGRESS", "1") != "0"
    return tqdm(total=total, desc=desc, unit=unit, disable=None if on else True, file=sys.stderr,
                dynamic_ncols=True, leave=False)


def iterate(items: Iterable[T], total: Optional[int] = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """``items`` with a progress bar (see :func:`bar`); the bar closes when the iteration ends or stops."""
    with bar(total, desc, unit) as b:
        for item in items:
            yield item
            b.update(1)
