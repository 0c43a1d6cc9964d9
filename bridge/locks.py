"""Advisory file locks for work that two ``bridge`` processes may start at once on one machine: building a backend
environment, filling an export-cache entry, building a tiny model. The second process waits for the first (saying
so once) and then finds the work done, instead of racing it to a rename that fails with a traceback.

``fcntl.flock`` (POSIX): the kernel releases the lock when its holder exits, however it exits (SIGKILL included),
so a crashed build never leaves a stale lock behind."""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import BridgeError


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, what: str, timeout: Optional[float] = None,
              echo: Optional[Callable[[str], None]] = None, poll_s: float = 0.2) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if needed) for the block; ``what`` names the work in the
    message shown while waiting. ``timeout`` seconds (None = wait as long as it takes) then a BridgeError."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start, told = time.monotonic(), False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and echo is not None:
                    echo(f"waiting for {what}: another bridge process holds {p} (pid {_holder(p) or '?'})")
                    told = True
                if timeout is not None and time.monotonic() - start > timeout:
                    raise BridgeError(f"gave up waiting {timeout:g} s for {what} (lock {p} held by pid "
                                      f"{_holder(p) or '?'})") from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield p
    finally:
        os.close(fd)   # closing the descriptor releases the lock


def _holder(p: Path) -> Optional[str]:
    try:
        return p.read_text().strip() or None
    except OSError:
        return None
