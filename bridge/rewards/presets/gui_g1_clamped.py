"""``gui-g1-clamped``: GUI-G1's reward (:mod:`.gui_g1`) with the box term bounded, so the total stays in
[0, 1.375] as the documented range says.

Upstream (Yuqi-Zhou/GUI-G1 ``grpo_rec.py``, reproduced unchanged by ``gui-g1``) computes the box term
0.125 × 4 / (1/a + 1/b + 1/c + 1/d) with a = 1 − |Δx1|/W etc. An edge farther than the image size from the truth
makes its closeness negative, and the harmonic mean of mixed signs is unbounded: an off-screen box scored 2101.9.
Here each closeness is clamped to [0, 1] first; one at 0 makes the box term 0 (the harmonic mean's limit), so
box ∈ [0, 0.125]. Everything else (parsing, hit, IoU, the frame) is ``gui-g1``'s.
"""
from __future__ import annotations

from ..base import register
from .gui_g1 import gui_g1


def _clamped_box(completion: str, gt) -> float:
    from ..parse import model_box
    from .gui_g1 import predicted_box

    a = gt.action
    box = a.bbox if a.bbox is not None else ((a.point[0], a.point[1]) * 2 if a.point is not None else None)
    try:
        sol, pred = model_box(gt, box), predicted_box(completion)
        w, h = gt.frame.model_size(gt.width, gt.height)
        a, c, b, d = (min(1.0, max(0.0, 1 - abs(s - p) / n)) for s, p, n in zip(sol, pred, (w, h, w, h)))
        return 0.0 if min(a, b, c, d) <= 0 else 0.125 * 4 / (1 / a + 1 / b + 1 / c + 1 / d)  # upstream's order
    except Exception:  # as gui-g1: a failure scores the part 0
        return 0.0


@register("gui-g1-clamped", "GUI-G1 with the box term's edge closeness clamped to [0, 1]: total in [0, 1.375] "
          "(upstream's box term is unbounded for far-off boxes)", kind="preset", style="qwen25vl",
          parts=("hit", "iou", "box"), source="Yuqi-Zhou/GUI-G1 src/open-r1-multimodal/src/open_r1/grpo_rec.py "
          "(box term clamped)")
def gui_g1_clamped(completion: str, gt) -> dict[str, float]:
    parts = gui_g1(completion, gt)
    if parts["box"] == 0.0:
        return parts
    box = _clamped_box(completion, gt)
    return {**parts, "box": box, "score": parts["hit"] + parts["iou"] + box}
