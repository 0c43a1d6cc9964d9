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
        d = {"v": GT_VERSION, "action": self.action.compact(), "width": self.width, "height": self.height,
             "style": self.style, "frame": self.frame.to_dict()}
        if self.elements is not None:
            d["elements"] = [list(b) for b in self.elements]
        if self.meta:
            d["meta"] = self.meta
        return d

    def to_json(self) -> str:
        """Compact, key-sorted JSON (stable bytes: the same sample always gives the same string)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_any(cls, value: Union[str, bytes, dict, "GroundTruth"]) -> "GroundTruth":
        """Accept the JSON string, its parsed dict (some backends decode JSON columns) or an instance."""
        if isinstance(value, GroundTruth):
            return value
        d = json.loads(value) if isinstance(value, (str, bytes)) else dict(value)
        if d.get("v", 0) > GT_VERSION:
            raise ValueError(f"ground truth version {d.get('v')} is newer than this gui-bridge understands")
        elements = d.get("elements")
        return cls(action=Action.model_validate(d["action"]), width=int(d["width"]), height=int(d["height"]),
                   style=d["style"], frame=Frame.from_dict(d["frame"]),
                   elements=[tuple(b) for b in elements] if elements is not None else None, meta=d.get("meta", {}))
