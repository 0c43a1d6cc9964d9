"""UI-R1's rewards (lll6gg/UI-R1 ``src/ui_r1/src/open_r1/grpo_json_action_coord.py``; docs/rewards.md).

Sum of three 0/1 rewards (max 3) on ``<think>…</think> <answer>[{'action': …, 'coordinate': [x, y]}]</answer>``:

* ``action``: the action from ``'action':\\s*'(\\w+)'`` (fallback unquoted ``'action':\\s*(\\w+)``) inside the
  answer equals the ground truth's, case-sensitively;
* ``coord``: types match and, for ``click``, the FIRST ``[int, int]`` in the answer, scaled to original pixels
  with ``int(x · W / w_model)`` (truncation, as the original), lies in the ground-truth box INCLUSIVELY; a
  non-click with matching type scores 1;
* ``format``: fullmatch of ``<think>.*?</think>\\s*<answer>.*?</answer>``.

The ground-truth box stays in original pixels (UI-R1 keeps its data boxes there); a click ground truth
without a box is treated as the degenerate box at its point. Action names: click, open_app, scroll
(canonical scroll/swipe), navigate_back, input_text (canonical type); other types keep their canonical name.
"""
from __future__ import annotations

import re
from typing import Optional

from ..base import register
from ._match import answer_body, think_answer_fullmatch

ACTION_RE = re.compile(r"'action':\s*'(\w+)'")
ACTION_RE_UNQUOTED = re.compile(r"'action':\s*(\w+)")
COORD_RE = re.compile(r"\[(\d+),\s*(\d+)]")
NAMES = {"click": "click", "open_app": "open_app", "scroll": "scroll", "swipe": "scroll",
         "navigate_back": "navigate_back", "type": "input_text"}


def extract_action(completion: str) -> Optional[str]:
    body = answer_body(completion)
    if body is None:
        return None
    body = body.strip()
    m = ACTION_RE.search(body) or ACTION_RE_UNQUOTED.search(body)
    return m.group(1) if m else None


def extract_coord(completion: str) -> tuple[int, int]:
    body = answer_body(completion)
    m = COORD_RE.search(body.strip()) if body is not None else None
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def gt_action_name(gt) -> str:
    return NAMES.get(gt.action.type, gt.action.type)


def gt_box(gt) -> Optional[tuple[float, float, float, float]]:
    a = gt.action
    if a.bbox is not None:
        return a.bbox
    if a.point is not None:
        return (a.point[0], a.point[1], a.point[0], a.point[1])
    return None


def action_reward(completion: str, gt) -> float:
    pred, want = extract_action(completion), gt_action_name(gt)
    return 1.0 if pred and want and pred == want else 0.0


def coord_reward(completion: str, gt) -> float:
    pred, want = extract_action(completion), gt_action_name(gt)
    if not (pred and want and pred == want):
        return 0.0
    if pred != "click":
        return 1.0
    box = gt_box(gt)
    if box is None:
        return 0.0
    mw, mh = gt.frame.model_size(gt.width, gt.height)
    x, y = extract_coord(completion)
    x, y = int(x * (gt.width / mw)), int(y * (gt.height / mh))
    return 1.0 if box[0] <= x <= box[2] and box[1] <= y <= box[3] else 0.0


@register("ui-r1", "UI-R1: action-type + click-coordinate (inclusive box, original px) + think/answer format, "
          "sum (max 3)", kind="preset", style="gui-r1", parts=("action", "coord", "format"),
          source="lll6gg/UI-R1 src/ui_r1/src/open_r1/grpo_json_action_coord.py")
def ui_r1(completion: str, gt) -> dict[str, float]:
    a, c = action_reward(completion, gt), coord_reward(completion, gt)
    f = 1.0 if think_answer_fullmatch(completion) else 0.0
    return {"score": a + c + f, "action": a, "coord": c, "format": f}
