"""The ground truth that travels inside backend data (verl ``reward_model.ground_truth``, ms-swift/TRL extra
columns, VLM-R1 solutions) so that one reward implementation can score a completion on every backend.

It carries the canonical action in ORIGINAL pixels plus what is needed to invert the model's coordinate frame
exactly: the screenshot size and the frame (with the processor's factor/min/max pixels for smart-resized frames).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .frames import Frame
from .schema import Action

GT_VERSION = 1
#: one encoder for every ground truth: json.dumps with options builds a new JSONEncoder per call (issue 16)
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


@dataclass(frozen=True)
class GroundTruth:
    action: Action
    width: int
    height: int
    style: str
    frame: Frame
    #: candidate element boxes (original px) for metrics that accept any matching element (AndroidControl rule)
    elements: Optional[list[tuple[float, float, float, float]]] = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form. ``model_size`` (the [W, H] of the space model coordinates live in: the smart-resized
        size for resized frames) is derived, written for readers that do not recompute smart_resize."""
        d = {"v": GT_VERSION, "action": self.action.compact(), "width": self.width, "height": self.height,
             "style": self.style, "frame": self.frame.to_dict(),
             "model_size": list(self.frame.model_size(self.width, self.height))}
        if self.elements is not None:
            d["elements"] = [list(b) for b in self.elements]
        if self.meta:
            d["meta"] = self.meta
        return d

    def to_json(self) -> str:
        """Compact, key-sorted JSON (stable bytes: the same sample always gives the same string)."""
        return _ENCODE(self.to_dict())

    @classmethod
    def from_any(cls, value: Union[str, bytes, dict, "GroundTruth"]) -> "GroundTruth":
        """Accept the JSON string, its parsed dict (some backends decode JSON columns) or an instance."""
        if isinstance(value, GroundTruth):
            return value
        d = json.loads(value) if isinstance(value, (str, bytes)) else dict(value)
        if not isinstance(d, dict):
            raise ValueError(f"ground truth must be a JSON object, got {type(d).__name__}")
        if d.get("v", 0) > GT_VERSION:
            raise ValueError(f"ground truth version {d.get('v')} is newer than this gui-bridge understands")
        elements = d.get("elements")
        return cls(action=Action.model_validate(d["action"]), width=int(d["width"]), height=int(d["height"]),
                   style=d["style"], frame=Frame.from_dict(d["frame"]),
                   elements=[tuple(b) for b in elements] if elements is not None else None, meta=d.get("meta", {}))

    def make_style(self, **options: Any):
        """The style this ground truth was exported with, configured with the same processor limits (so that
        parsing inverts exactly the transform used for the target); ``options`` override PromptOptions fields."""
        from .styles import get_style
        from .styles.base import PromptOptions

        return get_style(self.style, PromptOptions(**{"min_pixels": self.frame.min_pixels,
                                                      "max_pixels": self.frame.max_pixels, **options}))

    def parse(self, text: str):
        """Parse a completion with :meth:`make_style` at this ground truth's screen size (a ``Parsed``)."""
        return self.make_style().parse_action(text, self.width, self.height)
