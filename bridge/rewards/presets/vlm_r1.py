"""VLM-R1's generic rewards (om-ai-lab/VLM-R1 ``grpo_jsonl.py`` and ``vlm_modules/qwen_module.py``;
docs/rewards.md, docs/backends.md).

* ``vlm-r1-format``: 1 iff the whole completion fullmatches ``<think>.*?</think>\\s*<answer>.*?</answer>``.
* ``vlm-r1-iou`` (the REC task's ``format_reward_rec`` + ``iou_reward``): format 1 if
  ``<think>.*?</think>\\s*<answer>.*?\\{.*\\[\\d+,\\s*\\d+,\\s*\\d+,\\s*\\d+\\].*\\}.*?</answer>`` is found;
  iou = IoU (VLM-R1 integer-pixel convention, no threshold) of the first ``[int, int, int, int]`` in the
  answer — rescaled from the model input size to original pixels (``x / input_w · W``, what VLM-R1 derives from
  ``image_grid_thw``) — with the ground-truth box in original pixels.
"""
from __future__ import annotations

import re

from ..base import register
from ..generic import iou_vlmr1
from ._match import answer_body, think_answer_fullmatch, think_answer_then

QUAD = re.compile(r"\[\d+,\s*\d+,\s*\d+,\s*\d+\]")
QUAD_GROUPS = re.compile(r"\[(\d+),\s*(\d+),\s*(\d+),\s*(\d+)]")


@register("vlm-r1-format", "VLM-R1 format: 1 iff the completion is exactly <think>…</think> <answer>…</answer>",
          kind="preset", source="om-ai-lab/VLM-R1 src/open-r1-multimodal/src/open_r1/grpo_jsonl.py format_reward")
def vlm_r1_format(completion: str, gt=None) -> float:
    return 1.0 if think_answer_fullmatch(completion) else 0.0


def rec_format(completion: str) -> float:
    return 1.0 if think_answer_then(completion, "{", QUAD, "}") else 0.0


def iou_value(completion: str, gt) -> float:
    body = answer_body(completion)
    m = QUAD_GROUPS.search(body.strip()) if body is not None else None
    if not m or gt.action.bbox is None:
        return 0.0
    box = [int(v) for v in m.groups()]
    box = list(gt.frame.box_from_model(box, gt.width, gt.height))
    try:
        return iou_vlmr1(box, gt.action.bbox)
    except ZeroDivisionError:
        return 0.0


@register("vlm-r1-iou", "VLM-R1 REC: format_reward_rec + IoU of the first [x1,y1,x2,y2] rescaled from the model "
          "input to original px (VLM-R1 integer-pixel IoU)", kind="preset", style="qwen25vl",
          parts=("format", "iou"), source="om-ai-lab/VLM-R1 vlm_modules/qwen_module.py iou_reward")
def vlm_r1_iou(completion: str, gt) -> dict[str, float]:
    f, i = rec_format(completion), iou_value(completion, gt)
    return {"score": f + i, "format": f, "iou": i}
