"""The style contract: how a model sees a step (prompt) and speaks an action (text).

A style = system prompt + user prompt (goal, history window, low-level instruction, images) + an action
renderer + its exact inverse parser + a coordinate :class:`~bridge.frames.Frame`. Styles are independent of
backends: adapters only re-shape the neutral messages produced here.

Neutral message form (what :meth:`Style.messages` returns)::

    {"role": "system" | "user" | "assistant",
     "content": [{"type": "text", "text": "..."}, {"type": "image", "image": "/abs/path.png"}, ...]}

Images appear as blocks in the order the model sees them; adapters turn them into ``<image>`` markers,
typed blocks or prepended images as each backend requires.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

from ..frames import Frame
from ..schema import Action, Episode


class Unsupported(Exception):
    """The style cannot express this action; exporters count and refuse the step, never remap it."""


@dataclass(frozen=True)
class PromptOptions:
    history: int = 4             # how many previous steps to describe (0 = none)
    prev_image: bool = False     # also show the previous screenshot (before the current one)
    think: bool = False          # ask for / render <think>...</think> before the action
    min_pixels: Optional[int] = None   # processor limits for smart-resized frames (None = style default)
    max_pixels: Optional[int] = None


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


class Style(ABC):
    """Base class of every style. Subclasses set ``name`` and implement the four abstract methods."""

    name: ClassVar[str]

    def __init__(self, options: PromptOptions = PromptOptions()):
        self.options = options

    @abstractmethod
    def frame(self) -> Frame:
        """The coordinate frame this style's model speaks (with processor limits from ``options``)."""

    @abstractmethod
    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        """Prompt messages (system? + user) for one step; image paths are absolute (``image_root`` joined)."""

    @abstractmethod
    def render_action(self, action: Action, width: int, height: int, thought: Optional[str] = None) -> str:
        """Target text for ``action``; raises :class:`Unsupported` for an action the style cannot express."""

    @abstractmethod
    def parse_action(self, text: str, width: int, height: int) -> Parsed:
        """Inverse of :meth:`render_action`; tolerant of real model output; never raises, never evals."""
