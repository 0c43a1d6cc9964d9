"""SE-GUI's rewards (YXB-NKU/SE-GUI ``src/open-r1-multimodal/src/open_r1/vlm_modules/qwen_module.py``;
docs/rewards.md): ``format`` + ``point`` (dense point reward), summed (max 3).

The completion is a Qwen2.5-VL function call ``<tool_call>{"name": …, "arguments": {"action": …,
"coordinate": [x, y]}}</tool_call>`` in the smart-resized image's pixels.

* ``format`` = 1 if ``<tool_call>.*?\\{.*\\[\\d+,\\s*\\d+\\].*\\}.*?</tool_call>`` is found (DOTALL);
* ``point``: the first tool call's body is ``json.loads``-ed; ``arguments.coordinate`` must be a 2-list of
  numbers (bools count, as in Python). base = 1 if inside the box (inclusive); decay = 1 − (d/d_max)² when the
  RAW normalised distance d ≤ 1, else 0, with d_max the largest distance from the box centre to an image
  corner (coordinates normalised by W, H). reward = base + decay ∈ [0, 2]. Upstream quirks kept: the decay is
  1 − (d/d_max)², not the paper's (1 − d/d_max)²; the guard is on d, not d/d_max.

The solution ``[x1, y1, x2, y2, W, H]`` lives in the resized frame (SE-GUI resizes images before training):
the canonical box is mapped with ``gt.frame`` and W×H is the model frame's size.
"""
from __future__ import annotations

import json
import math
import re

from ..base import register
from ..parse import model_box
from ._match import chain_exists

PAIR = re.compile(r"\[\d+,\s*\d+\]")
TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def format_reward(completion: str) -> float:
    i = completion.find("<tool_call>")
    return 1.0 if i >= 0 and chain_exists(completion, i + 11, "{", PAIR, "}", "</tool_call>") else 0.0


def first_tool_call(completion: str):
    """``TOOL_CALL.search(completion).group(1)`` (or None) in linear time: the regex retries from every
    ``<tool_call>`` when none is closed — quadratic on a model repeating that tag (one token for Qwen)."""
    i = completion.find("<tool_call>")
    j = completion.find("</tool_call>", i + 11) if i >= 0 else -1
    return completion[i + 11:j] if j >= 0 else None


def point_value(completion: str, sol) -> float:
    try:
        body = first_tool_call(completion)
        if body is None:
            return 0.0
        coordinate = json.loads(body.strip()).get("arguments", {}).get("coordinate", None)
        if not (coordinate and isinstance(coordinate, list) and len(coordinate) == 2):
            return 0.0
        x, y = coordinate
        if not (isinstance(x, (int, float)) and isinstance(y, (int, float))):
            return 0.0
        box, (w, h) = sol[:4], sol[4:6]
        base = 1.0 if box[0] <= x <= box[2] and box[1] <= y <= box[3] else 0.0
        ncx, ncy = (box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h
        max_d = max(math.hypot(ncx - cx, ncy - cy) for cx in (0, 1) for cy in (0, 1))
        d = math.hypot(x / w - ncx, y / h - ncy)
        d_norm = d / max_d if max_d > 0 else 0
        return base + (1 - d_norm ** 2 if d <= 1 else 0)
    except Exception:
        return 0.0


def solution(gt) -> list[float]:
    a = gt.action
    box = a.bbox if a.bbox is not None else (a.point[0], a.point[1]) * 2
    w, h = gt.frame.model_size(gt.width, gt.height)
    return [*model_box(gt, box), w, h]


@register("se-gui", "SE-GUI: tool-call format + dense point reward (inside box + 1-(d/d_max)^2 decay), sum "
          "(max 3), in smart-resized pixels", kind="preset", style="qwen25vl", parts=("format", "point"),
          source="YXB-NKU/SE-GUI src/open-r1-multimodal/src/open_r1/vlm_modules/qwen_module.py")
def se_gui(completion: str, gt) -> dict[str, float]:
    f = format_reward(completion)
    a = gt.action
    p = point_value(completion, solution(gt)) if (a.bbox is not None or a.point is not None) else 0.0
    return {"score": f + p, "format": f, "point": p}
