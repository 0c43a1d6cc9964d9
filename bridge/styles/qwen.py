"""Qwen-VL ``mobile_use`` function-calling styles (docs/styles.md).

System prompt: the Qwen-Agent function-calling block declaring the ``mobile_use`` tool, whose description says
"The screen's resolution is {w}x{h}." — the smart-resized size for Qwen2.5-VL (absolute pixels of the image the
model sees), 1000x1000 for the [0,1000] relative styles (Qwen2-VL, Qwen3-VL). Output::

    <tool_call>
    {"name": "mobile_use", "arguments": {"action": "click", "coordinate": [x, y]}}
    </tool_call>

optionally preceded by ``<think>…</think>\\n``. User turn (the AndroidControl form of Qwen's evaluation)::

    The user query: {goal}
    Current step query: {low-level instruction}          (when present and enabled)
    Task progress (You have done the following operation on the current device): Step 1: …; Step 2: …;

followed by the screenshot(s).

Mapping (canonical → arguments): click/long_press (``time`` seconds, default 2); swipe and scroll → ``swipe``
with ``coordinate``/``coordinate2`` (a direction-only gesture gets a synthesised end point, see
:func:`~bridge.styles.base.swipe_end`; it parses back as a swipe); type; key → ``key``; navigate_back/home and
enter → ``system_button`` Back/Home/Enter; open_app → ``open``; wait (``time`` seconds, default 2); status
complete/impossible → ``terminate`` success/failure. Not expressible (refused): double_click, right_click,
drag, select, answer, ask_user, status interrupt/need_feedback.
"""
from __future__ import annotations

import json
from typing import Any, ClassVar, Optional

from ..frames import Frame
from ..schema import Action, Episode
from . import _parse as P
from .base import (Parsed, Style, Unsupported, image_block, merge_roles, never_raises, project, swipe_action,
                   swipe_end, text_block)

# Canonical default durations where the tool call needs one (seconds in the text).
DEFAULT_LONG_PRESS_MS = 2000
DEFAULT_WAIT_MS = 2000

_BUTTONS = {"navigate_back": "Back", "navigate_home": "Home", "enter": "Enter"}
_BUTTON_TYPES = {v.lower(): k for k, v in _BUTTONS.items()}

_ACTION_DESCRIPTION = """The action to perform. The available actions are:
* `key`: Perform a key event on the mobile device.
    - This supports adb's `keyevent` syntax.
    - Examples: "volume_up", "volume_down", "power", "camera", "clear".
* `click`: Click the point on the screen with coordinate (x, y).
* `long_press`: Press the point on the screen with coordinate (x, y) for specified seconds.
* `swipe`: Swipe from the starting point with coordinate (x, y) to the end point with coordinates2 (x2, y2).
* `type`: Input the specified text into the activated input box.
* `system_button`: Press the system button.
* `open`: Open an app on the device.
* `wait`: Wait specified seconds for the change to happen.
* `terminate`: Terminate the current task and report its completion status."""

_COORD = ("(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to move the "
          "mouse to.")


def _tool(width: int, height: int) -> dict[str, Any]:
    description = (
        "Use a touchscreen to interact with a mobile device, and take screenshots.\n"
        "* This is an interface to a mobile device with touchscreen. You can perform actions like clicking, typing, "
        "swiping, etc.\n"
        "* Some applications may take time to start or process actions, so you may need to wait and take successive "
        "screenshots to see the results of your actions.\n"
        f"* The screen's resolution is {width}x{height}.\n"
        "* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the element. "
        "Don't click boxes on their edges unless asked.")
    parameters = {
        "properties": {
            "action": {"description": _ACTION_DESCRIPTION,
                       "enum": ["key", "click", "long_press", "swipe", "type", "system_button", "open", "wait",
                                "terminate"],
                       "type": "string"},
            "coordinate": {"description": _COORD + " Required only by `action=click`, `action=long_press`, and "
                                                   "`action=swipe`.", "type": "array"},
            "coordinate2": {"description": _COORD + " Required only by `action=swipe`.", "type": "array"},
            "text": {"description": "Required only by `action=key`, `action=type`, and `action=open`.",
                     "type": "string"},
            "time": {"description": "The seconds to wait. Required only by `action=long_press` and `action=wait`.",
                     "type": "number"},
            "button": {"description": "Back means returning to the previous interface, Home means returning to the "
                                      "desktop, Menu means opening the application background menu, and Enter means "
                                      "pressing the enter. Required only by `action=system_button`",
                       "enum": ["Back", "Home", "Menu", "Enter"], "type": "string"},
            "status": {"description": "The status of the task. Required only by `action=terminate`.",
                       "type": "string", "enum": ["success", "failure"]},
        },
        "required": ["action"],
        "type": "object",
    }
    return {"type": "function", "function": {"name_for_human": "mobile_use", "name": "mobile_use",
                                             "description": description, "parameters": parameters,
                                             "args_format": "Format the arguments as a JSON object."}}


def system_prompt(width: int, height: int) -> str:
    """The Qwen-Agent function-calling system prompt with the ``mobile_use`` tool for a WxH model screen."""
    return ("You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user "
            "query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            + json.dumps(_tool(width, height), ensure_ascii=False)
            + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
              "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
              "<args-json-object>}\n</tool_call>")


THINK_REQUEST = ("\nBefore answering, explain your reasoning step-by-step in <think></think> tags, and insert them "
                 "before the <tool_call></tool_call> XML tags.")


def _seconds(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _ms(value: Any) -> Optional[int]:
    v = P.number(value)
    return int(round(v * 1000)) if v is not None and 0 <= v <= 86400 else None


class _QwenToolStyle(Style):
    """Shared implementation; subclasses fix the frame kind and processor defaults."""

    kind: ClassVar[str]
    factor: ClassVar[int] = 28
    default_min_pixels: ClassVar[int]
    default_max_pixels: ClassVar[int]

    def frame(self) -> Frame:
        return Frame(self.kind, self.factor, self.options.min_pixels or self.default_min_pixels,
                     self.options.max_pixels or self.default_max_pixels)

    # ---------------------------------------------------------------- prompt

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        step = episode.steps[step_index]
        mw, mh = self.frame().model_size(step.width, step.height)
        text = f"The user query: {episode.instruction}"
        low = self.low_instruction(step)
        if low:
            text += f"\nCurrent step query: {low}"
        progress = self.format_history(episode, step_index)
        text += f"\nTask progress (You have done the following operation on the current device): {progress or 'None'}"
        if self.options.think:
            text += THINK_REQUEST
        prev, cur = self.screens(episode, step_index, image_root)
        content = [text_block(text + "\n")]
        if prev:
            content += [text_block("Previous screenshot:\n"), image_block(prev), text_block("\nCurrent screenshot:\n")]
        content.append(image_block(cur))
        return merge_roles([{"role": "system", "content": [text_block(system_prompt(int(mw), int(mh)))]},
                            {"role": "user", "content": content}])

    def history_item(self, step) -> str:
        if step.low_instruction:
            return step.low_instruction
        try:
            return json.dumps(self.arguments(step.action, step.width, step.height), ensure_ascii=False)
        except Unsupported:
            return super().history_item(step)

    # ---------------------------------------------------------------- render

    def arguments(self, action: Action, width: int, height: int) -> dict[str, Any]:
        """The ``mobile_use`` arguments for ``action`` (raises :class:`Unsupported`)."""
        t = action.type
        if t == "click":
            return {"action": "click", "coordinate": self.model_point(action.point, width, height)}
        if t == "long_press":
            return {"action": "long_press", "coordinate": self.model_point(action.point, width, height),
                    "time": _seconds(action.duration_ms if action.duration_ms is not None else DEFAULT_LONG_PRESS_MS)}
        if t in ("swipe", "scroll"):
            start, end = swipe_end(action, width, height)
            return {"action": "swipe", "coordinate": self.model_point(start, width, height),
                    "coordinate2": self.model_point(end, width, height)}
        if t == "type":
            return {"action": "type", "text": action.text}
        if t == "key":
            return {"action": "key", "text": action.key}
        if t in _BUTTONS:
            return {"action": "system_button", "button": _BUTTONS[t]}
        if t == "open_app":
            return {"action": "open", "text": action.app}
        if t == "wait":
            return {"action": "wait",
                    "time": _seconds(action.duration_ms if action.duration_ms is not None else DEFAULT_WAIT_MS)}
        if t == "status" and action.status in ("complete", "impossible"):
            return {"action": "terminate", "status": "success" if action.status == "complete" else "failure"}
        what = f"status {action.status}" if t == "status" else t
        raise Unsupported(f"{self.name}: mobile_use has no action for {what}")

    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        call = json.dumps({"name": "mobile_use", "arguments": self.arguments(action, width, height)},
                          ensure_ascii=False)
        text = f"<tool_call>\n{call}\n</tool_call>"
        return text if thought is None else f"<think>{thought}</think>\n{text}"

    def normalize(self, action: Action, width: int, height: int) -> Action:
        self.arguments(action, width, height)
        t = action.type
        if t in ("swipe", "scroll"):
            return swipe_action(*swipe_end(action, width, height))
        if t == "long_press":
            return project(action, "point", duration_ms=action.duration_ms if action.duration_ms is not None
                           else DEFAULT_LONG_PRESS_MS)
        if t == "wait":
            return project(action, duration_ms=action.duration_ms if action.duration_ms is not None
                           else DEFAULT_WAIT_MS)
        if t == "type":
            return project(action, "text")
        if t == "status":
            return project(action, "status")
        return super().normalize(action, width, height)

    # ---------------------------------------------------------------- parse

    @never_raises
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        thought, rest = P.split_think(text, "{")
        start = P.after_tag(rest, "<tool_call>", "{")
        try:
            value = P.first_literal(rest, "{", start)
        except P.ParseError as e:
            return Parsed(None, thought, f"no tool call: {e}")
        if not isinstance(value, dict):
            return Parsed(None, thought, "tool call is not an object")
        name = value.get("name")
        if name is not None and name != "mobile_use":
            return Parsed(None, thought, f"unknown tool {str(name)[:40]!r}")
        args = value.get("arguments", value if "action" in value else None)
        if isinstance(args, str):  # some models emit the arguments as a JSON string
            try:
                args = P.parse_literal(args)[0]
            except P.ParseError as e:
                return Parsed(None, thought, f"bad arguments: {e}")
        if not isinstance(args, dict):
            return Parsed(None, thought, "tool call without an arguments object")
        action, error = self._from_arguments(args, width, height)
        return Parsed(action, thought, error, {"arguments": args})

    def _point(self, args: dict, key: str, width: int, height: int) -> Optional[tuple[float, float]]:
        mp = P.point(args.get(key))
        return None if mp is None else self.from_model(mp, width, height)

    def _from_arguments(self, args: dict, width: int, height: int) -> tuple[Optional[Action], Optional[str]]:
        kind = args.get("action")
        if not isinstance(kind, str):
            return None, "missing action"
        kind = kind.strip().lower()
        if kind in ("click", "long_press"):
            p = self._point(args, "coordinate", width, height)
            if p is None:
                return None, f"{kind} needs coordinate [x, y]"
            if kind == "click":
                return Action(type="click", point=p), None
            ms = _ms(args.get("time")) if "time" in args else DEFAULT_LONG_PRESS_MS
            return Action(type="long_press", point=p, duration_ms=ms), None
        if kind == "swipe":
            p, e = self._point(args, "coordinate", width, height), self._point(args, "coordinate2", width, height)
            if p is None or e is None:
                return None, "swipe needs coordinate and coordinate2"
            return swipe_action(p, e), None
        if kind in ("type", "key", "open"):
            value = args.get("text")
            if not isinstance(value, str):
                return None, f"{kind} needs text"
            if kind == "type":
                return Action(type="type", text=value), None
            return (Action(type="key", key=value) if kind == "key" else Action(type="open_app", app=value)), None
        if kind == "system_button":
            button = args.get("button")
            button = button.strip().lower() if isinstance(button, str) else ""
            if button in _BUTTON_TYPES:
                return Action(type=_BUTTON_TYPES[button]), None
            if button == "menu":
                return Action(type="key", key="menu"), None
            return None, "system_button needs button Back/Home/Menu/Enter"
        if kind == "wait":
            ms = _ms(args.get("time")) if "time" in args else DEFAULT_WAIT_MS
            return Action(type="wait", duration_ms=ms), None
        if kind == "terminate":
            status = args.get("status")
            status = status.strip().lower() if isinstance(status, str) else ""
            if status in ("success", "failure"):
                return Action(type="status", status="complete" if status == "success" else "impossible"), None
            return None, "terminate needs status success/failure"
        return None, f"unknown action {kind[:40]!r}"


# Released checkpoints' preprocessor_config.json (qwen-vl-utils values: min 4·28², max 16384·28²); override with
# PromptOptions(min_pixels=..., max_pixels=...) read from the target processor.
QWEN2_MIN_PIXELS = 4 * 28 * 28
QWEN2_MAX_PIXELS = 16384 * 28 * 28
QWEN3_MIN_PIXELS = 4 * 32 * 32
QWEN3_MAX_PIXELS = 16384 * 32 * 32


class Qwen25VLStyle(_QwenToolStyle):
    """Qwen2.5-VL: coordinates in pixels of the smart-resized image (factor 28)."""

    name = "qwen25vl"
    kind = "resized"
    default_min_pixels = QWEN2_MIN_PIXELS
    default_max_pixels = QWEN2_MAX_PIXELS


class Qwen2VLStyle(_QwenToolStyle):
    """Qwen2-VL: coordinates in [0,1000] (images still smart-resized with factor 28)."""

    name = "qwen2vl"
    kind = "rel1000"
    default_min_pixels = QWEN2_MIN_PIXELS
    default_max_pixels = QWEN2_MAX_PIXELS


class Qwen3VLStyle(_QwenToolStyle):
    """Qwen3-VL: coordinates in [0,1000]; images smart-resized with factor 32 (patch 16 × merge 2)."""

    name = "qwen3vl"
    kind = "rel1000"
    factor = 32
    default_min_pixels = QWEN3_MIN_PIXELS
    default_max_pixels = QWEN3_MAX_PIXELS
