"""User-facing errors. Anything a user can cause (bad data, bad recipe, missing environment) is raised as a
:class:`BridgeError` and printed by the CLI as a located message with exit code 2 — never a traceback."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Problem:
    """One located problem in a data file: which file, which line/record, which field, expected vs found."""

    file: str
    message: str
    line: Optional[int] = None      # 1-based line (JSONL) or record number (other containers)
    record: Optional[str] = None    # episode id / step file / row id when known
    field: Optional[str] = None     # dotted path, e.g. "steps[3].action.point"
    expected: Optional[str] = None
    found: Optional[Any] = None

    def __str__(self) -> str:
        loc = self.file + (f":{self.line}" if self.line is not None else "")
        parts = [loc]
        if self.record:
            parts.append(f"[{self.record}]")
        if self.field:
            parts.append(self.field)
        text = " ".join(parts) + ": " + self.message
        if self.expected is not None:
            text += f" (expected {self.expected}"
            text += f", found {_short(self.found)})" if self.found is not None else ")"
        elif self.found is not None:
            text += f" (found {_short(self.found)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _short(v: Any, limit: int = 80) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


class BridgeError(Exception):
    """An error the user can fix; ``problems`` lists every located problem found (possibly many)."""

    exit_code = 2

    def __init__(self, message: str, problems: Optional[list[Problem]] = None, hint: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])
        self.hint = hint

    def __str__(self) -> str:
        lines = [self.message] + [f"  {p}" for p in self.problems]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)

    def capped(self) -> str:
        """As ``str()``, with at most :data:`MAX_SHOWN` problems (the CLI's output; see :func:`shown_problems`)."""
        shown, more = shown_problems(self.problems)
        lines = [self.message] + [f"  {p}" for p in shown] + ([f"  {more}"] if more else [])
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


#: problems printed on the terminal at most; the rest are counted and every one is written to a file
MAX_SHOWN = 20


def shown_problems(problems: list[Problem], what: str = "problems") -> tuple[list[Problem], Optional[str]]:
    """The first :data:`MAX_SHOWN` problems (``BRIDGE_MAX_SHOWN`` overrides; 0 = all) and, when some are left
    out, the line saying how many, naming the file (under ``$BRIDGE_HOME/problems/``) that lists every one."""
    import os
    import time
    from pathlib import Path

    limit = int(os.environ.get("BRIDGE_MAX_SHOWN", MAX_SHOWN))
    if not limit or len(problems) <= limit:
        return problems, None
    home = Path(os.environ.get("BRIDGE_HOME") or Path.home() / ".cache" / "gui-bridge")
    path = home / "problems" / f"{what}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{p}\n" for p in problems), encoding="utf-8")
        where = f"all {len(problems)} in {path}"
    except OSError as e:
        where = f"could not write the full list: {e}"
    return problems[:limit], f"... and {len(problems) - limit} more {what} ({where})"
