"""The style contract: how a model sees a step (prompt) and speaks an action (text).

A style = system prompt + user prompt (goal, history window, low-level instruction, images) + an action
renderer + its exact inverse parser + a coordinate :class:`~bridge.frames.Frame`. Styles are independent of
backends: adapters only re-shape the neutral messages produced here.

Neutral message form (what :meth:`Style.messages` returns)::

    {"role": "system" | "user" | "assistant",
     "content": [{"type": "text", "text": "..."}, {"type": "image", "image": "/abs/path.png"}, ...]}

Images appear as blocks exactly where the model sees them (a style may put an image in the middle of a
sentence, as GUI-R1's "In this UI screenshot <image>, I want ..." does); adapters turn them into ``<image>``
markers, typed blocks or prepended images as each backend requires. Adjacent text blocks of one message are
meant to be concatenated verbatim (no separator is implied). Consecutive messages never share a role.

Round-trip contract: for every action a style can express, ``parse_action(render_action(a)).action`` equals
``normalize(a)`` within ``frame().tolerance(W, H)`` original pixels. ``normalize`` states, as code, what the
style's text can carry (e.g. a seed click carries a box, not a point; a mobile_use swipe carries an end point).
"""
from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

from ..frames import Frame, box_center, finger_direction
from ..schema import Action, Episode, Step


class Unsupported(Exception):
    """The style cannot express this action; exporters count and refuse the step, never remap it."""


@dataclass(frozen=True)
class PromptOptions:
    history: int = 4             # how many previous steps to describe (0 = none)
    prev_image: bool = False     # also show the previous screenshot (before the current one)
    think: bool = False          # ask for / render <think>...</think> (or the style's native thought) first
    min_pixels: Optional[int] = None   # processor limits for smart-resized frames (None = style default)
    max_pixels: Optional[int] = None
    low_instruction: bool = True  # show the step's low-level instruction when it has one


@dataclass
class Parsed:
    """Result of parsing model text. ``action`` is canonical (original pixels) or None with ``error`` set."""

    action: Optional[Action]
    thought: Optional[str] = None
    error: Optional[str] = None
    fields: dict[str, Any] = field(default_factory=dict)   # style-specific raw values (e.g. model coords)

    @property
    def ok(self) -> bool:
        return self.action is not None


#: Fields that carry meaning for each action type (everything else — bbox, meta, stray fields — is dropped by
#: the default :meth:`Style.normalize`).
RELEVANT: dict[str, tuple[str, ...]] = {
    "click": ("point",), "long_press": ("point", "duration_ms"), "double_click": ("point",),
    "right_click": ("point",), "swipe": ("point", "end_point", "direction"), "scroll": ("point", "direction"),
    "drag": ("point", "end_point"), "type": ("text", "point"), "key": ("key",), "open_app": ("app",),
    "wait": ("duration_ms",), "navigate_back": (), "navigate_home": (), "enter": (), "select": ("text", "point"),
    "answer": ("text",), "ask_user": ("text",), "status": ("status", "text"),
}

MAX_PARSE_CHARS = 8_000_000   # texts longer than this are refused outright (still in O(1))


def project(action: Action, *fields: str, **updates: Any) -> Action:
    """A new action of ``action.type`` keeping only ``fields`` (then applying ``updates``)."""
    data = {"type": action.type}
    for f in fields:
        value = getattr(action, f)
        if value is not None:
            data[f] = value
    data.update({k: v for k, v in updates.items()})
    return Action.model_validate({k: v for k, v in data.items() if v is not None})


def never_raises(parse: Callable[..., Parsed]) -> Callable[..., Parsed]:
    """Wrap a parser so that it honours the contract whatever the input: non-strings, huge strings and any
    internal failure become ``Parsed(action=None, error=...)``."""

    @functools.wraps(parse)
    def guarded(self, text, width, height) -> Parsed:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if not isinstance(text, str):
            return Parsed(None, error=f"expected text, got {type(text).__name__}")
        if len(text) > MAX_PARSE_CHARS:
            return Parsed(None, error=f"output too long ({len(text)} characters)")
        try:
            return parse(self, text, width, height)
        except Exception as e:  # the contract: a parser never raises (bad numbers, bad sizes, bugs alike)
            return Parsed(None, error=f"unparseable: {type(e).__name__}: {str(e)[:200]}")

    return guarded


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_block(path: str) -> dict[str, Any]:
    return {"type": "image", "image": path}


def absolute(image_root, rel: str) -> str:
    """Absolute path of a step image: ``image_root`` is a directory the paths are relative to, or a resolver
    (``Dataset.image_resolver()``: honours the manifest's image root); absolute paths stay."""
    return os.path.abspath(image_root(rel) if callable(image_root) else os.path.join(image_root, rel))


def merge_roles(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge consecutive messages of one role (content blocks concatenated) so roles alternate."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if not m["content"]:
            continue
        if out and out[-1]["role"] == m["role"]:
            out[-1]["content"].extend(m["content"])
        else:
            out.append({"role": m["role"], "content": list(m["content"])})
    return out


def describe_action(action: Action) -> str:
    """A short, neutral English description (history fallback when a style cannot render a past action)."""
    t = action.type
    if action.point is not None and t in ("click", "long_press", "double_click", "right_click", "drag", "swipe"):
        where = f" at ({round(action.point[0])}, {round(action.point[1])})"
    else:
        where = ""
    if t in ("swipe", "scroll") and action.direction:
        return f"{t} {action.direction}{where}"
    if t in ("type", "select", "answer", "ask_user"):
        return f"{t} {action.text!r}"
    if t == "open_app":
        return f"open app {action.app!r}"
    if t == "key":
        return f"press key {action.key!r}"
    if t == "status":
        return f"status {action.status}"
    return t.replace("_", " ") + where


def swipe_end(action: Action, width: int, height: int, fraction: float = 0.3) -> tuple[tuple[float, float],
                                                                                      tuple[float, float]]:
    """(start, end) finger points of a swipe/scroll in original pixels.

    Uses the action's end point when it has one. A direction-only gesture starts at its point (screen centre
    when it has none) and moves ``fraction`` of the screen along the finger direction, clamped to the screen —
    the synthesis AgentCPM-GUI's converters use. A start so close to the edge that less than 5 % of the screen
    remains in that direction cannot be expressed without guessing: :class:`Unsupported`.
    """
    start = action.point if action.point is not None else (width / 2.0, height / 2.0)
    if action.end_point is not None:
        return (float(start[0]), float(start[1])), (float(action.end_point[0]), float(action.end_point[1]))
    if action.direction is None:
        raise Unsupported(f"{action.type} without an end point or a direction")
    x, y = float(start[0]), float(start[1])
    d = action.direction
    size = width if d in ("left", "right") else height
    sign = 1.0 if d in ("right", "down") else -1.0
    if d in ("left", "right"):
        ex, ey = min(max(x + sign * fraction * width, 0.0), float(width)), y
        moved = abs(ex - x)
    else:
        ex, ey = x, min(max(y + sign * fraction * height, 0.0), float(height))
        moved = abs(ey - y)
    if moved < 0.05 * size:
        raise Unsupported(f"{action.type} {d} starts at the screen edge; no room to synthesise an end point")
    return (x, y), (ex, ey)


class Style(ABC):
    """Base class of every style. Subclasses set ``name`` and implement the four abstract methods.

    Helpers for subclasses: :meth:`history` (the history window as strings), :meth:`low_instruction`,
    :meth:`screens` (absolute previous/current screenshot paths).
    """

    name: ClassVar[str]

    def __init__(self, options: PromptOptions = PromptOptions()):
        self.options = options

    @abstractmethod
    def frame(self) -> Frame:
        """The coordinate frame this style's model speaks (with processor limits from ``options``)."""

    def frame_note(self, width: int, height: int) -> Optional[str]:
        """Why this style's frame differs from the frame of the published work it is named after, for a
        ``width`` × ``height`` screenshot (None when they agree, the default); ``bridge run`` records it in the run's
        notes (e.g. :meth:`bridge.styles.guir1.GuiR1Style.frame_note`)."""
        return None

    @abstractmethod
    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        """Prompt messages (system? + user) for one step; image paths are absolute (``image_root`` joined)."""

    @abstractmethod
    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        """Target text for ``action``; raises :class:`Unsupported` for an action the style cannot express.
        ``thought`` (possibly empty) is rendered in the style's thought slot; None renders none."""

    @abstractmethod
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        """Inverse of :meth:`render_action`; tolerant of real model output; never raises, never evals."""

    # ------------------------------------------------------------------ overridable, with defaults

    def normalize(self, action: Action, width: int, height: int) -> Action:
        """The canonical action this style's text carries for ``action`` (see the module docstring);
        raises :class:`Unsupported` exactly when :meth:`render_action` does."""
        self.render_action(action, width, height)
        return project(action, *RELEVANT[action.type])

    def render_step(self, step: Step, thought: Optional[str] = None) -> str:
        """Target text for a dataset step (styles whose output also describes the step override this)."""
        return self.render_action(step.action, step.width, step.height, thought)

    def history_item(self, step: Step) -> str:
        """How a previous step appears in the history: its low-level instruction when it has one, otherwise
        the style's rendering of its action (a neutral description if the style cannot express it)."""
        if step.low_instruction:
            return step.low_instruction
        try:
            return self.render_action(step.action, step.width, step.height)
        except Unsupported:
            return describe_action(step.action)

    # ------------------------------------------------------------------ helpers for subclasses

    def history(self, episode: Episode, step_index: int) -> list[str]:
        """The last ``options.history`` history items: the source's own history when an importer kept it in
        ``step.meta["history"]`` (a list of strings, or one string such as GUI-R1's), else one
        :meth:`history_item` per previous step. A stored ``"None"`` / empty history means none."""
        n = max(0, self.options.history)
        if not n:
            return []
        stored = episode.steps[step_index].meta.get("history")
        if isinstance(stored, list) and all(isinstance(x, str) for x in stored):
            return stored[-n:]
        if isinstance(stored, str):
            text = stored.strip()
            return [] if text.lower() in ("", "none", "null", "[]") else [text]
        return [self.history_item(s) for s in episode.steps[max(0, step_index - n):step_index]]

    def format_history(self, episode: Episode, step_index: int, item: str = "Step {n}: {text}; ") -> str:
        """The history window joined with ``item`` (``{n}`` numbers steps from the start of the episode);
        an empty string when there is none."""
        items = self.history(episode, step_index)
        stored = episode.steps[step_index].meta.get("history")
        total = len(stored) if isinstance(stored, list) else (len(items) if isinstance(stored, str) else step_index)
        first = total - len(items) + 1
        return "".join(item.format(n=first + k, text=t) for k, t in enumerate(items))

    def low_instruction(self, step: Step) -> Optional[str]:
        return step.low_instruction if self.options.low_instruction and step.low_instruction else None

    def screens(self, episode: Episode, step_index: int, image_root: str) -> tuple[Optional[str], str]:
        """(previous screenshot or None, current screenshot), absolute. The previous one is returned only when
        ``options.prev_image`` is set and the step has a predecessor."""
        step = episode.steps[step_index]
        prev = None
        if self.options.prev_image and step_index > 0:
            prev = absolute(image_root, episode.steps[step_index - 1].screenshot)
        return prev, absolute(image_root, step.screenshot)

    def model_point(self, p, width: int, height: int) -> list:
        """Original-pixel point → the model's numbers (ints, or floats for [0,1] frames), as a list."""
        x, y = self.frame().to_model(p[0], p[1], width, height)
        return [x, y]

    def from_model(self, mp: tuple[float, float], width: int, height: int) -> tuple[float, float]:
        return self.frame().from_model(mp[0], mp[1], width, height)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.options})"


def swipe_action(start: tuple[float, float], end: tuple[float, float]) -> Action:
    """Canonical swipe from finger start/end points (direction derived from the vector)."""
    return Action(type="swipe", point=start, end_point=end, direction=finger_direction(start, end))


def center_of(box) -> tuple[float, float]:
    return box_center(box)
