"""``bridge runs`` and ``bridge logs``: the run records under a runs directory, and one run's backend log
(followed while the run is going)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from .errors import BridgeError

COLUMNS = ("run", "name", "backend", "status", "steps", "final_loss", "final_reward", "wall_s", "started")
LIVE = ("prepared", "running")


def find_runs(roots: list[str | Path]) -> list[Path]:
    """Run directories (holding run.json) at ``roots``, their children and grandchildren (bench directories),
    oldest first."""
    out: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise BridgeError(f"{root}: no such runs directory", hint="runs are written by `bridge run` into runs/ "
                              "(--runs-dir); name it: bridge runs DIR")
        for d in (root, *sorted(root.iterdir()), *sorted(root.glob("*/*"))):
            if d.is_dir() and (d / "run.json").is_file() and d not in out:
                out.append(d)
    return sorted(out, key=_started)


def _started(d: Path) -> tuple[str, str]:
    try:
        rec = json.loads((d / "run.json").read_text(encoding="utf-8"))
        return str(rec.get("started_at") or ""), d.name
    except (OSError, ValueError):
        return "", d.name


def run_rows(dirs: list[Path]) -> list[dict[str, Any]]:
    """One row per run (:data:`COLUMNS`); an unreadable record is a row saying so, not an error."""
    from .compare import load_run

    rows = []
    for d in dirs:
        try:
            view = load_run(d)
        except BridgeError as e:
            rows.append({"run": d.name, "status": "unreadable", "error": e.message, "path": str(d)})
            continue
        s, rec = view.summary(), view.record
        rows.append({"run": d.name, "name": rec.get("name"), "backend": s["backend"], "status": s["status"],
                     "steps": s["steps"], "final_loss": s["final_loss"], "final_reward": s["final_reward"],
                     "wall_s": s["wall_s"], "started": rec.get("started_at"), "path": str(d),
                     "overrides": rec.get("overrides") or []})
    return rows


def resolve_run(run: str, runs_dir: str | Path = "runs") -> Path:
    """A run directory from a path, or the latest run in ``runs_dir`` whose directory name starts with ``run``."""
    p = Path(run)
    if (p / "run.json").is_file():
        return p
    root = Path(runs_dir)
    matches = [d for d in find_runs([root]) if d.name.startswith(run)] if root.is_dir() else []
    if not matches:
        raise BridgeError(f"no run {run!r}: not a run directory, and no run in {root} starts with it",
                          hint="list them: bridge runs " + str(root))
    return matches[-1]


def follow(run_dir: Path, write: Callable[[str], None], follow: bool = False, poll_s: float = 0.5,
           sleep: Callable[[float], None] = time.sleep) -> Optional[str]:
    """Write the run's backend.log; with ``follow`` keep writing what is appended until the record leaves the
    ``prepared``/``running`` state (then the rest). Returns the run's final status."""
    log = run_dir / "backend.log"
    status = _status(run_dir)
    if not follow and not log.is_file():
        raise BridgeError(f"{run_dir}: no backend.log (status: {status}; a dry run or a run that never started)")
    for chunk in _chunks(log, run_dir, follow, poll_s, sleep):
        write(chunk)
    return _status(run_dir)


def _chunks(log: Path, run_dir: Path, follow: bool, poll_s: float, sleep) -> Iterator[str]:
    pos = 0
    while True:
        live = follow and _status(run_dir) in LIVE      # read the status *before* the log: no last line lost
        if log.is_file():
            with open(log, encoding="utf-8", errors="replace") as f:
                f.seek(pos)
                text = f.read()
                pos = f.tell()
            if text:
                yield text
        if not live:
            return
        sleep(poll_s)


def _status(run_dir: Path) -> Optional[str]:
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError):
        return None
