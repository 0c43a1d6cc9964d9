"""Predictions files: JSON Lines, one ``{"id": "<episode_id>/<step index>", "completion": "<model text>"}`` per
line (other keys are allowed and ignored, e.g. a prompt or a score). Shared by ``bridge eval`` and any command
that scores saved completions."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Union

from ..errors import BridgeError, Problem
from ..textio import safe_json_loads

MAX_PROBLEMS = 50


def read_predictions(path: Union[str, os.PathLike]) -> dict[str, str]:
    """Read a predictions file into ``{id: completion}``; every bad line (invalid JSON, missing or non-string
    ``id``/``completion``, duplicate id) is reported at once as a located :class:`BridgeError`."""
    path = Path(path)
    name = str(path)
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise BridgeError(f"{name}: cannot read predictions file: {e.strerror or e}") from None
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    problems: list[Problem] = []
    extra = 0
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            found: list[Problem] = []
            try:
                rec = safe_json_loads(raw)
            except ValueError as e:  # says what: BOM, not UTF-8, too deep, huge integer, or the parser's message
                found.append(Problem(name, str(e), line=lineno, expected='{"id": ..., "completion": ...}'))
                rec = None
            if rec is not None and not isinstance(rec, dict):
                found.append(Problem(name, "not a JSON object", line=lineno, found=type(rec).__name__,
                                     expected='{"id": ..., "completion": ...}'))
            elif isinstance(rec, dict):
                rid, completion = rec.get("id"), rec.get("completion")
                for key, value in (("id", rid), ("completion", completion)):
                    if key not in rec:
                        found.append(Problem(name, "missing required field", line=lineno, field=key,
                                             record=rid if isinstance(rid, str) else None))
                    elif not isinstance(value, str):
                        found.append(Problem(name, "wrong type", line=lineno, field=key, expected="a string",
                                             found=value, record=rid if isinstance(rid, str) else None))
                if not found and rid in out:
                    found.append(Problem(name, f"duplicate id (first on line {first_line[rid]})", line=lineno,
                                         record=rid, field="id"))
                if not found:
                    out[rid] = completion
                    first_line[rid] = lineno
            if found:
                if len(problems) < MAX_PROBLEMS:
                    problems.extend(found[: MAX_PROBLEMS - len(problems)])
                else:
                    extra += len(found)
    if problems:
        more = f" (and {extra} more)" if extra else ""
        raise BridgeError(f"{name}: invalid predictions file: {len(problems) + extra} problem(s){more}", problems,
                          hint='each line must be {"id": "<episode_id>/<step index>", "completion": "<model text>"}')
    return out


def write_predictions(path: Union[str, os.PathLike], items: Iterable[tuple[str, str]]) -> int:
    """Write ``(id, completion)`` pairs atomically (temporary file renamed into place); returns the count."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise BridgeError(f"{path}: directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for rid, completion in items:
                fh.write(json.dumps({"id": rid, "completion": completion}, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n
