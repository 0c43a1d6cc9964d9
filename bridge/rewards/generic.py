"""Generic rewards: parse the completion with a style (the ground truth's own by default, option ``style``) and
compare the canonical action with the canonical ground truth, in ORIGINAL pixels.

Shared conventions (documented once here, tested in tests/test_rewards_generic.py):

* a completion the style cannot parse scores 0 on every reward;
* ``require_type`` (default True where it applies): a prediction of another action type scores 0, so a
  composite cannot be farmed by emitting the right point with the wrong action;
* a geometric/text reward for a ground truth that has nothing of that kind to compare (e.g. ``point_in_box``
  on ``navigate_back``) scores 1 when the action type matches, 0 otherwise — the GUI-R1 convention;
* distances are normalised by the screen size per axis, ``d = hypot(dx/W, dy/H)`` (the AITW convention).
"""
from __future__ import annotations

import math
from typing import Optional

from ..frames import box_center, finger_direction
from ..schema import Action
from ..metrics.text import token_f1  # noqa: F401  (GUI-R1 token F1, shared with the metrics; re-exported)
from .base import register
from .parse import has_think, parse

POINTED = frozenset({"click", "long_press", "double_click", "right_click"})
DIRECTIONAL = frozenset({"swipe", "scroll", "drag"})
TEXT_FIELD = {"type": "text", "select": "text", "answer": "text", "ask_user": "text", "open_app": "app",
              "key": "key", "status": "text"}


# ----------------------------------------------------------------------------------------------- helpers
#: types a style may not tell apart: Qwen's mobile_use and AgentCPM speak every finger movement as a swipe
SAME = {"scroll": "swipe"}


def same_type(pred: Action, gt: Action) -> bool:
    """Action types agree — scroll and swipe count as one (the direction rewards tell them apart); for
    ``status`` the status value must agree too (complete ≠ impossible)."""
    if SAME.get(pred.type, pred.type) != SAME.get(gt.type, gt.type):
        return False
    return gt.type != "status" or pred.status == gt.status


def target_point(a: Action) -> Optional[tuple[float, float]]:
    """Where an action touches: its point, else its box centre."""
    if a.point is not None:
        return a.point
    if a.bbox is not None:
        return box_center(a.bbox)
    return None


def direction_of(a: Action, gt=None) -> Optional[str]:
    """Finger direction of ``a``. With ``gt`` (the ground-truth step) a prediction with both points is read
    with the rule that decided the ground truth's stored direction: normalised units when the source decided
    so (AITW, GUI-Odyssey, AgentCPM importers; ``bridge.frames.finger_direction``), pixels otherwise."""
    moved = a.point is not None and a.end_point is not None
    if gt is not None and moved and normalised_rule(gt.action, gt.width, gt.height):
        return finger_direction(a.point, a.end_point, (gt.width, gt.height))
    if a.direction is not None:
        return a.direction
    if moved:
        return finger_direction(a.point, a.end_point)
    return None


def normalised_rule(a: Action, width: int, height: int) -> bool:
    """The stored direction is the normalised-units reading of the movement, and not the pixel one."""
    if a.direction is None or a.point is None or a.end_point is None:
        return False
    return (finger_direction(a.point, a.end_point, (width, height)) == a.direction
            != finger_direction(a.point, a.end_point))


def in_box(p, box, inclusive: bool = True) -> bool:
    x, y = p
    x1, y1, x2, y2 = box
    if inclusive:
        return x1 <= x <= x2 and y1 <= y <= y2
    return x1 < x < x2 and y1 < y < y2


def norm_distance(p, q, width: float, height: float) -> float:
    return math.hypot((p[0] - q[0]) / width, (p[1] - q[1]) / height)


def iou_continuous(a, b) -> float:
    """Area IoU of two boxes with real-valued corners (0 for empty union)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def iou_vlmr1(a, b) -> float:
    """VLM-R1's IoU (also GUI-G1, SE-GUI): the intersection counts inclusive integer pixels
    (``min(x2-1, …)`` … ``+1``, and only when strictly positive before the +1), the union uses exclusive
    widths. Raises ZeroDivisionError for an empty union, as the original does (callers score that 0)."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2] - 1, b[2] - 1), min(a[3] - 1, b[3] - 1)
    inter = (ix2 - ix1 + 1) * (iy2 - iy1 + 1) if ix1 < ix2 and iy1 < iy2 else 0
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter) / union


def _norm_text(s: str) -> str:
    return " ".join(s.lower().split())


def _text_of(a: Action) -> Optional[str]:
    field = TEXT_FIELD.get(a.type)
    return getattr(a, field) if field else None


def _pred(completion, gt, style) -> Optional[Action]:
    return parse(completion, gt, style).action


def _no_geometry_score(pred: Action, gt) -> float:
    return 1.0 if same_type(pred, gt.action) else 0.0


def gaussian_point_value(p, box, alpha: float = 0.5, ndigits: Optional[int] = 3) -> float:
    """GUI-G²'s point reward: a 2-D Gaussian at the box centre with σ = α·(box width, box height)."""
    sx, sy = alpha * (box[2] - box[0]), alpha * (box[3] - box[1])
    if sx <= 0 or sy <= 0:
        return 0.0
    cx, cy = box_center(box)
    v = math.exp(-0.5 * ((p[0] - cx) ** 2 / sx ** 2 + (p[1] - cy) ** 2 / sy ** 2))
    return round(v, ndigits) if ndigits is not None else v


def gaussian_plane_value(pred_box, box, alpha: float = 0.5, eps: float = 1e-8, ndigits: Optional[int] = 3) -> float:
    """GUI-G²'s coverage reward: exp(−Bhattacharyya distance) between the two boxes' Gaussians
    N(centre, diag((α·w)², (α·h)²)), with GUI-G²'s ε regularisation. Degenerate boxes score 0."""
    (pcx, pcy), (gcx, gcy) = box_center(pred_box), box_center(box)
    pvx, pvy = (alpha * (pred_box[2] - pred_box[0])) ** 2, (alpha * (pred_box[3] - pred_box[1])) ** 2
    gvx, gvy = (alpha * (box[2] - box[0])) ** 2, (alpha * (box[3] - box[1])) ** 2
    ax, ay = (pvx + gvx) / 2, (pvy + gvy) / 2
    det_avg = ax * ay
    if det_avg <= 0 or pvx * pvy <= 0 or gvx * gvy <= 0:
        return 0.0
    term1 = ((pcx - gcx) ** 2 / (ax + eps) + (pcy - gcy) ** 2 / (ay + eps)) / 8
    term2 = 0.5 * math.log(det_avg / math.sqrt(pvx * pvy * gvx * gvy + eps))
    v = math.exp(-(term1 + term2))
    return round(v, ndigits) if ndigits is not None else v


# ----------------------------------------------------------------------------------------------- rewards
@register("format", "1 if the style's parser recognises an action (optionally: and it opens with <think>…</think>)",
          options={"think": False, "style": None})
def format_reward(completion: str, gt, think: bool = False, style=None) -> float:
    if think and not has_think(completion):
        return 0.0
    return 1.0 if _pred(completion, gt, style) is not None else 0.0


@register("action_type", "1 if the predicted action type equals the ground truth's (status values must agree too)",
          options={"style": None})
def action_type(completion: str, gt, style=None) -> float:
    pred = _pred(completion, gt, style)
    return 1.0 if pred is not None and same_type(pred, gt.action) else 0.0


@register("point_in_box", "1 if the predicted point lies in the ground-truth element box (original px); with no "
          "box, 1 if within fallback_radius (normalised distance, AITW 0.14)",
          options={"inclusive": True, "require_type": True, "fallback_radius": 0.14, "style": None})
def point_in_box(completion: str, gt, inclusive: bool = True, require_type: bool = True,
                 fallback_radius: float = 0.14, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    truth = target_point(gt.action)
    if truth is None:
        return _no_geometry_score(pred, gt)
    p = target_point(pred)
    if p is None:
        return 0.0
    if gt.action.bbox is not None:
        return 1.0 if in_box(p, gt.action.bbox, inclusive) else 0.0
    return 1.0 if norm_distance(p, truth, gt.width, gt.height) <= fallback_radius else 0.0


@register("iou", "IoU of the predicted box with the ground-truth box (continuous, or convention=vlm-r1 for the "
          "integer-pixel form of VLM-R1/GUI-G1)",
          options={"convention": "continuous", "require_type": False, "style": None})
def iou(completion: str, gt, convention: str = "continuous", require_type: bool = False, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    if gt.action.bbox is None:
        return _no_geometry_score(pred, gt) if gt.action.point is None else 0.0
    if pred.bbox is None:
        return 0.0
    if convention == "vlm-r1":
        try:
            return iou_vlmr1(pred.bbox, gt.action.bbox)
        except ZeroDivisionError:
            return 0.0
    if convention != "continuous":
        raise ValueError(f"iou convention must be 'continuous' or 'vlm-r1', got {convention!r}")
    return iou_continuous(pred.bbox, gt.action.bbox)


@register("distance", "decays with the normalised distance between predicted and ground-truth points: "
          "linear max(0, 1-d/radius) or exp(-d/radius)",
          options={"radius": 0.14, "decay": "linear", "require_type": True, "style": None})
def distance(completion: str, gt, radius: float = 0.14, decay: str = "linear", require_type: bool = True,
             style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    truth = target_point(gt.action)
    if truth is None:
        return _no_geometry_score(pred, gt)
    p = target_point(pred)
    if p is None:
        return 0.0
    d = norm_distance(p, truth, gt.width, gt.height)
    if decay == "linear":
        return max(0.0, 1.0 - d / radius)
    if decay == "exp":
        return math.exp(-d / radius)
    raise ValueError(f"distance decay must be 'linear' or 'exp', got {decay!r}")


@register("gaussian_point", "GUI-G² point reward: Gaussian at the ground-truth box centre, σ = alpha·box size "
          "(alpha 0.5, rounded to 3 decimals); needs a ground-truth box", source="ZJU-REAL/GUI-G2 gaussian_grpo.py",
          options={"alpha": 0.5, "require_type": True, "style": None})
def gaussian_point(completion: str, gt, alpha: float = 0.5, require_type: bool = True, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    if gt.action.bbox is None:
        return _no_geometry_score(pred, gt) if gt.action.point is None else 0.0
    p = target_point(pred)
    return 0.0 if p is None else gaussian_point_value(p, gt.action.bbox, alpha)


@register("gaussian_plane", "GUI-G² coverage reward: exp(-Bhattacharyya distance) between predicted and "
          "ground-truth box Gaussians (alpha 0.5); needs boxes on both sides", source="ZJU-REAL/GUI-G2",
          options={"alpha": 0.5, "require_type": False, "style": None})
def gaussian_plane(completion: str, gt, alpha: float = 0.5, require_type: bool = False, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    if gt.action.bbox is None or pred.bbox is None:
        return 0.0
    return gaussian_plane_value(pred.bbox, gt.action.bbox, alpha)


@register("text_f1", "token-set F1 of the action's text (type/select/answer text, open_app app, key) — GUI-R1's "
          "definition, single-token substring counts as 1",
          options={"require_type": True, "single_token_substring": True, "style": None})
def text_f1(completion: str, gt, require_type: bool = True, single_token_substring: bool = True,
            style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    truth = _text_of(gt.action)
    if truth is None:
        return _no_geometry_score(pred, gt)
    got = _text_of(pred)
    return 0.0 if got is None else token_f1(got, truth, single_token_substring)


@register("text_match", "1 if the action's text matches: mode=substring (either contains the other, case- and "
          "space-insensitive) or exact (same normalisation)",
          options={"mode": "substring", "require_type": True, "style": None})
def text_match(completion: str, gt, mode: str = "substring", require_type: bool = True, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or (require_type and not same_type(pred, gt.action)):
        return 0.0
    truth = _text_of(gt.action)
    if truth is None:
        return _no_geometry_score(pred, gt)
    got = _text_of(pred)
    if got is None:
        return 0.0
    a, b = _norm_text(got), _norm_text(truth)
    if mode == "exact":
        return 1.0 if a == b else 0.0
    if mode != "substring":
        raise ValueError(f"text_match mode must be 'substring' or 'exact', got {mode!r}")
    return 1.0 if (a in b or b in a) and (a or not b) else 0.0


@register("swipe_direction", "1 if a swipe/scroll/drag goes the ground truth's finger direction (the direction, "
          "or the dominant axis from start to end point)", options={"style": None})
def swipe_direction(completion: str, gt, style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None:
        return 0.0
    want = direction_of(gt.action) if gt.action.type in DIRECTIONAL else None
    if want is None:
        return _no_geometry_score(pred, gt)
    if pred.type not in DIRECTIONAL:
        return 0.0
    return 1.0 if direction_of(pred, gt) == want else 0.0


@register("action_match", "step success: 1 if the type matches and the arguments do (point in box, else within "
          "radius; direction; text F1 >= f1; app/key/status equal)",
          options={"radius": 0.14, "f1": 0.5, "inclusive": True, "style": None})
def action_match(completion: str, gt, radius: float = 0.14, f1: float = 0.5, inclusive: bool = True,
                 style=None) -> float:
    pred = _pred(completion, gt, style)
    if pred is None or not same_type(pred, gt.action):
        return 0.0
    a = gt.action
    if a.type in POINTED:
        truth, p = target_point(a), target_point(pred)
        if truth is not None:
            if p is None:
                return 0.0
            ok = in_box(p, a.bbox, inclusive) if a.bbox is not None else \
                norm_distance(p, truth, gt.width, gt.height) <= radius
            if not ok:
                return 0.0
    if a.type in DIRECTIONAL and direction_of(a) is not None and direction_of(pred, gt) != direction_of(a):
        return 0.0
    if a.type in ("type", "select", "answer", "ask_user") and a.text is not None:
        return 1.0 if pred.text is not None and token_f1(pred.text, a.text) >= f1 else 0.0
    if a.type == "open_app" and a.app is not None:
        return 1.0 if pred.app is not None and _norm_text(pred.app) == _norm_text(a.app) else 0.0
    if a.type == "key" and a.key is not None:
        return 1.0 if pred.key is not None and _norm_text(pred.key) == _norm_text(a.key) else 0.0
    return 1.0
