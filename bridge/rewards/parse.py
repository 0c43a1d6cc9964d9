"""Shared helpers: find the style that parses a completion, parse once per (style, text, size), and normalise
the completion objects trainers pass (strings, assistant-message lists, typed content blocks)."""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from functools import lru_cache
from typing import Any, Optional

from ..errors import BridgeError
from ..frames import Frame
from .base import log

THINK_RE = re.compile(r"\s*<think>.*?</think>", re.DOTALL)

_styles: dict[tuple[str, Frame], Any] = {}
_parsed: "OrderedDict[tuple, Any]" = OrderedDict()
_PARSE_CACHE = 512       # a GRPO group scores one completion with several rewards: parse it once


def get_style_for(name: str, frame: Frame):
    """An instance of style ``name`` whose processor limits match ``frame`` (the frame the sample was exported
    with, carried by the ground truth), so that parsing inverts exactly the transform used for the target."""
    key = (name, frame)
    style = _styles.get(key)
    if style is None:
        try:
            from ..styles import get_style
            from ..styles.base import PromptOptions
        except ImportError as e:  # the styles package is a separate deliverable
            raise BridgeError(f"cannot load style {name!r}: {e}") from None
        obj = get_style(name, PromptOptions(min_pixels=frame.min_pixels, max_pixels=frame.max_pixels))
        try:
            if obj.frame() != frame:
                log.warning("style %s speaks frame %s but the ground truth was exported with %s; parsing uses the "
                            "style's frame", name, obj.frame(), frame)
        except Exception:  # a style whose frame() needs more context: nothing to compare
            pass
        style = _styles[key] = obj
    return style


def parse(completion: str, gt, style=None):
    """The style's :class:`~bridge.styles.base.Parsed` for ``completion`` (canonical action in original pixels).

    ``style`` is a Style instance, a style name, or None for the style the ground truth was exported with."""
    if style is None or isinstance(style, str):
        style = get_style_for(style or gt.style, gt.frame)
    key = (id(style), completion, gt.width, gt.height)
    hit = _parsed.get(key)
    if hit is not None:
        _parsed.move_to_end(key)
        return hit[1]
    try:
        parsed = style.parse_action(completion, gt.width, gt.height)
    except Exception as e:  # the contract says parsers never raise; a reward must not crash a training run
        from ..styles.base import Parsed

        log.warning("style %s raised while parsing (%s); scored as a parse failure", getattr(style, "name", style), e)
        parsed = Parsed(action=None, error=f"parser raised {type(e).__name__}: {e}")
    _parsed[key] = (style, parsed)   # keep the style alive so its id() is not reused while cached
    if len(_parsed) > _PARSE_CACHE:
        _parsed.popitem(last=False)
    return parsed


def has_think(completion: str) -> bool:
    """True when the completion opens with a ``<think>…</think>`` block."""
    return THINK_RE.match(completion) is not None


def completion_text(completion: Any) -> str:
    """The text of one completion as trainers pass it.

    * a plain string (verl, ms-swift, TRL with non-conversational prompts);
    * a list of messages (TRL conversational, VLM-R1): the last assistant message's content is used;
    * a content that is a list of typed blocks: its ``text`` blocks are joined;
    * a message whose tool calls were parsed out of the text (transformers' ``parse_response``): each call is
      re-serialised as ``<tool_call>\\n{json}\\n</tool_call>`` after the content, as Qwen chat templates print it.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _message_text(completion)
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"]
        if assistant:
            return _message_text(assistant[-1])
        if msgs:
            return _message_text(msgs[-1])
        return "".join(x for x in completion if isinstance(x, str))
    return "" if completion is None else str(completion)


def _message_text(msg: dict) -> str:
    content = msg.get("content")
    if isinstance(content, list):
        text = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content
                       if not isinstance(b, dict) or b.get("type", "text") == "text")
    else:
        text = "" if content is None else str(content)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function", call) if isinstance(call, dict) else {}
        args = fn.get("arguments")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        body = json.dumps({"name": fn.get("name"), "arguments": args}, ensure_ascii=False)
        text += ("\n" if text else "") + f"<tool_call>\n{body}\n</tool_call>"
    return text


_ANSWER_WRAPPED = re.compile(r"\s*<answer>(.*)</answer>\s*", re.DOTALL)


def strip_answer_tags(solution: str) -> str:
    """VLM-R1 wraps every solution as ``<answer> … </answer>``; return the body."""
    m = _ANSWER_WRAPPED.fullmatch(solution) if "<answer>" in solution else None   # every GRPO completion: cheap
    return m.group(1).strip() if m else solution


def per_ground_truth(fn):
    """Memoise ``fn(gt)`` on the ground-truth object's identity (GRPO scores one ground truth once per
    generation; GroundTruth holds a pydantic Action and is not hashable). Bounded; keeps the object alive while
    cached so an id is never reused for a different object."""
    cache: "OrderedDict[int, tuple[Any, Any]]" = OrderedDict()

    def wrapper(gt):
        hit = cache.get(id(gt))
        if hit is not None and hit[0] is gt:
            return hit[1]
        value = fn(gt)
        cache[id(gt)] = (gt, value)
        if len(cache) > _PARSE_CACHE:
            cache.popitem(last=False)
        return value

    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


@lru_cache(maxsize=_PARSE_CACHE)
def ground_truth_from_json(text: str):
    """GroundTruth.from_any for a JSON string, cached: trainers pass the same string once per generation."""
    from ..groundtruth import GroundTruth

    return GroundTruth.from_any(text)


def ground_truth(value: Any, field: str = "ground_truth"):
    """A GroundTruth from a backend column value (JSON string, dict, VLM-R1-wrapped string or instance)."""
    from ..groundtruth import GroundTruth

    if isinstance(value, str):
        value = strip_answer_tags(value)
    try:
        return GroundTruth.from_any(value)
    except Exception as e:
        raise BridgeError(f"cannot read the ground truth in column {field!r}: {type(e).__name__}: {e}",
                          hint="the exported data must carry GroundTruth.to_json() in that column") from None


def model_point(gt, x: float, y: float) -> tuple[float, float]:
    """Original-pixel point → the model's frame, as floats (no rounding: published rewards compare against
    ground truth scaled exactly, e.g. GUI-R1's normalised gt_bbox times the processed image size)."""
    mw, mh = gt.frame.model_size(gt.width, gt.height)
    return x * mw / gt.width, y * mh / gt.height


def model_box(gt, box) -> tuple[float, float, float, float]:
    x1, y1 = model_point(gt, box[0], box[1])
    x2, y2 = model_point(gt, box[2], box[3])
    return x1, y1, x2, y2


def optional_style_render(name: str, gt) -> Optional[str]:
    """The target text style ``name`` renders for the ground-truth action, or None when the style is not
    available or cannot express the action (presets then fall back to their own mapping table)."""
    try:
        style = get_style_for(name, gt.frame)
        return style.render_action(gt.action, gt.width, gt.height)
    except Exception:
        return None
