"""AgentCPM-GUI's RFT rewards (OpenBMB/AgentCPM-GUI ``rft/trainer/utils/gui_eval.py``; docs/rewards.md).

The completion is the compact JSON action (``{"POINT":[x,y]}``, ``{"TYPE":"…"}``, optionally a ``thought`` key,
optionally in a ```` ```json ```` fence), coordinates in [0, 1000]. It is read as JSON5 with duplicate keys
rejected and validated against AgentCPM's action schema (both re-implemented here without dependencies).

* ``agentcpm-schema`` = 0.3 × {1 valid and unfenced; 0.5 valid but fenced; 0.3 parsed but schema violation;
  0 unparsable}.
* ``agentcpm-type``: ignoring ``thought``/``think``, 1 if the predicted key set equals the ground truth's, else 0;
  −1 if unparsable or invalid.
* ``agentcpm-args``: −0.05 if fenced, −0.1 per extra key, −0.3 per missing key, plus the mean over the ground
  truth's keys of: POINT → distance score (in the box → 0.95 + 0.05·(1 − Chebyshev px to the box centre/1000)³,
  else 1 − L1 of the [0,1] ratios / 2; with no box, 1 inside a ±0.01 window); duration → 1 iff 150 < d ≤ 5000;
  TYPE → difflib ratio; ``to`` → direction equality or the distance score for a point; others → equality.
  −1 if unparsable or invalid.
* ``agentcpm`` = type + args (the ``--reward_funcs type args`` of ``rft/fsdp.sh``), schema reported as a part.

Ground truth: the action as the ``agentcpm`` style renders it (a table otherwise) — POINT from the canonical
point via the [0,1000] grid — with the element box in original pixels as AgentCPM's ``bbox`` and the
screenshot size as ``resolution``.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Optional

from ...frames import REL1000
from ..base import register
from ..parse import optional_style_render, per_ground_truth
from . import _json5

FENCE = re.compile(r"```json(.*?)```", re.DOTALL)
KEYS = {"thought", "POINT", "to", "duration", "PRESS", "TYPE", "STATUS"}
DIRECTIONS = ("up", "down", "left", "right")
PRESS = ("HOME", "BACK", "ENTER")
STATUS = ("continue", "finish", "satisfied", "impossible", "interrupt", "need_feedback")
IGNORED = ("think", "thought")


class SchemaError(ValueError):
    pass


def _is_integer(v: Any) -> bool:
    # JSON Schema (draft 2020-12, what jsonschema.validate uses by default): 3.0 is an integer, True is not
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_location(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 2
            and all(_is_integer(x) and 0 <= x <= 1000 for x in v))


def validate(action: Any) -> None:
    """AgentCPM-GUI's action schema: SchemaError on the first violation."""
    if not isinstance(action, dict):
        raise SchemaError("not an object")
    extra = set(action) - KEYS
    if extra:
        raise SchemaError(f"additional properties {sorted(extra)}")
    checks = {
        "thought": lambda v: isinstance(v, str),
        "POINT": _is_location,
        "to": lambda v: (isinstance(v, str) and v in DIRECTIONS) != _is_location(v),   # oneOf
        "duration": lambda v: _is_integer(v) and v >= 0,
        "PRESS": lambda v: isinstance(v, str) and v in PRESS,
        "TYPE": lambda v: isinstance(v, str),
        "STATUS": lambda v: isinstance(v, str) and v in STATUS,
    }
    for k, v in action.items():
        if not checks[k](v):
            raise SchemaError(f"{k}: invalid value {v!r}")


def load_action(res: str) -> dict:
    """Fence stripped (first ```` ```json … ``` ```` block), JSON5-parsed, schema-validated."""
    m = FENCE.search(res)
    text = m.group(1).strip() if m else res
    action = _json5.loads(text)
    validate(action)
    return action


def schema_value(res: str) -> float:
    try:
        load_action(res)
        return 0.5 if "```json" in res else 1.0
    except SchemaError:
        return 0.3
    except Exception:
        return 0.0


def _keys(d: dict) -> set:
    return set(d) - set(IGNORED)


def type_value(res: str, solution: dict) -> float:
    try:
        action = load_action(res)
        got, want = _keys(action), _keys(solution)
        if not got:
            return -1.0
        return 1.0 if got == want else 0.0
    except Exception:
        return -1.0


def dist_score(pred, gt_loc, resolution, bbox) -> float:
    xr, yr = pred[0] / 1000, pred[1] / 1000
    gxr, gyr = gt_loc[0] / 1000, gt_loc[1] / 1000
    (w, h), _ = resolution
    ax, ay = int(xr * w), int(yr * h)
    l1 = abs(xr - gxr) + abs(yr - gyr)
    if bbox is None or not isinstance(bbox, list):
        if gxr - 1e-2 <= xr <= gxr + 1e-2 and gyr - 1e-2 <= yr <= gyr + 1e-2:
            return 1.0
        return 1 - l1 / 2
    (l, t), (r, b) = bbox[0], bbox[1]
    if l <= ax <= r and t <= ay <= b:
        max_delta = max(abs(ax - (l + r) / 2), abs(ay - (t + b) / 2))
        return 0.95 + 0.05 * (1 - max_delta / 1000) ** 3
    return 1 - l1 / 2


def args_value(res: str, solution: dict, resolution, bboxes) -> float:
    try:
        action = load_action(res)
        got, want = _keys(action), _keys(solution)
        if not got:
            return -1.0
        score = -0.05 if "```json" in res else 0.0
    except Exception:
        return -1.0
    score -= 0.1 * len(got - want) + 0.3 * len(want - got)
    subs = []
    for k, sol in solution.items():
        if k in IGNORED:
            continue
        if k not in action:
            subs.append(0)
            continue
        v = action[k]
        if k == "POINT":
            subs.append(dist_score(v, sol, resolution, bboxes[0]))
        elif k == "duration":
            subs.append(1.0 if 150 < v <= 5000 else 0)
        elif k == "TYPE":
            subs.append(difflib.SequenceMatcher(None, v, sol).ratio())
        elif k == "to":
            if isinstance(sol, list):
                subs.append(dist_score(v, sol, resolution, bboxes[1]) if isinstance(v, list) else 0)
            else:
                subs.append(1.0 if not isinstance(v, list) and v == sol else 0)
        else:
            subs.append(1.0 if v == sol else 0)
    return score + sum(subs) / len(subs) if subs else score


# ------------------------------------------------------------------------------------------ ground truth
def _rel(gt, p) -> list[int]:
    return list(REL1000.to_model(p[0], p[1], gt.width, gt.height))


def _table(gt) -> Optional[dict]:
    a = gt.action
    if a.type == "click":
        return {"POINT": _rel(gt, a.point)}
    if a.type == "long_press":
        return {"POINT": _rel(gt, a.point), "duration": a.duration_ms or 1000}
    if a.type in ("swipe", "scroll", "drag"):
        start = _rel(gt, a.point) if a.point is not None else [500, 500]
        if a.end_point is not None:
            return {"POINT": start, "to": _rel(gt, a.end_point)}
        return {"POINT": start, "to": a.direction} if a.direction else None
    if a.type == "type":
        return {"TYPE": a.text or ""}
    if a.type in ("navigate_home", "navigate_back", "enter"):
        return {"PRESS": {"navigate_home": "HOME", "navigate_back": "BACK", "enter": "ENTER"}[a.type]}
    if a.type == "wait":
        return {"duration": a.duration_ms or 1000}
    if a.type == "status":
        return {"STATUS": {"complete": "finish"}.get(a.status, a.status)}
    return None


@per_ground_truth
def solution(gt) -> dict:
    """AgentCPM's ``solution`` dict for a canonical ground truth."""
    rendered = optional_style_render("agentcpm", gt)
    if rendered is not None:
        try:
            sol = load_action(rendered)
            sol.pop("thought", None)
            return sol
        except Exception:
            pass
    sol = _table(gt)
    if sol is None:
        raise ValueError(f"AgentCPM-GUI's action space cannot express {gt.action.type!r}")
    return sol


def _context(gt):
    box = gt.action.bbox
    bboxes = [[[box[0], box[1]], [box[2], box[3]]] if box is not None else None, None]
    return ((gt.width, gt.height), (gt.width, gt.height)), bboxes


@register("agentcpm-schema", "AgentCPM-GUI schema reward: 0.3 x {1 valid, 0.5 fenced, 0.3 schema violation, 0}",
          kind="preset", style="agentcpm", source="OpenBMB/AgentCPM-GUI rft/trainer/utils/gui_eval.py")
def agentcpm_schema(completion: str, gt=None) -> float:
    return 0.3 * schema_value(completion)


@register("agentcpm-type", "AgentCPM-GUI type reward: 1 if the action key set equals the ground truth's, -1 if "
          "unparsable", kind="preset", style="agentcpm", source="OpenBMB/AgentCPM-GUI rft/trainer/utils/gui_eval.py")
def agentcpm_type(completion: str, gt) -> float:
    return type_value(completion, solution(gt))


@register("agentcpm-args", "AgentCPM-GUI args reward: per-key scores (distance, duration, text ratio, equality) "
          "minus key penalties, -1 if unparsable", kind="preset", style="agentcpm",
          source="OpenBMB/AgentCPM-GUI rft/trainer/utils/gui_eval.py")
def agentcpm_args(completion: str, gt) -> float:
    resolution, bboxes = _context(gt)
    return args_value(completion, solution(gt), resolution, bboxes)


@register("agentcpm", "AgentCPM-GUI RFT: type + args (rft/fsdp.sh), schema reported", kind="preset",
          style="agentcpm", parts=("schema", "type", "args"), source="OpenBMB/AgentCPM-GUI rft/fsdp.sh")
def agentcpm(completion: str, gt) -> dict[str, float]:
    sol = solution(gt)
    resolution, bboxes = _context(gt)
    t, a = type_value(completion, sol), args_value(completion, sol, resolution, bboxes)
    return {"score": t + a, "schema": 0.3 * schema_value(completion), "type": t, "args": a}

