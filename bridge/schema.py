"""The canonical trajectory format: a public contract (documented in docs/format.md).

Coordinates are floats in pixels of the *original* screenshot, x first; every model convention is derived
from them by :mod:`bridge.frames`. What a source carries beyond these fields goes to ``meta`` — never dropped.

The models check *types* only. Semantic rules (a click needs a point, a point lies inside the image, a path
stays inside the dataset root, ...) live in :mod:`bridge.validate`, so that every problem of a record can be
reported at once with its location instead of stopping at the first.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

FORMAT_NAME = "gui-bridge/dataset"
#: The newest format version this code reads and writes. Version 2 added ``Manifest.image_root`` (images
#: referenced in place); a dataset without it is written as version 1, which older releases still read.
FORMAT_VERSION = 2

ACTION_TYPES: tuple[str, ...] = (
    "click", "long_press", "double_click", "right_click", "swipe", "scroll", "drag", "type", "key",
    "open_app", "wait", "navigate_back", "navigate_home", "enter", "select", "answer", "ask_user", "status",
)
ActionType = Literal[
    "click", "long_press", "double_click", "right_click", "swipe", "scroll", "drag", "type", "key",
    "open_app", "wait", "navigate_back", "navigate_home", "enter", "select", "answer", "ask_user", "status",
]
Direction = Literal["up", "down", "left", "right"]
Status = Literal["complete", "impossible", "interrupt", "need_feedback"]
Platform = Literal["android", "ios", "web", "desktop"]

POINT_ACTIONS = frozenset({"click", "long_press", "double_click", "right_click"})

#: Fields an action of each type must carry (checked by bridge.validate). ``swipe`` needs a start point and
#: a finger direction; its end point is optional (direction-only sources). ``scroll`` needs only a direction.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "click": ("point",), "long_press": ("point",), "double_click": ("point",), "right_click": ("point",),
    "swipe": ("point", "direction"), "scroll": ("direction",), "drag": ("point", "end_point"),
    "type": ("text",), "key": ("key",), "open_app": ("app",), "wait": (), "navigate_back": (),
    "navigate_home": (), "enter": (), "select": ("text",), "answer": ("text",), "ask_user": ("text",),
    "status": ("status",),
}
assert set(REQUIRED_FIELDS) == set(ACTION_TYPES)

Point = tuple[float, float]
Box = tuple[float, float, float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Action(_Model):
    """One step's action. ``direction`` is the *finger* direction (a swipe UP scrolls content down);
    importers of content-direction sources flip it and record ``meta.source_direction``."""

    type: ActionType
    point: Optional[Point] = None
    bbox: Optional[Box] = None
    end_point: Optional[Point] = None
    direction: Optional[Direction] = None
    text: Optional[str] = None
    app: Optional[str] = None
    key: Optional[str] = None
    duration_ms: Optional[int] = Field(default=None, ge=0)
    status: Optional[Status] = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def compact(self) -> dict[str, Any]:
        """The action as a dict without unset fields (the form stored on disk)."""
        return self.model_dump(exclude_none=True, exclude_defaults=True, mode="json")


class Element(_Model):
    """A UI element: a box in original pixels plus whatever text/ids the source has."""

    bbox: Box
    text: Optional[str] = None
    role: Optional[str] = None
    resource_id: Optional[str] = None
    clickable: Optional[bool] = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Step(_Model):
    index: int = Field(ge=0)
    screenshot: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    extra_images: list[str] = Field(default_factory=list)
    low_instruction: Optional[str] = None
    thought: Optional[str] = None
    elements: Optional[list[Element]] = None
    action: Action
    meta: dict[str, Any] = Field(default_factory=dict)


class Episode(_Model):
    episode_id: str = Field(min_length=1)
    instruction: str
    platform: Platform = "android"
    app: Optional[str] = None
    source: str = "unknown"
    split: Optional[str] = None
    meta: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step]

    def to_json_line(self) -> str:
        """One compact JSON line (what the episodes file holds): fields that are None and empty ``meta`` /
        ``extra_images`` are left out (readers fill in the same defaults)."""
        return self.to_json_bytes().decode()

    def to_json_bytes(self) -> bytes:
        """:meth:`to_json_line` as UTF-8 bytes (what writers append, without a decode/encode round trip)."""
        return self.__pydantic_serializer__.to_json(self, exclude_none=True, exclude=_empty_fields(self))


def _empty_fields(episode: Episode) -> Optional[dict]:
    """pydantic ``exclude`` spec naming the empty ``meta`` / ``extra_images`` of an episode (None if none)."""
    steps: dict[int, Any] = {}
    for i, s in enumerate(episode.steps):
        ex: dict[str, Any] = {}
        if not s.meta:
            ex["meta"] = True
        if not s.extra_images:
            ex["extra_images"] = True
        if not s.action.meta:
            ex["action"] = {"meta": True}
        if s.elements:
            els = {k: {"meta": True} for k, e in enumerate(s.elements) if not e.meta}
            if els:
                ex["elements"] = els
        if ex:
            steps[i] = ex
    spec: dict[str, Any] = {"steps": steps} if steps else {}
    if not episode.meta:
        spec["meta"] = True
    return spec or None


class Manifest(_Model):
    """``manifest.json``. ``image_root`` (format version 2): an absolute directory that step image paths are
    relative to — images referenced in place instead of copied or linked into the dataset; paths under
    ``images/`` still name files inside the dataset (see :meth:`bridge.dataset.Dataset.image_path`)."""

    format: Literal["gui-bridge/dataset"] = FORMAT_NAME
    version: int = FORMAT_VERSION
    source: str = "unknown"
    episodes: int = 0
    steps: int = 0
    created_by: str = "gui-bridge"
    image_root: Optional[str] = None
    meta: dict[str, Any] = Field(default_factory=dict)


def json_schema() -> dict[str, Any]:
    """JSON Schema of one line of the episodes file (what ``bridge schema`` prints)."""
    schema = Episode.model_json_schema()
    schema["$id"] = "https://gui-bridge/schema/episode-v%d.json" % FORMAT_VERSION
    schema["title"] = "gui-bridge episode (format version %d)" % FORMAT_VERSION
    return schema
