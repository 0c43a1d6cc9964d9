"""GUI-R1 style (docs/styles.md, docs/rewards.md): the R1 ``<think>…</think><answer>[…]</answer>`` format.

Output (a Python literal, single-quoted, as GUI-R1's reward expects — its action regex needs ``'action': '…'``)::

    <think>{thought}</think><answer>[{'action': 'click', 'point': [x, y], 'input_text': 'no input text'}]</answer>

``point`` is in pixels of the smart-resized image (factor 28); ``[-100, -100]`` for actions without a point;
``input_text`` is ``'no input text'`` unless the action carries text. Without a thought the target is the
``<answer>`` part alone and the prompt asks for the answer only (GUI-R1's no-think template). Episodes whose
``meta.task_type`` (kept by the GUI-R1 importer) is not ``'high'`` get GUI-R1's click-only grounding prompt;
a ``meta.history`` string (GUI-R1's history column) is interpolated verbatim.

Vocabulary (GUI-R1 "high" task): complete, close/delete, press_home, click, press_back, type, select, scroll,
enter; plus what GUI-R1's Android prompt (``guir1/inference/inference_vllm_android.py``: wait, long_press, click,
press_back, type, open_app, scroll) and its data (``impossible``) use, so every action the gui-r1 importer
accepts renders and parses. The prompt text stays the "high" one. Canonical mapping: click; long_press (point);
open_app (app in ``input_text``); wait; status complete / impossible → complete / impossible; a text action
without text is written, and read back, as ``'no input text'`` (what GUI-R1's ``extract_input_text`` reads for
it); key "close/delete" → close/delete (how the
importers keep it); navigate_home/back → press_home/back; enter; type/select (text; the point, if any, is not
carried); swipe and scroll → scroll with the direction in ``input_text`` in GUI-R1's *content* convention
(a finger swipe up scrolls content down: ``'down'``); the start point is not carried, a swipe parses back
as a scroll. Everything else is refused.
"""
from __future__ import annotations

from typing import Any, Optional

from ..frames import Frame, finger_direction, flip_direction
from ..schema import Action, Episode
from . import _parse as P
from .base import (Parsed, Style, Unsupported, image_block, merge_roles, never_raises, project, text_block)
from .qwen import QWEN2_MAX_PIXELS, QWEN2_MIN_PIXELS

NO_TEXT = "no input text"
NO_POINT = [-100, -100]
ACTIONS = ("complete", "close/delete", "press_home", "click", "press_back", "type", "select", "scroll", "enter",
           "long_press", "open_app", "wait", "impossible")
_SIMPLE = {"navigate_home": "press_home", "navigate_back": "press_back", "enter": "enter"}
_SIMPLE_BACK = {v: k for k, v in _SIMPLE.items()}
_DIRECTIONS = ("up", "down", "left", "right")

_ENUM = "enum['complete', 'close/delete', 'press_home', 'click', 'press_back', 'type', 'select', 'scroll', 'enter']"
_FORMAT = f"[{{'action': {_ENUM}, 'point': [x, y], 'input_text': 'no input text [default]'}}]"
_NOTE = ("Note:\n specific input text (no default) is necessary for actions enum['type', 'select', 'scroll'] \n "
         "Example:\n"
         "[{'action': enum['complete', 'close/delete', 'press_home', 'press_back', 'enter'], 'point': [-100, -100], "
         "'input_text': 'no input text'}]\n"
         "[{'action': enum['click'], 'point': [123, 300], 'input_text': 'no input text'}]\n"
         "[{'action': enum['type', 'select'], 'point': [-100, -100], 'input_text': 'shanghai shopping mall'}]\n"
         "[{'action': enum['scroll'], 'point': [-100, -100], 'input_text': enum['up', 'left', 'right', 'down']}]")


_LOW_FORMAT = "[{'action': enum[ 'click'], 'point': [x, y], 'input_text': 'no input text'}]"
_LOW_EXAMPLE = "Example:\n[{'action': enum['click'], 'point': [123, 300], 'input_text': 'no input text'}]\n"


def instructions(think: bool, grounding: bool = False) -> str:
    """The part of GUI-R1's prompt after the command sentence: the "high" (full action space) or, for
    ``grounding`` rows (GUI-R1 ``task_type`` other than 'high'), the click-only variant; think or no-think."""
    if grounding:
        head = ("Please provide the action to perform (enumerate from ['click']), the point where the cursor is moved "
                "to (integer) if a click is performed, and any input text required to complete the action.\n")
        if think:
            out = ("Output the thinking process in <think> </think> tags, and the final answer in <answer> </answer> "
                   f"tags as follows:\n<think> ... </think> <answer>{_LOW_FORMAT}</answer>\n")
        else:
            out = f"Output the final answer in <answer> </answer> tags as follows:\n<answer>{_LOW_FORMAT}</answer>\n"
        return head + out + _LOW_EXAMPLE
    head = ("Please provide the action to perform (enumerate from ['complete', 'close/delete', 'press_home', 'click', "
            "'press_back', 'type', 'select', 'scroll', 'enter']), the point where the cursor is moved to (integer) "
            "if a click is performed, and any input text required to complete the action.\n")
    if think:
        out = ("Output the thinking process in <think> </think> tags, and the final answer in <answer> </answer> "
               f"tags as follows:\n<think> ... </think> <answer>{_FORMAT}</answer>\n")
    else:
        out = f"Output the final answer in <answer> </answer> tags as follows:\n<answer>{_FORMAT}</answer>\n"
    return head + out + _NOTE


def py_str(text: str) -> str:
    """A single-quoted Python string literal (control characters escaped; never uses double quotes)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


#: GUI-R1's own image bounds: ``data.max_pixels=1258291`` (ritzz-ai/GUI-R1 examples/qwen2_5_vl_3b_gui_grpo.sh,
#: docs/styles.md) and EasyR1's ``data.min_pixels`` 262144 (examples/config.yaml)
GUI_R1_MAX_PIXELS = 1258291
GUI_R1_MIN_PIXELS = 262144


def published_frame(min_pixels: int = GUI_R1_MIN_PIXELS, max_pixels: int = GUI_R1_MAX_PIXELS) -> Frame:
    """The frame GUI-R1 trains in: its ground truth ([0, 1] boxes) times the ``process_image`` size."""
    return Frame("area", 28, min_pixels, max_pixels)


class GuiR1Style(Style):
    name = "gui-r1"

    def frame_note(self, width: int, height: int) -> Optional[str]:
        """Why this style's frame differs from GUI-R1's for a W×H screenshot (None when they agree), for the
        run record: GUI-R1 scales its ground truth to ``process_image``'s size (sqrt area scaling, sides
        truncated) and lets the processor smart-resize that image again; every backend here feeds the original
        screenshot to the processor, whose smart-resize grid is the only frame the model sees, so targets are
        written in that grid (reproducing GUI-R1's would need the same pre-resize in every backend)."""
        ours = self.frame().model_size(width, height)
        f = self.frame()
        theirs = published_frame(max_pixels=f.max_pixels).model_size(width, height)
        if ours == theirs:
            return None
        return (f"gui-r1 frame: GUI-R1 writes targets in its process_image size {theirs[0]:.0f}x{theirs[1]:.0f} "
                f"for a {width}x{height} screenshot (max_pixels {f.max_pixels}); this run writes them in the "
                f"processor's smart-resize grid {ours[0]:.0f}x{ours[1]:.0f}, the image the model actually sees "
                f"(no backend here pre-resizes images as GUI-R1's process_image does; docs/styles.md)")

    def frame(self) -> Frame:
        return Frame("resized", 28, self.options.min_pixels or QWEN2_MIN_PIXELS,
                     self.options.max_pixels or QWEN2_MAX_PIXELS)

    # ---------------------------------------------------------------- prompt

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        step = episode.steps[step_index]
        stored = step.meta.get("history")
        if isinstance(stored, str) and self.options.history > 0:
            hist = stored  # GUI-R1's own history column, interpolated verbatim as GUI-R1 does
        else:
            hist = self.format_history(episode, step_index) or "None"
        low = self.low_instruction(step)
        command = f"'{episode.instruction}'" + (f" with the current step instruction '{low}'" if low else "")
        grounding = episode.meta.get("task_type", "high") != "high"  # kept by the GUI-R1 importer
        prev, cur = self.screens(episode, step_index, image_root)
        content = []
        if prev:
            content += [text_block("Previous screenshot: "), image_block(prev), text_block("\n")]
        content += [text_block("You are GUI-R1, a reasoning GUI Agent Assistant. In this UI screenshot "),
                    image_block(cur),
                    text_block(f", I want you to continue executing the command {command}, with the action history "
                               f"being '{hist}'.\n" + instructions(self.options.think, grounding))]
        return merge_roles([{"role": "user", "content": content}])

    def history_item(self, step) -> str:
        if step.low_instruction:
            return step.low_instruction
        try:
            return self._answer(step.action, step.width, step.height)
        except Unsupported:
            return super().history_item(step)

    # ---------------------------------------------------------------- render

    def _fields(self, action: Action, width: int, height: int) -> tuple[str, list, str]:
        t = action.type
        if t in ("click", "long_press"):
            return t, self.model_point(action.point, width, height), NO_TEXT
        if t == "status" and action.status in ("complete", "impossible"):
            return action.status, NO_POINT, NO_TEXT
        if t == "open_app":
            return "open_app", NO_POINT, action.app or NO_TEXT
        if t == "wait":
            return "wait", NO_POINT, NO_TEXT
        if t == "key" and action.key == "close/delete":
            return "close/delete", NO_POINT, NO_TEXT
        if t in _SIMPLE:
            return _SIMPLE[t], NO_POINT, NO_TEXT
        if t in ("type", "select"):
            # GUI-R1 writes a text action without text as 'no input text' (its extract_input_text default)
            return t, NO_POINT, action.text or NO_TEXT
        if t in ("swipe", "scroll"):
            direction = action.direction
            if direction is None and action.point is not None and action.end_point is not None:
                direction = finger_direction(action.point, action.end_point)
            if direction is None:
                raise Unsupported(f"gui-r1: {t} without a direction")
            return "scroll", NO_POINT, flip_direction(direction)
        what = f"status {action.status}" if t == "status" else (f"key {action.key!r}" if t == "key" else t)
        raise Unsupported(f"gui-r1: no GUI-R1 action for {what}")

    def _answer(self, action: Action, width: int, height: int) -> str:
        kind, point, text = self._fields(action, width, height)
        return f"[{{'action': {py_str(kind)}, 'point': [{point[0]}, {point[1]}], 'input_text': {py_str(text)}}}]"

    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        answer = f"<answer>{self._answer(action, width, height)}</answer>"
        return answer if thought is None else f"<think>{thought}</think>{answer}"

    def normalize(self, action: Action, width: int, height: int) -> Action:
        kind, _, text = self._fields(action, width, height)
        if kind == "scroll":
            return Action(type="scroll", direction=flip_direction(text))
        if kind in ("type", "select"):
            return project(action, "text")
        if kind in ("complete", "impossible"):
            return Action(type="status", status=kind)
        if kind == "open_app":
            return Action(type="open_app", app=text)
        if kind == "wait":
            return Action(type="wait")
        if kind == "long_press":   # GUI-R1 carries no press duration
            return project(action, "point")
        return super().normalize(action, width, height)

    # ---------------------------------------------------------------- parse

    @never_raises
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        thought, rest = P.split_think(text, "[{")
        start = P.after_tag(rest, "<answer>", "[{")
        end = rest.find("</answer>", start)
        try:  # the opener must sit inside <answer>…</answer>; the literal may contain "</answer>" in a string
            value = P.first_literal(rest, "[{", start, end if end >= 0 else None)
        except P.ParseError as e:
            return Parsed(None, thought, f"no answer list: {e}")
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return Parsed(None, thought, "answer is not a list of dicts")
        action, error = self._from_dict(value, width, height)
        return Parsed(action, thought, error, {"answer": value, "model_point": P.point(value.get("point"))})

    def _from_dict(self, d: dict, width: int, height: int) -> tuple[Optional[Action], Optional[str]]:
        kind = d.get("action")
        if not isinstance(kind, str):
            return None, "missing action"
        kind = kind.strip().lower()
        text = d.get("input_text")
        text = text if isinstance(text, str) else None
        if kind in ("click", "long_press"):
            mp = P.point(d.get("point"))
            if mp is None:
                return None, f"{kind} needs point [x, y]"
            return Action(type=kind, point=self.from_model(mp, width, height)), None
        if kind in ("complete", "impossible"):
            return Action(type="status", status=kind), None
        if kind == "wait":
            return Action(type="wait"), None
        if kind == "open_app":
            return Action(type="open_app", app=text if text is not None else NO_TEXT), None
        if kind == "close/delete":
            return Action(type="key", key="close/delete"), None
        if kind in _SIMPLE_BACK:
            return Action(type=_SIMPLE_BACK[kind]), None
        if kind in ("type", "select"):
            # without input_text GUI-R1's extract_input_text reads 'no input text': keep that, as it scores it
            return Action(type=kind, text=text if text is not None else NO_TEXT), None
        if kind == "scroll":
            direction = text.strip().lower() if text else ""
            if direction not in _DIRECTIONS:
                return None, "scroll needs input_text up/down/left/right"
            return Action(type="scroll", direction=flip_direction(direction)), None
        return None, f"unknown action {kind[:40]!r}"
