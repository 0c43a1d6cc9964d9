"""The prelude every in-environment check script shares (protocol: bridge/backends/check.py).

A backend's ``check.py`` runs with the backend environment's interpreter, where gui-bridge is installed too
(bridge/envs.py installs it into every environment, and children of a ``bridge`` process import the calling
checkout first). So the script imports this module — stdlib only, nothing of the backend's — and writes just its
``check(request, report)``::

    from bridge.backends.inenv import IGNORE_INDEX, run, runs

    def check(req, report): ...

    if __name__ == "__main__":
        run("mytrainer", ("mytrainer", "transformers"), check)
"""
from __future__ import annotations

import json
import sys
import traceback
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Iterable, Optional

#: the report line's prefix (anything else the script prints is log)
REPORT_PREFIX = "BRIDGE_CHECK "
#: label of the tokens that do not train (Hugging Face's convention)
IGNORE_INDEX = -100


def versions(packages: Iterable[str]) -> dict[str, Optional[str]]:
    """Installed versions of ``packages`` (None for one that is not installed)."""
    out: dict[str, Optional[str]] = {}
    for name in packages:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def runs(ids: Iterable[int], token_id: int) -> list[int]:
    """Lengths of the consecutive runs of ``token_id`` (one run per image)."""
    out, n = [], 0
    for t in ids:
        if t == token_id:
            n += 1
        elif n:
            out.append(n)
            n = 0
    if n:
        out.append(n)
    return out


def run(backend: str, packages: Iterable[str], check: Callable[[dict[str, Any], dict[str, Any]], None],
        argv: Optional[list[str]] = None, **extra: Any) -> dict[str, Any]:
    """Read the request (``argv[1]``), let ``check`` fill the report, print the one report line. An exception in
    ``check`` becomes a report error (its traceback goes to the log), so the bridge side always gets a verdict."""
    argv = sys.argv if argv is None else argv
    with open(argv[1], encoding="utf-8") as f:
        req = json.load(f)
    report: dict[str, Any] = {"backend": backend, "versions": versions(packages), "samples_in": None, "loaded": 0,
                              "dropped": [], "samples": [], "first": {}, "errors": [], **extra}
    try:
        check(req, report)
    except Exception as e:  # the report says what failed; the traceback goes to the log
        traceback.print_exc()
        report["errors"].append(f"{type(e).__name__}: {e}")
    print(REPORT_PREFIX + json.dumps(report, ensure_ascii=False, default=str), flush=True)
    return report
