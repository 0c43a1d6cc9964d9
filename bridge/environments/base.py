"""The GUI environment contract, in the canonical vocabulary of :mod:`bridge.schema`.

Gymnasium's API shape (``reset(seed=...) -> (obs, info)``, ``step(action) -> (obs, reward, terminated,
truncated, info)``, ``close()``), with canonical types instead of Gym spaces:

* observation = :class:`Observation`: the screenshot (RGB, original pixels), the instruction, and optionally the
  UI elements (canonical :class:`~bridge.schema.Element`, boxes in screenshot pixels);
* action = a canonical :class:`~bridge.schema.Action` in pixels of that screenshot (what every style's parser
  returns), so a model's parsed output is stepped as is;
* reward, terminated from the environment; truncated when ``max_turns`` actions were taken.

An action the environment cannot perform (an ``open_app`` in a web page, a parse failure passed as None) is a
wasted turn: no effect, reward 0, ``info["invalid_action"]`` says why — never an exception.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..schema import Action, Element


@dataclass
class Observation:
    image: Any                       # PIL.Image.Image, RGB, width x height
    instruction: str
    elements: Optional[list[Element]] = None
    meta: dict[str, Any] = field(default_factory=dict)   # environment-specific (task, seed, turn, fields, ...)

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


class GuiEnv:
    """Base class of GUI environments. Subclasses implement :meth:`_reset`, :meth:`_step` and :meth:`close`;
    this class counts turns and applies ``max_turns``."""

    name: str = "gui"

    def __init__(self, max_turns: int = 10):
        self.max_turns = max_turns
        self.turn = 0
        self.done = True

    def reset(self, seed: Optional[int] = None, options: Optional[dict[str, Any]] = None
              ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode (``options`` may name the ``task``); returns ``(observation, info)``."""
        self.turn = 0
        obs, info = self._reset(seed, dict(options or {}))
        self.done = False
        return obs, info

    def step(self, action: Optional[Action]) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Perform ``action`` (None: a turn without one, e.g. the model's text did not parse)."""
        if self.done:
            raise RuntimeError("step() after the episode ended; call reset() first")
        self.turn += 1
        obs, reward, terminated, info = self._step(action)
        truncated = not terminated and self.turn >= self.max_turns
        self.done = terminated or truncated
        return obs, reward, terminated, truncated, info

    def _reset(self, seed, options) -> tuple[Observation, dict[str, Any]]:
        raise NotImplementedError

    def _step(self, action: Optional[Action]) -> tuple[Observation, float, bool, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
