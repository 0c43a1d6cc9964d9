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

import json
import os
import re

from ..base import log, register
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


# ------------------------------------------------------------------------------------------------ llm_reward
#: VLM-R1's judge instruction and request, word for word in effect (om-ai-lab/VLM-R1 grpo_jsonl.py at
#: e0e622f012d16f29f4a1ff3b99d60a0081308558, ``evaluate_answer_similarity``): two user messages, temperature 0
LLM_INSTRUCTION = ("You are a evaluation expert. First, analyze the student's response to identify and extract their "
                   "final answer. Then, compare the extracted answer with the correct solution. Output ONLY '1.0' if "
                   "the extracted answer matches the correct solution in meaning, or '0.0' if the student's response "
                   "does not contain a clear or correct answer. No other output is allowed.")
LLM_MODEL = "qwen2.5:7b"
_GT_ANSWER = re.compile(r"<answer>(.*?)</answer>")              # no DOTALL on the solution, as VLM-R1
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def llm_answers(completion: str, solution: str) -> tuple[str, str]:
    """(student answer, ground truth) as VLM-R1's ``llm_reward`` extracts them: the solution's first
    ``<answer>`` (single line) else the whole solution; the completion's LAST ``<answer>`` (any lines) else the
    whole completion; both stripped."""
    m = _GT_ANSWER.search(solution)
    truth = m.group(1).strip() if m else solution.strip()
    found = answers(completion)
    student = found[-1].strip() if found else completion.strip()
    return student, truth


def answers(text: str) -> list[str]:
    """``_ANSWER.findall(text)`` in linear time: the regex retries from every ``<answer>`` when none is closed,
    quadratic on a model repeating the tag (64 KB of them took seconds)."""
    out, pos = [], 0
    while True:
        i = text.find("<answer>", pos)
        j = text.find("</answer>", i + 8) if i >= 0 else -1
        if j < 0:
            return out
        out.append(text[i + 8:j])
        pos = j + 9


def llm_messages(student: str, truth: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": LLM_INSTRUCTION},
            {"role": "user", "content": f"Student's response: {student}\nCorrect solution: {truth}\n"
                                        "Output only 1.0 or 0.0:"}]


def _solution(gt) -> str:
    """VLM-R1's ``solution`` for a step: the target text the export writes (the ground truth in its style)."""
    from ..parse import optional_style_render

    text = optional_style_render(gt.style, gt)
    return text if text is not None else json.dumps(gt.action.compact(), ensure_ascii=False, sort_keys=True)


@register("vlm-r1-llm", "VLM-R1 llm_reward exactly: <answer> extraction, its judge prompt, float(reply) unclamped; "
          "exact string match when the judge fails or replies with no number", kind="preset",
          source="om-ai-lab/VLM-R1 src/open-r1-multimodal/src/open_r1/grpo_jsonl.py llm_reward",
          options={"endpoint": None, "model": LLM_MODEL, "api_key_env": "OPENAI_API_KEY", "timeout": 60.0,
                   "retries": 2})
def vlm_r1_llm(completion: str, gt, endpoint=None, model: str = LLM_MODEL, api_key_env: str = "OPENAI_API_KEY",
               timeout: float = 60.0, retries: int = 2) -> float:
    """VLM-R1's ``llm_reward`` (see :func:`llm_answers`, :data:`LLM_INSTRUCTION`). The endpoint is the option,
    else ``$OPENAI_API_BASE`` as VLM-R1's OpenAI client reads it (default ``https://api.openai.com/v1``). Any
    failure — no endpoint answer, an HTTP error, a reply ``float()`` cannot read — scores the exact-match
    fallback 1.0 / 0.0 of the two extracted strings, as the original's ``except`` does; a readable reply is
    returned as is (``float('0.5')`` is 0.5; nothing is clamped). The transport is bounded (``timeout`` per
    attempt, ``retries``) where the original uses the openai client's defaults."""
    from ..judge import ask_messages

    student, truth = llm_answers(completion, _solution(gt))
    endpoint = endpoint or os.environ.get("OPENAI_API_BASE", "https://api.openai.com/v1")
    try:
        reply = ask_messages(llm_messages(student, truth), endpoint=endpoint, model=model,
                             api_key=os.environ.get(api_key_env) or None, timeout=timeout, retries=retries)
        return float(reply.strip())
    except (RuntimeError, ValueError) as e:
        log.warning("vlm-r1-llm: %s; exact-match fallback", e)
        return 1.0 if student == truth else 0.0
