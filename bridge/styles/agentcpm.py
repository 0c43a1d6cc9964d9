"""AgentCPM-GUI style (docs/styles.md): compact JSON actions, coordinates in [0,1000].

Output: one compact JSON object (``separators=(',', ':')``, ``ensure_ascii=False``), ``thought`` first when
present: ``{"thought":"…","POINT":[x,y]}``. Mapping: click ``{"POINT":[x,y]}``; long_press adds ``duration``
(ms, > 200; default 1000 — at ≤ 200 ms the schema reads a click, so such a long press is refused); swipe
``{"POINT":[x,y],"to":[x2,y2]}`` with an end point or ``"to":"up|down|left|right"`` (finger direction) without;
scroll ``{"POINT":[500,500],"to":dir}`` from its point or the screen centre (parses back as a swipe);
type ``{"TYPE":…}``; navigate_home/back and enter ``{"PRESS":"HOME|BACK|ENTER"}``; wait ``{"duration":ms}``
(default 1000); status complete ``{"STATUS":"finish"}`` (``"satisfied"`` when ``meta.source_status`` says so), impossible/interrupt/need_feedback as themselves.
Refused: open_app (AgentCPM-GUI opens apps by clicking their icon), key, double_click, right_click, drag,
select, answer, ask_user.

Prompt: the published system prompt (``# Role`` / ``# Task`` / ``# Rule`` / ``# Schema`` + the action schema,
``thought`` ``"optional"`` — ``"required"`` with think on, as AgentCPM's FAQ says) and the user turn
``<Question>{goal}</Question>\\n当前屏幕截图：<image>``; a low-level instruction, a history window and a previous
screenshot, when enabled, are added as labelled lines before the current screenshot.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from ..frames import REL1000, Frame
from ..schema import Action, Episode
from . import _parse as P
from .base import (Parsed, Style, Unsupported, image_block, merge_roles, never_raises, project, swipe_action,
                   text_block)

DEFAULT_LONG_PRESS_MS = 1000
DEFAULT_WAIT_MS = 1000
CLICK_MAX_MS = 200   # the schema's default duration: a POINT held this long or less is a tap
_PRESS = {"navigate_home": "HOME", "navigate_back": "BACK", "enter": "ENTER"}
_PRESS_BACK = {v: k for k, v in _PRESS.items()}
_STATUS = {"complete": "finish", "impossible": "impossible", "interrupt": "interrupt", "need_feedback": "need_feedback"}
_STATUS_BACK = {"finish": "complete", "satisfied": "complete", "impossible": "impossible", "interrupt": "interrupt",
                "need_feedback": "need_feedback"}
_DIRECTIONS = ("up", "down", "left", "right")


def schema(think: bool = False) -> dict[str, Any]:
    """AgentCPM-GUI's action schema, key order as published (``thought`` optional or required)."""
    location = {"$ref": "#/$defs/Location"}
    return {
        "type": "object",
        "description": "执行操作并决定当前任务状态",
        "additionalProperties": False,
        ("required" if think else "optional"): ["thought"],
        "properties": {
            "thought": {"type": "string", "description": "智能体的思维过程"},
            "POINT": {**location, "description": "点击屏幕上的指定位置"},
            "to": {"description": "移动，组合手势参数", "oneOf": [
                {"enum": ["up", "down", "left", "right"],
                 "description": "从当前点（POINT）出发，执行滑动手势操作，方向包括向上、向下、向左、向右"},
                {**location, "description": "移动到某个位置"}]},
            "duration": {"type": "integer", "description": "动作执行的时间或等待时间，毫秒", "minimum": 0,
                         "default": 200},
            "PRESS": {"type": "string", "description": "触发特殊按键，HOME为回到主页按钮，BACK为返回按钮，ENTER为回车按钮",
                      "enum": ["HOME", "BACK", "ENTER"]},
            "TYPE": {"type": "string", "description": "输入文本"},
            "STATUS": {"type": "string",
                       "description": "当前任务的状态。特殊情况：satisfied，无需操作；impossible，任务无法完成；interrupt，"
                                      "任务中断；need_feedback，需要用户反馈；",
                       "enum": ["continue", "finish", "satisfied", "impossible", "interrupt", "need_feedback"],
                       "default": "continue"},
        },
        "$defs": {"Location": {"type": "array",
                               "description": "坐标为相对于屏幕左上角位原点的相对位置，并且按照宽高比例缩放到0～1000，"
                                              "数组第一个元素为横坐标x，第二个元素为纵坐标y",
                               "items": {"type": "integer", "minimum": 0, "maximum": 1000},
                               "minItems": 2, "maxItems": 2}},
    }


def system_prompt(think: bool = False) -> str:
    return ("# Role\n你是一名熟悉安卓系统触屏GUI操作的智能体，将根据用户的问题，分析当前界面的GUI元素和布局，生成相应的操作。\n\n"
            "# Task\n针对用户问题，根据输入的当前屏幕截图，输出下一步的操作。\n\n"
            "# Rule\n- 以紧凑JSON格式输出\n- 输出操作必须遵循Schema约束\n\n"
            "# Schema\n" + compact(schema(think)))


def compact(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class AgentCPMStyle(Style):
    name = "agentcpm"

    def frame(self) -> Frame:
        # Coordinates are relative, so the image size does not change them; the processor limits are kept for
        # whoever resizes the images (AgentCPM-GUI recommends a longer side of at most 1120 px).
        if self.options.min_pixels or self.options.max_pixels:
            return Frame("rel1000", REL1000.factor, self.options.min_pixels or REL1000.min_pixels,
                         self.options.max_pixels or REL1000.max_pixels)
        return REL1000

    # ---------------------------------------------------------------- prompt

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        step = episode.steps[step_index]
        text = f"<Question>{episode.instruction}</Question>\n"
        low = self.low_instruction(step)
        if low:
            text += f"当前步骤：{low}\n"
        history = self.format_history(episode, step_index)
        if history:
            text += f"历史操作：{history}\n"
        prev, cur = self.screens(episode, step_index, image_root)
        content = [text_block(text)]
        if prev:
            content += [text_block("上一步屏幕截图："), image_block(prev), text_block("\n")]
        content += [text_block("当前屏幕截图："), image_block(cur)]
        return merge_roles([{"role": "system", "content": [text_block(system_prompt(self.options.think))]},
                            {"role": "user", "content": content}])

    def history_item(self, step) -> str:
        if step.low_instruction:
            return step.low_instruction
        try:
            return compact(self._object(step.action, step.width, step.height))
        except Unsupported:
            return super().history_item(step)

    # ---------------------------------------------------------------- render

    def _pt(self, p, width: int, height: int) -> list[int]:
        return [int(v) for v in self.model_point(p, width, height)]

    def _object(self, action: Action, width: int, height: int) -> dict[str, Any]:
        t = action.type
        if t == "click":
            return {"POINT": self._pt(action.point, width, height)}
        if t == "long_press":
            ms = action.duration_ms if action.duration_ms is not None else DEFAULT_LONG_PRESS_MS
            if ms <= CLICK_MAX_MS:
                raise Unsupported(f"agentcpm: a long press of {ms} ms reads as a click (duration must exceed 200)")
            return {"POINT": self._pt(action.point, width, height), "duration": ms}
        if t in ("swipe", "scroll"):
            start = action.point if action.point is not None else (width / 2.0, height / 2.0)
            if t == "swipe" and action.end_point is not None:
                return {"POINT": self._pt(start, width, height), "to": self._pt(action.end_point, width, height)}
            if action.direction is None:
                raise Unsupported(f"agentcpm: {t} without a direction or an end point")
            return {"POINT": self._pt(start, width, height), "to": action.direction}
        if t == "type":
            return {"TYPE": action.text}
        if t in _PRESS:
            return {"PRESS": _PRESS[t]}
        if t == "wait":
            return {"duration": action.duration_ms if action.duration_ms is not None else DEFAULT_WAIT_MS}
        if t == "status" and action.status in _STATUS:
            if action.status == "complete" and action.meta.get("source_status") == "satisfied":
                return {"STATUS": "satisfied"}  # the task needed no action (kept by the AgentCPM importer)
            return {"STATUS": _STATUS[action.status]}
        raise Unsupported(f"agentcpm: the AgentCPM-GUI schema has no action for {t}")

    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        obj = self._object(action, width, height)
        return compact(obj if thought is None else {"thought": thought, **obj})

    def normalize(self, action: Action, width: int, height: int) -> Action:
        obj = self._object(action, width, height)
        t = action.type
        if "to" in obj:
            start = action.point if action.point is not None else (width / 2.0, height / 2.0)
            if isinstance(obj["to"], list):
                return swipe_action(start, action.end_point)
            return Action(type="swipe", point=start, direction=action.direction)
        if t in ("long_press", "wait"):
            return project(action, "point", duration_ms=obj["duration"])
        if t == "type":
            return project(action, "text")
        if t == "status":
            return project(action, "status")
        return super().normalize(action, width, height)

    # ---------------------------------------------------------------- parse

    @never_raises
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        thought, rest = P.split_think(text, "{")
        try:
            obj = P.first_literal(P.strip_fences(rest), "{")
        except P.ParseError as e:
            return Parsed(None, thought, f"no JSON object: {e}")
        if not isinstance(obj, dict):
            return Parsed(None, thought, "not a JSON object")
        t = obj.get("thought")
        if isinstance(t, str):
            thought = t
        action, error = self._from_object(obj, width, height)
        return Parsed(action, thought, error, {"object": obj})

    def _from_object(self, obj: dict, width: int, height: int) -> tuple[Optional[Action], Optional[str]]:
        duration = obj.get("duration")
        ms = None
        if duration is not None:
            v = P.number(duration)
            if v is None or v < 0:
                return None, "duration must be a non-negative number of milliseconds"
            ms = int(round(v))
        if "POINT" in obj:
            mp = P.point(obj["POINT"])
            if mp is None:
                return None, "POINT must be [x, y]"
            p = self.from_model(mp, width, height)
            to = obj.get("to")
            if to is None:
                if ms is not None and ms > CLICK_MAX_MS:
                    return Action(type="long_press", point=p, duration_ms=ms), None
                return Action(type="click", point=p), None
            if isinstance(to, str):
                d = to.strip().lower()
                if d not in _DIRECTIONS:
                    return None, "to must be up/down/left/right or [x, y]"
                return Action(type="swipe", point=p, direction=d), None
            end = P.point(to)
            if end is None:
                return None, "to must be up/down/left/right or [x, y]"
            return swipe_action(p, self.from_model(end, width, height)), None
        if "TYPE" in obj:
            return (Action(type="type", text=obj["TYPE"]), None) if isinstance(obj["TYPE"], str) else \
                (None, "TYPE must be a string")
        if "PRESS" in obj:
            key = obj["PRESS"].strip().upper() if isinstance(obj["PRESS"], str) else ""
            return (Action(type=_PRESS_BACK[key]), None) if key in _PRESS_BACK else \
                (None, "PRESS must be HOME, BACK or ENTER")
        if "STATUS" in obj:
            status = obj["STATUS"].strip().lower() if isinstance(obj["STATUS"], str) else ""
            if status in _STATUS_BACK:
                meta = {"source_status": status} if status == "satisfied" else {}
                return Action(type="status", status=_STATUS_BACK[status], meta=meta), None
            if status in ("continue", "start") and ms is not None:
                return Action(type="wait", duration_ms=ms), None
            return None, f"STATUS {status[:40]!r} is not an action"
        if ms is not None:
            return Action(type="wait", duration_ms=ms), None
        return None, "no action key (POINT, TYPE, PRESS, STATUS or duration)"
