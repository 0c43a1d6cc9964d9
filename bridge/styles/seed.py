"""Seed per-step JSON style (docs/importers.md, docs/styles.md): the "ui-doctor" step format.

Output: ``{"action_type": T, "action_parameter": {T: VALUE}, "action_description": D}`` (``json.dumps``
defaults, ``ensure_ascii=False``) with integer pixels of the ORIGINAL screenshot. With a thought:
``<think>{thought}</think><answer>{…}</answer>`` (the tutorials' later variant).

| canonical | T | VALUE |
|---|---|---|
| click / long_press | click / long_click | ``"x1,y1,x2,y2"``: the target box when known, else ``"x,y,x,y"`` |
| swipe / scroll | swipe | ``"sx,sy,ex,ey"`` finger start → end (direction-only: synthesised end) |
| type / open_app | type / open_app | the text / app name |
| wait / navigate_back | wait / back | ``""`` |
| status complete / impossible | task_completed / task_impossible | the summary / reason text |
| ask_user | inquiry | JSON string with Question, CandidatesList, PicDescribe, AnswerIndex |

A click with a box carries the box and its centre (the point itself is not carried); a degenerate box parses
as a point. Refused: navigate_home, enter, key, double_click, right_click, drag, select, answer, other statuses.
D is the step's low-level instruction (``action_description`` is imported into it), else the action's
``meta["description"]``, else a neutral description.

Prompt: one user turn — a short role text, then the seed input JSON (``task_content``, ``task_path``,
``screen_path1``/``screen_path2`` with the previous and current screenshots in place of the file names,
``history_path_all``, ``app_name``, ``action_type_list``). ``task_path``, ``action_type_list`` (and a step's
own ``task_content``/``app_name``) come from the episode/step meta the seed importer keeps; the history is the
source's ``history_path_all`` (``step.meta["history"]``) when kept; the previous screenshot is
``step.extra_images[0]`` (``screen_path1``) when present, else the previous step's screenshot.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from ..frames import PIXEL, Frame
from ..schema import Action, Episode, Step
from . import _parse as P
from .base import (Parsed, Style, Unsupported, absolute, center_of, describe_action, image_block, merge_roles,
                   never_raises, project, swipe_action, swipe_end, text_block)

ACTION_TYPES = {"open_app": "打开应用", "click": "点击", "long_click": "长按", "type": "输入文本", "swipe": "滑动",
                "task_completed": "任务完成", "task_impossible": "任务无法完成", "inquiry": "询问用户", "wait": "等待",
                "back": "返回"}

ROLE = ("You are a phone GUI agent. Given the task, its planned steps, the steps already done and the previous and "
        "current screenshots, choose the next action from action_type_list. Answer with one JSON object "
        '{"action_type": T, "action_parameter": {T: VALUE}, "action_description": "..."}. Coordinates are integer '
        'pixels of the current screenshot: click and long_click take the target box "x1,y1,x2,y2", swipe takes '
        '"x1,y1,x2,y2" (finger start, then end); type takes the text, open_app the app name, task_completed a '
        'summary, task_impossible the reason, inquiry a JSON string with Question, CandidatesList, PicDescribe and '
        'AnswerIndex; wait and back take "".\n')
THINK = "First reason inside <think></think>, then give the JSON object inside <answer></answer>.\n"

_SIMPLE = {"wait": "wait", "navigate_back": "back"}


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class SeedStyle(Style):
    name = "seed"

    def frame(self) -> Frame:
        return PIXEL

    # ---------------------------------------------------------------- prompt

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        step = episode.steps[step_index]

        def kept(key, default):  # the importer keeps a step's own value only where it differs from the episode's
            value = step.meta.get(key, episode.meta.get(key))
            return value if isinstance(value, type(default)) else default

        task_path, types = kept("task_path", {}), kept("action_type_list", ACTION_TYPES)
        cur = absolute(image_root, step.screenshot)
        if step.extra_images:  # the seed importer stores screen_path1 here
            prev = absolute(image_root, step.extra_images[0])
        else:
            prev = absolute(image_root, episode.steps[step_index - 1].screenshot) if step_index > 0 else None
        # The input JSON written piece by piece so each screenshot sits exactly where its file name was.
        content = [text_block(ROLE + (THINK if self.options.think else "")
                              + '{"task_content": ' + _dumps(kept("task_content", episode.instruction))
                              + ', "task_path": ' + _dumps(task_path) + ', "screen_path1": "')]
        if prev:
            content.append(image_block(prev))
        content += [text_block('", "screen_path2": "'), image_block(cur),
                    text_block('", "history_path_all": ' + _dumps(self.history(episode, step_index))
                               + ', "app_name": ' + _dumps(kept("app_name", episode.app or ""))
                               + ', "action_type_list": ' + _dumps(types) + "}")]
        return merge_roles([{"role": "user", "content": content}])

    def history_item(self, step: Step) -> str:
        return step.low_instruction or step.action.meta.get("description") or describe_action(step.action)

    # ---------------------------------------------------------------- render

    def _box(self, box, width: int, height: int) -> list[int]:
        x1, y1, x2, y2 = PIXEL.box_to_model(box, width, height)
        return [int(x1), int(y1), int(x2), int(y2)]

    def _value(self, action: Action, width: int, height: int) -> tuple[str, str]:
        t = action.type
        if t in ("click", "long_press"):
            box = action.bbox if action.bbox is not None else (*action.point, *action.point)
            return ("click" if t == "click" else "long_click"), ",".join(map(str, self._box(box, width, height)))
        if t in ("swipe", "scroll"):
            start, end = swipe_end(action, width, height)
            return "swipe", ",".join(map(str, self._box((*start, *end), width, height)))
        if t == "type":
            return "type", action.text
        if t == "open_app":
            return "open_app", action.app
        if t in _SIMPLE:
            return _SIMPLE[t], ""
        if t == "status" and action.status in ("complete", "impossible"):
            return ("task_completed" if action.status == "complete" else "task_impossible"), action.text or ""
        if t == "ask_user":  # the importer's meta keys (seed_steps._inquiry) back to the seed field names
            m = action.meta
            # candidates_text: the list literal as the source wrote it (the tutorials' "['A', 'B']"), rendered
            # back unchanged so the record round-trips
            cands = m["candidates_text"] if "candidates_text" in m else m.get("candidates", [])
            return "inquiry", _dumps({"Question": action.text, "CandidatesList": cands,
                                      "PicDescribe": m.get("pic_describe", ""), "AnswerIndex": m.get("answer_index", -1)})
        what = f"status {action.status}" if t == "status" else t
        raise Unsupported(f"seed: the seed action space has no {what}")

    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None,
                      description: Optional[str] = None) -> str:
        kind, value = self._value(action, width, height)
        desc = description or action.meta.get("description") or describe_action(action)
        obj = _dumps({"action_type": kind, "action_parameter": {kind: value}, "action_description": desc})
        return obj if thought is None else f"<think>{thought}</think><answer>{obj}</answer>"

    def render_step(self, step: Step, thought: Optional[str] = None) -> str:
        return self.render_action(step.action, step.width, step.height, thought, description=step.low_instruction)

    def normalize(self, action: Action, width: int, height: int) -> Action:
        kind, value = self._value(action, width, height)
        t = action.type
        if t in ("click", "long_press"):
            x1, y1, x2, y2 = (int(v) for v in value.split(","))
            if action.bbox is None:
                return project(action, "point")
            if x1 == x2 and y1 == y2:  # a sub-pixel box renders as a point
                return Action(type=t, point=center_of(action.bbox))
            return Action(type=t, point=center_of(action.bbox), bbox=action.bbox)
        if t in ("swipe", "scroll"):
            return swipe_action(*swipe_end(action, width, height))
        if t == "wait":
            return Action(type="wait")
        if t == "type":
            return project(action, "text")
        if t == "status":
            return project(action, "status", "text", text=action.text or None)
        return super().normalize(action, width, height)

    # ---------------------------------------------------------------- parse

    @never_raises
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        thought, rest = P.split_think(text, "{")
        try:
            obj = P.first_literal(rest, "{", P.after_tag(rest, "<answer>", "{"))
        except P.ParseError as e:
            return Parsed(None, thought, f"no JSON object: {e}")
        if not isinstance(obj, dict):
            return Parsed(None, thought, "not a JSON object")
        desc = obj.get("action_description")
        action, error = self._from_object(obj, width, height)
        return Parsed(action, thought, error, {"object": obj, "description": desc if isinstance(desc, str) else None})

    def _from_object(self, obj: dict, width: int, height: int) -> tuple[Optional[Action], Optional[str]]:
        kind = obj.get("action_type")
        if not isinstance(kind, str):
            return None, "missing action_type"
        kind = kind.strip().lower()
        params = obj.get("action_parameter")
        value = params.get(kind, next(iter(params.values()), None) if len(params) == 1 else None) \
            if isinstance(params, dict) else params
        if kind in ("click", "long_click", "swipe"):
            nums = P.numbers_in(value) if isinstance(value, str) else [P.number(v) for v in value[:5]] \
                if isinstance(value, list) else []
            if any(v is None for v in nums) or len(nums) not in (2, 4):
                return None, f"{kind} needs \"x1,y1,x2,y2\""
            if len(nums) == 2:
                nums = nums * 2
            x1, y1 = self.from_model((nums[0], nums[1]), width, height)
            x2, y2 = self.from_model((nums[2], nums[3]), width, height)
            if kind == "swipe":
                return swipe_action((x1, y1), (x2, y2)), None
            t = "click" if kind == "click" else "long_press"
            if x1 == x2 and y1 == y2:
                return Action(type=t, point=(x1, y1)), None
            return Action(type=t, point=center_of((x1, y1, x2, y2)), bbox=(x1, y1, x2, y2)), None
        if kind in ("type", "open_app"):
            if not isinstance(value, str) or not value:
                return None, f"{kind} needs a non-empty string"
            return (Action(type="type", text=value) if kind == "type" else Action(type="open_app", app=value)), None
        if kind == "wait":
            return Action(type="wait"), None
        if kind == "back":
            return Action(type="navigate_back"), None
        if kind in ("task_completed", "task_impossible"):
            note = value if isinstance(value, str) and value else None
            return Action(type="status", status="complete" if kind == "task_completed" else "impossible",
                          text=note), None
        if kind == "inquiry":
            inquiry = value
            if isinstance(value, str):
                try:
                    inquiry = P.parse_literal(value)[0]
                except P.ParseError:
                    inquiry = {"Question": value}
            if not isinstance(inquiry, dict) or not isinstance(inquiry.get("Question"), str):
                return None, "inquiry needs a JSON string with Question"
            meta = {key: inquiry[src] for src, key in (("CandidatesList", "candidates"), ("AnswerIndex", "answer_index"),
                                                         ("PicDescribe", "pic_describe")) if inquiry.get(src) is not None}
            if isinstance(meta.get("candidates"), str):
                from ..importers.seed_steps import literal_list
                parsed = literal_list(meta["candidates"])
                if parsed is not None:
                    meta = {**meta, "candidates": parsed, "candidates_text": meta["candidates"]}
            return Action(type="ask_user", text=inquiry["Question"], meta=meta), None
        return None, f"unknown action_type {kind[:40]!r}"
