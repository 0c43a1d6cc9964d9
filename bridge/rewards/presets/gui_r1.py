"""GUI-R1's ``r1gui`` reward (ritzz-ai/GUI-R1 ``verl/utils/reward_score/r1gui.py``; docs/rewards.md).

``overall = 0.8·accuracy + 0.2·format``, both 0/1, on the completion in GUI-R1's own format
``<think>…</think> <answer>[{'action': …, 'point': [x, y], 'input_text': …}]</answer>``.

Reproduced verdicts, edge rules included:

* format: whole-string fullmatch of ``<think>.*?</think>\\s*<answer>.*?</answer>``; the answer body must be a
  Python literal list of dicts with ``action`` (str), ``point`` (first two items ints — floats fail; bools pass,
  as in Python), ``input_text`` (str); ``type|select|open_app`` need a text other than ``'no input text'``;
  ``scroll`` needs one of left/right/up/down. An empty list passes.
* accuracy: action from ``'action':\\s*'(\\w+)'`` (so JSON double quotes → 0 and ``close/delete`` never
  matches), lower-cased, must equal the ground truth's. click: point from the last ``[int, int]`` inside braces
  on a line (``[0, 0]`` when absent); a point ground truth needs squared distance < 140², a box needs strictly
  inside. type/select/scroll: token-set F1 of ``'input_text':\\s*'(.*?)'`` ≥ 0.5 (single-token substring = 1).
  Any other action: type match suffices.

One deliberate difference: the original ``eval``s the answer body; we use :func:`ast.literal_eval`, so an
answer that is a Python *expression* (``[100+20, 5]``, a call, a name) fails format here where the original
would execute it. Verdicts on literal answers are identical.

The ground truth is converted to the frame the original compared in: ``gt_bbox`` in the model's pixel frame
(canonical box or point mapped with ``gt.frame``, unrounded floats — GUI-R1 multiplies its normalised boxes by
the processed image size), action name and ``input_text`` as the ``gui-r1`` style renders the action.
"""
from __future__ import annotations

import ast
import re
from typing import Any, Optional

from ...frames import flip_direction
from ..base import register
from ..generic import token_f1
from ..parse import model_box, model_point, optional_style_render, per_ground_truth
from ._match import answer_body, last_pair_in_braces, think_answer_fullmatch

ACTION_RE = re.compile(r"'action':\s*'(\w+)'")
INPUT_TEXT_RE = re.compile(r"'input_text':\s*'(.*?)'")
NO_TEXT = "no input text"
SCROLL_DIRS = ("left", "right", "up", "down")
POINT_RADIUS = 140


def format_reward(completion: str) -> float:
    if not think_answer_fullmatch(completion):
        return 0.0
    body = answer_body(completion).strip()
    try:
        actions = ast.literal_eval(body)
    except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError…: not a literal → format 0
        return 0.0
    try:
        if not isinstance(actions, list):
            return 0.0
        for a in actions:
            if not isinstance(a, dict):
                return 0.0
            if "action" not in a or "point" not in a or "input_text" not in a:
                return 0.0
            if not isinstance(a["action"], str):
                return 0.0
            # indexing, like the original: a string, bytes or dict point is looked into, not rejected
            if not (isinstance(a["point"][0], int) and isinstance(a["point"][1], int)):
                return 0.0
            if not isinstance(a["input_text"], str):
                return 0.0
            if a["action"] in ("type", "select", "open_app") and a["input_text"] == NO_TEXT:
                return 0.0
            if a["action"] == "scroll" and a["input_text"] not in SCROLL_DIRS:
                return 0.0
        return 1.0
    except Exception:
        return 0.0


def extract_action(completion: str) -> str:
    body = answer_body(completion)
    m = ACTION_RE.search(body.strip()) if body is not None else None
    return m.group(1) if m else "no action"


def extract_input_text(completion: str) -> str:
    body = answer_body(completion)
    m = INPUT_TEXT_RE.search(body.strip()) if body is not None else None
    return m.group(1) if m else NO_TEXT


def extract_point(completion: str) -> tuple[int, int]:
    body = answer_body(completion)
    pair = last_pair_in_braces(body.strip()) if body is not None else None
    return pair if pair is not None else (0, 0)


def accuracy_reward(completion: str, truth: dict[str, Any]) -> float:
    """``truth`` = GUI-R1's ground-truth record ``{"action", "gt_bbox", "input_text"}`` (model frame)."""
    try:   # all three first, as the original does: int() of a 4,300+-digit point raises there → accuracy 0
        action, point, text = extract_action(completion), extract_point(completion), extract_input_text(completion)
    except Exception:
        return 0.0
    return _judge(action, point, text, truth)


def _judge(action: str, point: tuple[int, int], text: str, truth: dict[str, Any]) -> float:
    """The accuracy rule on the predicted action, point and input text."""
    try:
        gt_action = truth["action"].lower()
        if action.lower() != gt_action:
            return 0.0
        if gt_action == "click":
            box = truth["gt_bbox"]
            px, py = point
            if len(box) == 2:
                return 1.0 if (px - box[0]) ** 2 + (py - box[1]) ** 2 < POINT_RADIUS ** 2 else 0.0
            if len(box) == 4:
                return 1.0 if box[0] < px < box[2] and box[1] < py < box[3] else 0.0
            return 0.0
        if gt_action in ("type", "select", "scroll"):
            return 1.0 if token_f1(text, truth["input_text"]) >= 0.5 else 0.0
        return 1.0
    except Exception:
        return 0.0


#: The answer GUI-R1's prompt asks for, one action written as the model is trained to write it:
#: ``[{'action': 'click', 'point': [12, 34], 'input_text': 'no input text'}]``. Such a body is read with one
#: anchored match instead of ``ast.literal_eval`` (which compiles it: most of a call's time) and three searches;
#: every other body takes the general path above. The shape is narrow enough that the verdicts are the same by
#: construction, checked against the general path in tests/test_rewards_gui_r1.py:
#: * a Python literal: plain decimal ints of at most 9 digits without leading zeros (``05`` is a SyntaxError;
#:   int() refuses 4,300+ digits), single-quoted strings
#:   without quotes, backslashes, line breaks, NUL or lone surrogates (compile refuses them); so literal_eval gives [{action: str, point: [int, int],
#:   input_text: str}] and format is decided by the action/input_text rules alone;
#: * the action is ``\w+`` in ASCII, so ``'action':\s*'(\w+)'`` finds exactly it; the input text has no quote,
#:   so ``'input_text':\s*'(.*?)'`` finds exactly it;
#: * no space inside ``[x, y]``'s brackets and no bracket or brace in the input text, so the point is the only
#:   ``[d, d]`` the coordinate search ``\{.*\[(\d+),\s*(\d+)]\s*.*\}`` can match, on the one line.
_CANON = re.compile(r"\[\{'action': *'([A-Za-z0-9_]+)', *'point': *\[(0|[1-9][0-9]{0,8}), *(0|[1-9][0-9]{0,8})\], *"
                    r"'input_text': *'([^'\\\n\r\x00\[\]{}\ud800-\udfff]*)'\}\]")


# canonical → GUI-R1 action vocabulary (complete, close/delete, press_home, click, press_back, type, select,
# scroll, enter; open_app appears in its format rules). Used when the gui-r1 style is unavailable.
_NAMES = {"click": "click", "type": "type", "select": "select", "scroll": "scroll", "swipe": "scroll",
          "navigate_back": "press_back", "navigate_home": "press_home", "enter": "enter", "open_app": "open_app"}


def _table(action) -> tuple[str, str]:
    t = action.type
    if t == "status" and action.status == "complete":
        return "complete", NO_TEXT
    if t == "key" and action.key == "close/delete":
        return "close/delete", NO_TEXT
    name = _NAMES.get(t, t)
    if t in ("type", "select"):
        return name, action.text or NO_TEXT
    if t == "open_app":
        return name, action.app or NO_TEXT
    if t in ("scroll", "swipe") and action.direction:
        # GUI-R1 data follows OS-Atlas "SCROLL [UP]" content semantics; canonical is the finger direction
        return name, flip_direction(action.direction)
    return name, NO_TEXT


@per_ground_truth
def ground_truth_record(gt) -> dict[str, Any]:
    """The ``{"action", "gt_bbox", "input_text"}`` record GUI-R1's reward receives, for a canonical ground truth."""
    name, text = None, None
    rendered = optional_style_render("gui-r1", gt)
    body = answer_body(rendered) if rendered is not None else None
    try:  # the style's own target is the truth the model was trained on (GUI-R1's gt_action/gt_input_text)
        first = ast.literal_eval(body.strip())[0]
        name, text = str(first["action"]), str(first["input_text"])
    except Exception:
        pass
    if name is None:
        name, text = _table(gt.action)
    a = gt.action
    if a.bbox is not None:
        box: list[float] = list(model_box(gt, a.bbox))
    elif a.point is not None:
        box = list(model_point(gt, *a.point))
    else:
        box = []
    return {"action": name, "gt_bbox": box, "input_text": text}


@register("gui-r1", "GUI-R1 r1gui: 0.8*accuracy + 0.2*format (140 px point rule, strict box, token-F1 >= 0.5, "
          "single-quoted Python-literal answers)", kind="preset", style="gui-r1", parts=("format", "accuracy"),
          source="ritzz-ai/GUI-R1 verl/utils/reward_score/r1gui.py")
def gui_r1(completion: str, gt, truth: Optional[dict] = None) -> dict[str, float]:
    truth = truth if truth is not None else ground_truth_record(gt)
    body = answer_body(completion)
    m = _CANON.fullmatch(body.strip()) if body is not None else None
    if m is None:
        f, acc = format_reward(completion), accuracy_reward(completion, truth)
    else:
        action, x, y, text = m.groups()
        f = 1.0 if think_answer_fullmatch(completion) and not (
            action in ("type", "select", "open_app") and text == NO_TEXT
            or action == "scroll" and text not in SCROLL_DIRS) else 0.0
        acc = _judge(action, (int(x), int(y)), text, truth)
    return {"score": 0.8 * acc + 0.2 * f, "format": f, "accuracy": acc}
