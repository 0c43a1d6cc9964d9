"""UI-TARS-1.5 style (docs/styles.md): ``Thought: …\\nAction: call(...)`` with smart-resized pixels.

Coordinates: ``point='<point>X Y</point>'`` in pixels of the smart-resized image (factor 28, UI-TARS's limits
min 100·28², max 16384·28²). The parser also reads the older spellings ``start_box='(X,Y)'`` and
``<|box_start|>(X,Y)<|box_end|>`` (a 4-number box reads as its centre).

Mapping: click, long_press (duration not carried), double_click → ``left_double``, right_click →
``right_single``, swipe/scroll → ``scroll(point, direction)`` where UI-TARS's ``direction`` is the side that
shows more content, i.e. the *opposite* of the finger (a finger swipe up ⇒ ``direction='down'``); the point is
the swipe start or the screen centre; an end point is not carried; it parses back as a swipe. drag →
``drag(start_point, end_point)``; type → ``type(content='…')`` (``\\'``, ``\\"``, ``\\n``, ``\\\\`` escaped);
enter → ``type(content='\\n')`` (UI-TARS submits with a trailing newline; that exact call parses as enter);
open_app; navigate_home/back → ``press_home()``/``press_back()``; key → ``hotkey(key='…')``; wait → ``wait()``
(duration not carried); status complete → ``finished(content='…')``. Refused: select, answer, ask_user and
other statuses (``finished`` means success; reporting failure through it would be remapping).

Prompt: UI-TARS's ``MOBILE_USE_DOUBAO`` template (``COMPUTER_USE_DOUBAO`` for desktop/web episodes), with
``wait()`` added to the mobile action space since the style emits it; with think off the output format asks for
the ``Action:`` line only. History follows UI-TARS's training data: previous actions as assistant turns, the
previous screenshot (when enabled) as a user turn before the last one, the current screenshot last.
"""
from __future__ import annotations

from typing import Any, Optional

from ..frames import Frame, finger_direction, flip_direction
from ..schema import Action, Episode
from . import _parse as P
from .base import Parsed, Style, Unsupported, image_block, merge_roles, never_raises, project, text_block

UITARS_MIN_PIXELS = 100 * 28 * 28
UITARS_MAX_PIXELS = 16384 * 28 * 28
_DIRECTIONS = ("up", "down", "left", "right")

_MOBILE_HEAD = ("You are a GUI agent. You are given a task and your action history, with screenshots. You need to "
                "perform the next action to complete the task. \n")
_MOBILE_SPACE = ("## Action Space\n\n"
                 "click(point='<point>x1 y1</point>')\n"
                 "long_press(point='<point>x1 y1</point>')\n"
                 "type(content='') #If you want to submit your input, use \"\\n\" at the end of `content`.\n"
                 "scroll(point='<point>x1 y1</point>', direction='down or up or right or left')\n"
                 "open_app(app_name='')\n"
                 "drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')\n"
                 "press_home()\n"
                 "press_back()\n"
                 "wait() #Sleep for 5s and take a screenshot to check for any changes.\n"
                 "finished(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure we can "
                 "parse the content in normal python string format.\n\n\n")
_COMPUTER_HEAD = ("You are a GUI agent. You are given a task and your action history, with screenshots. You need to "
                  "perform the next action to complete the task.\n\n")
_COMPUTER_SPACE = ("## Action Space\n\n"
                   "click(point='<point>x1 y1</point>')\n"
                   "left_double(point='<point>x1 y1</point>')\n"
                   "right_single(point='<point>x1 y1</point>')\n"
                   "drag(start_point='<point>x1 y1</point>', end_point='<point>x2 y2</point>')\n"
                   "hotkey(key='ctrl c') # Split keys with a space and use lowercase. Also, do not use more than 3 "
                   "keys in one hotkey action.\n"
                   "type(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure we can "
                   "parse the content in normal python string format. If you want to submit your input, use \\n at "
                   "the end of content. \n"
                   "scroll(point='<point>x1 y1</point>', direction='down or up or right or left') # Show more "
                   "information on the `direction` side.\n"
                   "wait() #Sleep for 5s and take a screenshot to check for any changes.\n"
                   "finished(content='xxx') # Use escape characters \\', \\\", and \\n in content part to ensure we "
                   "can parse the content in normal python string format.\n\n\n")
_NOTE = ("## Note\n- Use English in `Thought` part.\n- Write a small plan and finally summarize your next action (with "
         "its target element) in one sentence in `Thought` part.\n\n")


def prompt(instruction: str, computer: bool = False, think: bool = True) -> str:
    """The UI-TARS-1.5 user prompt (mobile or computer template) for ``instruction``."""
    fmt = "```\nThought: ...\nAction: ...\n```\n" if think else "```\nAction: ...\n```\n"
    if computer:
        text = _COMPUTER_HEAD + "## Output Format\n" + fmt + "\n" + _COMPUTER_SPACE
    else:
        text = _MOBILE_HEAD + "## Output Format\n" + fmt + _MOBILE_SPACE
    return text + (_NOTE if think else "") + f"## User Instruction\n{instruction}\n"


def escape(text: str) -> str:
    """UI-TARS content escaping: backslash, both quotes and newlines."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"').replace("\n", "\\n")


def unescape(text: str) -> str:
    out, i, n = [], 0, len(text)
    while i < n:
        b = text.find("\\", i)
        if b < 0 or b == n - 1:
            out.append(text[i:])
            break
        out.append(text[i:b])
        c = text[b + 1]
        out.append({"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}.get(c, "\\" + c))
        i = b + 2
    return "".join(out)


def _call(name: str, **args: str) -> str:
    return f"{name}(" + ", ".join(f"{k}='{v}'" for k, v in args.items()) + ")"


class UITarsStyle(Style):
    name = "uitars"

    def frame(self) -> Frame:
        return Frame("resized", 28, self.options.min_pixels or UITARS_MIN_PIXELS,
                     self.options.max_pixels or UITARS_MAX_PIXELS)

    # ---------------------------------------------------------------- prompt

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        step = episode.steps[step_index]
        instruction = episode.instruction
        low = self.low_instruction(step)
        if low:
            instruction += f"\nCurrent step: {low}"
        msgs = [{"role": "user", "content": [text_block(prompt(instruction, episode.platform in ("desktop", "web"),
                                                               self.options.think))]}]
        prev, cur = self.screens(episode, step_index, image_root)
        n = max(0, self.options.history)
        window = list(range(max(0, step_index - n), step_index)) if n else []
        for j in window:
            if prev and j == step_index - 1:
                msgs.append({"role": "user", "content": [image_block(prev)]})
            msgs.append({"role": "assistant", "content": [text_block(self.history_item(episode.steps[j]))]})
        if prev and (step_index - 1) not in window:
            msgs.append({"role": "user", "content": [image_block(prev)]})
        msgs.append({"role": "user", "content": [image_block(cur)]})
        merged = merge_roles(msgs)
        for m in merged:  # several past actions in one assistant turn: one text block, one per line group
            if m["role"] == "assistant" and len(m["content"]) > 1:
                m["content"] = [text_block("\n\n".join(b["text"] for b in m["content"]))]
        return merged

    def history_item(self, step) -> str:
        thought = step.thought if self.options.think and step.thought else None
        try:
            return self.render_action(step.action, step.width, step.height, thought)
        except Unsupported:
            return super().history_item(step)

    # ---------------------------------------------------------------- render

    def _pt(self, p, width: int, height: int) -> str:
        x, y = self.model_point(p, width, height)
        return f"<point>{x} {y}</point>"

    def call(self, action: Action, width: int, height: int) -> str:
        """The ``Action:`` call for ``action`` (raises :class:`Unsupported`)."""
        t = action.type
        simple = {"click": "click", "long_press": "long_press", "double_click": "left_double",
                  "right_click": "right_single"}
        if t in simple:
            return _call(simple[t], point=self._pt(action.point, width, height))
        if t in ("swipe", "scroll"):
            direction = action.direction
            if direction is None and action.point is not None and action.end_point is not None:
                direction = finger_direction(action.point, action.end_point)
            if direction is None:
                raise Unsupported(f"uitars: {t} without a direction")
            start = action.point if action.point is not None else (width / 2.0, height / 2.0)
            return _call("scroll", point=self._pt(start, width, height), direction=flip_direction(direction))
        if t == "drag":
            return _call("drag", start_point=self._pt(action.point, width, height),
                         end_point=self._pt(action.end_point, width, height))
        if t == "type":
            return _call("type", content=escape(action.text))
        if t == "enter":
            return _call("type", content=escape("\n"))
        if t == "open_app":
            return _call("open_app", app_name=escape(action.app))
        if t == "navigate_home":
            return "press_home()"
        if t == "navigate_back":
            return "press_back()"
        if t == "key":
            return _call("hotkey", key=escape(action.key))
        if t == "wait":
            return "wait()"
        if t == "status" and action.status == "complete":
            return _call("finished", content=escape(action.text or ""))
        what = f"status {action.status}" if t == "status" else t
        raise Unsupported(f"{self.name}: no UI-TARS action for {what}")

    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        call = self.call(action, width, height)
        return f"Action: {call}" if thought is None else f"Thought: {thought}\nAction: {call}"

    def normalize(self, action: Action, width: int, height: int) -> Action:
        self.call(action, width, height)
        t = action.type
        if t in ("swipe", "scroll"):
            direction = action.direction or finger_direction(action.point, action.end_point)
            start = action.point if action.point is not None else (width / 2.0, height / 2.0)
            return Action(type="swipe", point=start, direction=direction)
        if t == "long_press":
            return project(action, "point")
        if t == "type":  # a typed lone newline is UI-TARS's way to press enter
            return Action(type="enter") if action.text == "\n" else project(action, "text")
        if t == "wait":
            return Action(type="wait")
        if t == "status":
            return project(action, "status", "text", text=action.text or None)
        return super().normalize(action, width, height)

    # ---------------------------------------------------------------- parse

    @never_raises
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        think, rest = P.split_think(text, "(")
        pos = _line_marker(rest, "Action:")
        if pos < 0:
            return Parsed(None, think, "no 'Action:' line")
        thought = think
        tpos = _line_marker(rest, "Thought:", 0, pos)
        if tpos >= 0:
            thought = rest[tpos + len("Thought:"):pos].strip()
        call = rest[pos + len("Action:"):pos + len("Action:") + P.MAX_WINDOW]
        parsed = _parse_call(call)
        if parsed is None:
            return Parsed(None, thought, "Action is not a call like click(point='<point>x y</point>')")
        name, args = parsed
        action, error = self._from_call(name, args, width, height)
        return Parsed(action, thought, error, {"call": name, "args": args})

    def _point(self, args: dict, width: int, height: int, *keys: str) -> Optional[tuple[float, float]]:
        for k in keys:
            if k in args:
                mp = P.point(args[k])
                return None if mp is None else self.from_model(mp, width, height)
        return None

    def _from_call(self, name: str, args: dict, width: int, height: int) -> tuple[Optional[Action], Optional[str]]:
        kinds = {"click": "click", "left_single": "click", "long_press": "long_press", "left_double": "double_click",
                 "double_click": "double_click", "right_single": "right_click", "right_click": "right_click"}
        if name in kinds:
            p = self._point(args, width, height, "point", "start_box", "start_point")
            return (Action(type=kinds[name], point=p), None) if p else (None, f"{name} needs point")
        if name == "scroll":
            d = args.get("direction", "").strip().lower()
            if d not in _DIRECTIONS:
                return None, "scroll needs direction up/down/left/right"
            p = self._point(args, width, height, "point", "start_box", "start_point")
            if p is None:
                return Action(type="scroll", direction=flip_direction(d)), None
            return Action(type="swipe", point=p, direction=flip_direction(d)), None
        if name in ("drag", "select"):
            p = self._point(args, width, height, "start_point", "start_box", "point")
            e = self._point(args, width, height, "end_point", "end_box")
            return (Action(type="drag", point=p, end_point=e), None) if p and e else (None, "drag needs two points")
        if name == "type":
            content = args.get("content", "")
            if content == "\n":
                return Action(type="enter"), None
            return (Action(type="type", text=content), None) if content else (None, "type needs content")
        if name == "open_app":
            app = args.get("app_name", "")
            return (Action(type="open_app", app=app), None) if app else (None, "open_app needs app_name")
        if name in ("press_home", "home"):
            return Action(type="navigate_home"), None
        if name in ("press_back", "back"):
            return Action(type="navigate_back"), None
        if name in ("press_enter", "enter"):
            return Action(type="enter"), None
        if name == "hotkey":
            key = args.get("key", args.get("hotkey", ""))
            return (Action(type="key", key=key), None) if key else (None, "hotkey needs key")
        if name == "wait":
            return Action(type="wait"), None
        if name == "finished":
            return Action(type="status", status="complete", text=args.get("content") or None), None
        if name == "call_user":
            return Action(type="ask_user"), None
        return None, f"unknown action {name[:40]!r}"


def _line_marker(text: str, marker: str, start: int = 0, end: Optional[int] = None) -> int:
    """Index of ``marker`` at the start of a line in ``text[start:end]`` (-1 if none)."""
    end = len(text) if end is None else end
    first = len(text) - len(text.lstrip())  # index of the first non-blank character (computed once: linear)
    i = text.find(marker, start, end)
    while i >= 0:
        if i <= first or text[i - 1] == "\n":
            return i
        i = text.find(marker, i + 1, end)
    return -1


def _parse_call(s: str) -> Optional[tuple[str, dict[str, str]]]:
    """``name(key='value', ...)`` → (name, {key: unescaped value}); tolerant of blanks, code fences, double
    quotes, unquoted values and a missing closing parenthesis. Linear in ``len(s)``."""
    i, n = 0, len(s)
    while i < n and s[i] in " \t\r\n`":
        i += 1
    j = i
    while j < n and (s[j].isalnum() or s[j] == "_") and j - i < 64:
        j += 1
    name = s[i:j].lower()
    if not name or j >= n or s[j] != "(":
        return None
    i, args, positional = j + 1, {}, 0
    while i < n:
        while i < n and s[i] in " \t\r\n,":
            i += 1
        if i >= n or s[i] == ")":
            break
        k = i
        while k < n and (s[k].isalnum() or s[k] == "_") and k - i < 64:
            k += 1
        key = s[i:k]
        if key and k < n and s[k] == "=":
            i = k + 1
        else:
            key = f"_{positional}"
            positional += 1
        if i < n and s[i] in "'\"":
            q = s[i]
            e = i + 1
            while True:  # find the closing quote that is not escaped
                e = s.find(q, e)
                if e < 0:
                    return None  # unterminated string: truncated output is not an action
                back = 0
                while s[e - 1 - back] == "\\":
                    back += 1
                if back % 2 == 0:
                    break
                e += 1
            args[key] = unescape(s[i + 1:e])
            i = e + 1
        else:
            e = i
            while e < n and s[e] not in ",)\n":
                e += 1
            if e == i:
                return None
            args[key] = s[i:e].strip()
            i = e
    if "_0" in args and not any(k in args for k in ("point", "start_box", "content")):
        args.setdefault({"type": "content", "finished": "content", "open_app": "app_name",
                         "hotkey": "key"}.get(name, "point"), args["_0"])
    return name, args
