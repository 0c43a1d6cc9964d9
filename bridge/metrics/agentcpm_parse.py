"""AgentCPM-GUI's own reading of a completion, for evaluation under the ``agentcpm`` / ``agentcpm-ac`` profiles.

Re-stated from OpenBMB/AgentCPM-GUI at a5612f0fa6f6bfc86666b60dbf1b4c5cad043f0c (``eval/run_predict_minicpm.py``
``extract_and_validate_json``, ``eval/utils/convert_output.py`` ``parse_action``, ``eval/utils/evaluator.py``
``action_map``, ``eval/utils/schema/schema_for_extraction.json``):

1. The whole completion must be ONE JSON object (``json.loads``: no code fence, no ``<think>`` wrapper, no single
   quotes) that satisfies the extraction schema: only the keys thought, POINT, to, duration, PRESS, TYPE,
   DEEP_LINK, CLEAR, STATUS; locations are two integers in [0, 1000]; ``to`` is up/down/left/right or a
   location and needs POINT; duration an integer >= 0; PRESS one of HOME, BACK, ENTER, APPSELECT; TYPE a string;
   STATUS one of continue, start, finish, satisfied, impossible, interrupt, need_feedback; at most one of
   POINT, PRESS, TYPE, DEEP_LINK, CLEAR; and without a stopping STATUS at least one of those or duration.
   Anything else is invalid (a parse failure: wrong on every count).
2. ``duration`` defaults to 200. Then, first rule that applies: a STATUS other than continue/start → stop;
   TYPE → type; POINT without ``to`` and duration == 200 → click; POINT with ``to`` and duration == 200 →
   scroll; POINT and duration > 200 → long press; PRESS → press; anything else (a bare duration, POINT with a
   duration under 200, DEEP_LINK, CLEAR) → stop.

The result is a canonical action in original pixels (POINT is [0, 1000] of the screenshot), so the profile's
own rules judge it: stop → ``status`` (``wait`` for a bare duration), scroll → ``swipe``.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from ..frames import REL1000
from ..schema import Action
from ..styles.base import Parsed

DEFAULT_DURATION = 200
_KEYS = frozenset({"thought", "POINT", "to", "duration", "PRESS", "TYPE", "DEEP_LINK", "CLEAR", "STATUS"})
_EXCLUSIVE = ("POINT", "PRESS", "TYPE", "DEEP_LINK", "CLEAR")
_STATUS = ("continue", "start", "finish", "satisfied", "impossible", "interrupt", "need_feedback")
_PRESS = {"HOME": ("navigate_home", None), "BACK": ("navigate_back", None), "ENTER": ("enter", None),
          "APPSELECT": ("key", "appselect")}
_DIRECTIONS = ("up", "down", "left", "right")
_STOP = {"finish": "complete", "satisfied": "complete", "impossible": "impossible", "interrupt": "interrupt",
         "need_feedback": "need_feedback"}


def _integer(v: Any) -> bool:
    # JSON Schema "integer" (draft 4 on, what jsonschema.validate applies): 5 and 5.0, never true/false
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))


def _location(v: Any) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_integer(c) and 0 <= c <= 1000 for c in v)


def schema_error(data: Any) -> Optional[str]:
    """Why ``data`` fails AgentCPM's extraction schema, or None."""
    if not isinstance(data, dict):
        return "not a JSON object"
    extra = sorted(set(data) - _KEYS)
    if extra:
        return f"keys the schema does not allow: {', '.join(extra)}"
    if "thought" in data and not isinstance(data["thought"], str):
        return "thought is not a string"
    for key in ("POINT",):
        if key in data and not _location(data[key]):
            return "POINT is not two integers in [0, 1000]"
    if "to" in data:
        if not (data["to"] in _DIRECTIONS if isinstance(data["to"], str) else _location(data["to"])):
            return "to is neither up/down/left/right nor two integers in [0, 1000]"
        if "POINT" not in data:
            return "to needs POINT"
    if "duration" in data and not (_integer(data["duration"]) and data["duration"] >= 0):
        return "duration is not an integer >= 0"
    if "PRESS" in data and data["PRESS"] not in _PRESS:
        return "PRESS is not HOME, BACK, ENTER or APPSELECT"
    if "TYPE" in data and not isinstance(data["TYPE"], str):
        return "TYPE is not a string"
    for key in ("DEEP_LINK", "CLEAR"):
        if key in data and data[key] is not None:
            return f"{key} is not null"
    if "STATUS" in data and data["STATUS"] not in _STATUS:
        return "STATUS is not one of " + ", ".join(_STATUS)
    present = [k for k in _EXCLUSIVE if k in data]
    if len(present) > 1:
        return "more than one of " + ", ".join(present)
    if data.get("STATUS", "continue") in ("continue", "start") and not present and "duration" not in data:
        return "no action: needs POINT, PRESS, TYPE, DEEP_LINK, CLEAR or duration"
    return None


def parse(text: str, width: int, height: int) -> Parsed:
    """AgentCPM-GUI's evaluation-time reading of ``text`` as a canonical action (see the module docstring)."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError, ValueError):
        return Parsed(None, error="AgentCPM evaluator: the completion is not one JSON object (json.loads fails)")
    why = schema_error(data)
    if why is not None:
        return Parsed(None, error=f"AgentCPM evaluator: schema violation: {why}")
    thought = data.get("thought")
    status = data.get("STATUS", "continue")
    duration = data.get("duration", DEFAULT_DURATION)

    def px(loc) -> tuple[float, float]:
        return REL1000.from_model(loc[0], loc[1], width, height)

    if status not in ("continue", "start"):
        return Parsed(Action(type="status", status=_STOP[status]), thought=thought)
    if "TYPE" in data:
        return Parsed(Action(type="type", text=data["TYPE"]), thought=thought)
    if "POINT" in data and duration == DEFAULT_DURATION:
        p = px(data["POINT"])
        if "to" not in data:
            return Parsed(Action(type="click", point=p), thought=thought)
        to = data["to"]
        if isinstance(to, str):
            return Parsed(Action(type="swipe", point=p, direction=to), thought=thought)
        end = px(to)
        if end == p:   # the evaluator's _get_direction: "no direction", which matches no ground truth
            return Parsed(Action(type="swipe", point=p, direction=None, meta={"no_direction": True}),
                          thought=thought)
        return Parsed(Action(type="swipe", point=p, end_point=end), thought=thought)
    if "POINT" in data and duration > DEFAULT_DURATION:
        return Parsed(Action(type="long_press", point=px(data["POINT"]), duration_ms=int(duration)),
                      thought=thought)
    if "PRESS" in data:
        kind, key = _PRESS[data["PRESS"]]
        return Parsed(Action(type=kind, key=key), thought=thought)
    if "POINT" not in data and set(data) <= {"thought", "duration", "STATUS"}:
        return Parsed(Action(type="wait", duration_ms=int(duration)), thought=thought)
    return Parsed(Action(type="status", status="complete", meta={"agentcpm_stop": "other"}), thought=thought)
