"""Typed, range-checked schemas of every built-in reward option, checked when a reward spec is built (recipe
validation, ``bridge rewards score``, the training hooks) so that a bad value is a located error up front — not an
inverted reward (``distance`` with ``radius: -3`` scored a far click 1.39 and an exact one 1.0) or an exception
raised only on the completions that reach the option (``decay: cubic``: exactly the well-formed ones).

:data:`SCHEMAS` maps reward name → option name → :class:`Opt`; a test checks that every option a built-in reward
declares has a schema. Plugins (entry points) declare no options and are not checked here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Opt:
    """``kind``: bool | number | int | choice | str | style. Numbers: ``lo``/``hi`` bounds, ``lo_open`` for a
    strict lower bound; ``none_ok``: None (the default "not set") is accepted."""

    kind: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    choices: tuple = ()
    none_ok: bool = False

    def expected(self) -> str:
        if self.kind == "choice":
            return " | ".join(repr(c) for c in self.choices)
        if self.kind in ("number", "int"):
            word = "an integer" if self.kind == "int" else "a number"
            bounds = []
            if self.lo is not None:
                bounds.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
            if self.hi is not None:
                bounds.append(f"<= {self.hi:g}")
            return word + (" " + " and ".join(bounds) if bounds else "")
        return {"bool": "true or false", "str": "a string", "style": "a style name"}[self.kind]

    def problem(self, value: Any) -> Optional[str]:
        """Why ``value`` is not acceptable, or None."""
        if value is None:
            return None if self.none_ok else "must be set"
        k = self.kind
        if k == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if k == "choice":
            return None if value in self.choices else "unknown value"
        if k in ("str", "style"):
            if not isinstance(value, str) or not value.strip():
                return "must be a non-empty string"
            if k == "style":
                from ..styles import STYLES

                return None if value in STYLES else "unknown style"
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (k == "int" and not isinstance(value, int)):
            return f"must be {'an integer' if k == 'int' else 'a number'}"
        if not math.isfinite(value):
            return "must be a finite number"
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return "out of range"
        if self.hi is not None and value > self.hi:
            return "out of range"
        return None


_BOOL = Opt("bool")
_STYLE = Opt("style", none_ok=True)
_FRACTION = Opt("number", 0.0, None, lo_open=True)  # a normalised radius (share of the screen diagonal)
_ALPHA = Opt("number", 0.0, None, lo_open=True)     # GUI-G2's sigma factor

SCHEMAS: dict[str, dict[str, Opt]] = {
    "format": {"think": _BOOL, "style": _STYLE},
    "action_type": {"style": _STYLE},
    "point_in_box": {"inclusive": _BOOL, "require_type": _BOOL, "fallback_radius": _FRACTION, "style": _STYLE},
    "iou": {"convention": Opt("choice", choices=("continuous", "vlm-r1")), "require_type": _BOOL, "style": _STYLE},
    "distance": {"radius": _FRACTION, "decay": Opt("choice", choices=("linear", "exp")), "require_type": _BOOL,
                 "style": _STYLE},
    "gaussian_point": {"alpha": _ALPHA, "require_type": _BOOL, "style": _STYLE},
    "gaussian_plane": {"alpha": _ALPHA, "require_type": _BOOL, "style": _STYLE},
    "text_f1": {"require_type": _BOOL, "single_token_substring": _BOOL, "style": _STYLE},
    "text_match": {"mode": Opt("choice", choices=("substring", "exact")), "require_type": _BOOL, "style": _STYLE},
    "swipe_direction": {"style": _STYLE},
    "action_match": {"radius": _FRACTION, "f1": Opt("number", 0.0, 1.0), "inclusive": _BOOL, "style": _STYLE},
    "llm-judge": {"endpoint": Opt("str", none_ok=True), "model": Opt("str", none_ok=True), "api_key_env": Opt("str"),
                  "timeout": Opt("number", 0.0, 600.0, lo_open=True), "retries": Opt("int", 0, 20),
                  "backoff": Opt("number", 0.0, 60.0), "cache_dir": Opt("str", none_ok=True),
                  "on_failure": Opt("number", -10.0, 10.0), "temperature": Opt("number", 0.0, 2.0),
                  "max_tokens": Opt("int", 1, 4096)},
    "vlm-r1-llm": {"endpoint": Opt("str", none_ok=True), "model": Opt("str"), "api_key_env": Opt("str"),
                   "timeout": Opt("number", 0.0, 600.0, lo_open=True), "retries": Opt("int", 0, 20)},
}


def option_problem(reward: str, name: str, value: Any) -> Optional[tuple[str, str]]:
    """``(message, expected)`` when ``value`` is not a valid ``name`` option of ``reward``, else None."""
    opt = SCHEMAS.get(reward, {}).get(name)
    if opt is None:
        return None
    why = opt.problem(value)
    return (f"{reward} option {name}: {why}", opt.expected()) if why else None
