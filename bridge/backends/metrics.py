"""The one metrics path: a run's per-step rows and read-back settings come from its backend's own log parser
(``logs.py`` in the backend's package, vocabulary in :mod:`bridge.backends.logs`), called once per run by
:func:`finalize` and on demand by ``bridge compare`` / ``bridge bench``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from ..errors import BridgeError
from . import get_adapter
from .logs import Parsed, merge_effective


def parse_run(backend: str, run_dir: str | Path) -> Parsed:
    """Normalised per-step rows (with sources and warnings) of a run of ``backend``; empty for unknown backends."""
    try:
        adapter = get_adapter(backend)
    except BridgeError:
        return Parsed()
    return adapter.parse_run(Path(run_dir))


def resolved_settings(backend: str, run_dir: str | Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The settings ``backend`` actually received/resolved for this run; empty when nothing is readable (or the
    backend is unknown). ``source`` names where they were read."""
    try:
        adapter = get_adapter(backend)
    except BridgeError:
        return {}
    return adapter.resolved_settings(Path(run_dir), record)


def finalize(run_dir: str | Path, record: dict[str, Any]) -> Parsed:
    """After a run: write ``run_dir/metrics.jsonl`` from the backend's logs and put the read-back settings into
    ``record["effective"]`` (the recipe-level values stay where the backend reports nothing). Returns what the
    parser read (the record is updated in place: ``metrics_warnings``, ``effective``)."""
    run_dir = Path(run_dir)
    backend = str(record.get("backend", ""))
    parsed = parse_run(backend, run_dir)
    if parsed.rows:
        tmp = run_dir / ".metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in parsed.rows), encoding="utf-8")
        tmp.replace(run_dir / "metrics.jsonl")
    if parsed.warnings:
        record["metrics_warnings"] = parsed.warnings
    resolved = resolved_settings(backend, run_dir, record)
    if resolved:
        record["effective"] = merge_effective(record.get("effective") or {}, resolved)
    return parsed


__all__ = ["finalize", "parse_run", "resolved_settings"]
