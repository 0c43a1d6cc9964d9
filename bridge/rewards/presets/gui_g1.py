"""GUI-G1's grounding rewards (Yuqi-Zhou/GUI-G1 ``src/open-r1-multimodal/src/open_r1/grpo_rec.py``;
docs/rewards.md), the ``--reward_funcs iou hit box`` set of its run script, summed.

The completion is a Qwen2.5-VL grounding answer ``[{"bbox_2d": [x1, y1, x2, y2], …}]``, optionally inside a
markdown fence: when a line is exactly ```` ```json ```` the text after it up to the next ```` ``` ```` is used.
It is read with :func:`ast.literal_eval` — GUI-G1 itself does this — and the first item's ``bbox_2d`` is scored:

* ``hit`` = 1 if the predicted box centre lies in the ground-truth box (inclusive);
* ``iou`` = 0.25 × IoU with VLM-R1's integer-pixel convention;
* ``box`` = 0.125 × 4 / (1/a + 1/b + 1/c + 1/d), a = 1 − |Δx1|/W, b = 1 − |Δx2|/W, c = 1 − |Δy1|/H,
  d = 1 − |Δy2|/H.

Any failure (unparsable, missing key, zero division) scores that part 0.

Frame. GUI-G1 (``grpo_rec.py`` at Yuqi-Zhou/GUI-G1 bb4e586feb3247467dcfc2376b1b005c84c9df57) compares the
predicted ``bbox_2d`` with the solution box EXACTLY AS STORED in its data, and ``box_reward`` divides by the
size of the image FILE (``img.width`` / ``img.height`` of the loaded PIL image), not of the processor's
resized input; it never maps either side. Here the ground-truth box is mapped to the model frame
(``gt.frame``) and W×H is the model frame's size, so that the three terms compare like with like whatever frame
the dataset is stored in. The two agree when the stored boxes are already in the model's frame and the image
file is the size the model sees; otherwise GUI-G1's own numbers mix frames (docs/rewards.md).
"""
from __future__ import annotations

import ast

from ..base import register
from ..generic import iou_vlmr1
from ..parse import model_box


def fenced_json(text: str) -> str:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line == "```json":
            return "\n".join(lines[i + 1:]).split("```")[0]
    return text


def predicted_box(completion: str):
    return ast.literal_eval(fenced_json(completion))[0]["bbox_2d"]


def _safe(fn) -> float:
    try:
        return float(fn())
    except Exception:
        return 0.0


@register("gui-g1", "GUI-G1: hit (box centre inside) + 0.25*IoU (VLM-R1 convention) + 0.125*harmonic edge "
          "closeness, on a bbox_2d JSON answer in the model's pixel frame", kind="preset", style="qwen25vl",
          parts=("hit", "iou", "box"), source="Yuqi-Zhou/GUI-G1 src/open-r1-multimodal/src/open_r1/grpo_rec.py")
def gui_g1(completion: str, gt) -> dict[str, float]:
    a = gt.action
    box = a.bbox if a.bbox is not None else ((a.point[0], a.point[1]) * 2 if a.point is not None else None)
    if box is None:
        return {"score": 0.0, "hit": 0.0, "iou": 0.0, "box": 0.0}
    sol = model_box(gt, box)
    w, h = gt.frame.model_size(gt.width, gt.height)
    try:
        pred = predicted_box(completion)
    except Exception:
        return {"score": 0.0, "hit": 0.0, "iou": 0.0, "box": 0.0}

    def hit():
        x, y = (pred[0] + pred[2]) / 2, (pred[1] + pred[3]) / 2
        return 1.0 if sol[0] <= x <= sol[2] and sol[1] <= y <= sol[3] else 0.0

    def edge():
        a_ = 1 - abs(sol[0] - pred[0]) / w
        c_ = 1 - abs(sol[1] - pred[1]) / h
        b_ = 1 - abs(sol[2] - pred[2]) / w
        d_ = 1 - abs(sol[3] - pred[3]) / h
        return 0.125 * 4 / (1 / a_ + 1 / b_ + 1 / c_ + 1 / d_)

    parts = {"hit": _safe(hit), "iou": _safe(lambda: 0.25 * iou_vlmr1(pred, sol)), "box": _safe(edge)}
    return {"score": parts["hit"] + parts["iou"] + parts["box"], **parts}
