"""Browser reaper: a tiny watchdog process that kills the browsers of its parent when the parent goes away.

Run as a script (``python -I -S reaper.py``) by :mod:`bridge.environments.browser`, in its own session with
SIGINT ignored, so a Ctrl-C in the terminal reaches only the Python process, which then closes its browsers in
order. The parent writes one line per change on the reaper's stdin::

    + <process group id> <directory>    a browser started (chromedriver leads the group; its profile dir)
    - <process group id>                that browser was closed cleanly

When stdin reaches end-of-file — the parent exited, crashed or was killed with SIGKILL, the pipe closes in
every case — or the parent process is gone, every group still registered gets SIGTERM, then SIGKILL, and its
profile directory is removed. Standard library only: it must start fast and import nothing of the project.
"""
import os
import select
import shutil
import signal
import sys
import time


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError:
        return False


def reap(groups: dict) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in list(groups):
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 2.0
        while sig == signal.SIGTERM and time.monotonic() < deadline and any(_alive(g) for g in groups):
            time.sleep(0.05)
    for directory in groups.values():
        if directory:
            shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    groups: dict = {}
    buf = b""
    fd = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            if os.getppid() != parent:   # re-parented: the parent died (a forked child may hold the pipe open)
                break
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            parts = line.decode("utf-8", "replace").split(" ", 2)
            if len(parts) >= 2 and parts[1].isdigit():
                if parts[0] == "+":
                    groups[int(parts[1])] = parts[2] if len(parts) > 2 else ""
                elif parts[0] == "-":
                    groups.pop(int(parts[1]), None)
    reap(groups)


if __name__ == "__main__":
    main()
