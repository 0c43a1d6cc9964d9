"""Coordinate frames: every model convention is a pure function of (point, W, H, frame).

Canonical coordinates are float pixels of the original W×H screenshot. A :class:`Frame` maps them to what a
model reads and writes, with that convention's rounding, and back:

* ``pixel``   — original pixels (integers when rendered), e.g. the seed per-step JSON.
* ``rel1``    — [0, 1] floats (AITW, GUI-R1 parquet).
* ``rel1000`` — integers in [0, 1000] (Qwen2-VL, Qwen3-VL, AgentCPM-GUI, UI-TARS v1).
* ``resized`` — integer pixels of the smart-resized image the processor feeds the model (Qwen2.5-VL,
  UI-TARS-1.5); needs the processor's ``factor``, ``min_pixels`` and ``max_pixels``.
* ``area``    — integer pixels of the image GUI-R1's ``process_image`` hands the processor (the area scaled
  into [min_pixels, max_pixels] by sqrt, sides truncated, not snapped to the patch grid): the frame GUI-R1
  scales its ground truth to (:func:`area_resize`). Reported, not trained with (see docs/styles.md).

It is also the home of the resize policy (docs/backends.md): :class:`Pixels` (factor and pixel bounds: the grid
every backend must produce), the bounds a frame implies (:attr:`Frame.pixels`) and the bounds a model's own
processor applies (:func:`processor_pixels`, :func:`effective_pixels`) — used by the styles' frames, the adapters
and ``bridge check`` alike.
"""
from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

from . import tiny

FrameKind = Literal["pixel", "rel1", "rel1000", "resized", "area"]

#: transformers' Qwen2VLImageProcessor defaults (min 56·56, max 28·28·1280); a model's own
#: preprocessor_config.json overrides them — read them from the target processor when there is one.
QWEN2VL_MIN_PIXELS = 56 * 56
QWEN2VL_MAX_PIXELS = 28 * 28 * 1280
MAX_ASPECT_RATIO = 200


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = QWEN2VL_MIN_PIXELS,
                 max_pixels: int = QWEN2VL_MAX_PIXELS) -> tuple[int, int]:
    """(height, width) the Qwen-VL image processor resizes an image to — the same function as
    transformers' ``qwen2_vl.image_processing_qwen2_vl.smart_resize`` (checked on random sizes in the tests).

    Both sides become multiples of ``factor`` (28 for Qwen2/2.5-VL, 32 for Qwen3-VL), the area is kept within
    [min_pixels, max_pixels] and the aspect ratio as close as possible. Note the (height, width) order.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got height={height}, width={width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {MAX_ASPECT_RATIO}, got "
            f"{max(height, width) / min(height, width)}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def area_resize(width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) of GUI-R1's ``process_image`` (ritzz-ai/GUI-R1 ``verl/utils/dataset.py``): an image whose
    area exceeds ``max_pixels`` is scaled by sqrt(max_pixels / area), one below ``min_pixels`` by
    sqrt(min_pixels / area), each side truncated to an integer. Note the (width, height) order."""
    if width * height > max_pixels:
        f = math.sqrt(max_pixels / (width * height))
        width, height = int(width * f), int(height * f)
    if width * height < min_pixels:
        f = math.sqrt(min_pixels / (width * height))
        width, height = int(width * f), int(height * f)
    return width, height


def image_tokens(height: int, width: int, factor: int = 28, min_pixels: int = QWEN2VL_MIN_PIXELS,
                 max_pixels: int = QWEN2VL_MAX_PIXELS) -> int:
    """Number of image placeholder tokens a Qwen-VL processor emits for one image of this size."""
    h, w = smart_resize(height, width, factor, min_pixels, max_pixels)
    return (h // factor) * (w // factor)


@dataclass(frozen=True)
class Pixels:
    """Smart-resize parameters: ``factor`` = patch size x merge size (28 Qwen2/2.5-VL, 32 Qwen3-VL)."""

    factor: int
    min_pixels: int
    max_pixels: int

    def grid(self, width: int, height: int) -> tuple[int, int]:
        """(height, width) in pixels the model sees for an original ``width`` x ``height`` image."""
        return smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)

    def tokens(self, width: int, height: int) -> int:
        h, w = self.grid(width, height)
        return (h // self.factor) * (w // self.factor)

    def to_dict(self) -> dict[str, int]:
        return {"factor": self.factor, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Pixels":
        return cls(int(d["factor"]), int(d["min_pixels"]), int(d["max_pixels"]))


def processor_pixels(model_dir: str | os.PathLike) -> Optional[Pixels]:
    """The bounds a model's own image processor applies (``preprocessor_config.json`` and/or the image processor
    nested in ``processor_config.json``), None if neither is there.

    Same precedence as transformers' Qwen2-VL image processor: explicit ``min_pixels``/``max_pixels`` win over
    ``size.shortest_edge``/``size.longest_edge``, which win over the defaults (56*56, 28*28*1280)."""
    cfg: Optional[dict] = None
    try:
        cfg = json.loads((Path(model_dir) / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    # Newer layouts nest the image processor in processor_config.json, which transformers reads first; a checkpoint
    # saved by transformers 5 (TRL's output/) has no preprocessor_config.json at all.
    try:
        nested = json.loads((Path(model_dir) / "processor_config.json").read_text(encoding="utf-8"))["image_processor"]
        cfg = {**(cfg or {}), **nested} if isinstance(nested, dict) else cfg
    except (OSError, ValueError, KeyError, TypeError):
        pass
    if not isinstance(cfg, dict):
        return None
    size = cfg.get("size") or {}
    lo = cfg.get("min_pixels") or size.get("shortest_edge") or QWEN2VL_MIN_PIXELS
    hi = cfg.get("max_pixels") or size.get("longest_edge") or QWEN2VL_MAX_PIXELS
    factor = int(cfg.get("patch_size", 14)) * int(cfg.get("merge_size", 2))
    return Pixels(factor, int(lo), int(hi))


def family_factor(family: Optional[str]) -> int:
    return 32 if family == "qwen3_vl" else 28


def effective_pixels(model: str, min_pixels: Optional[int] = None, max_pixels: Optional[int] = None,
                     family: Optional[str] = None) -> Pixels:
    """The recipe's bounds where set, else the model processor's, else the transformers defaults."""
    own = processor_pixels(model) if model and Path(model).is_dir() else None
    if own is None and model and model.startswith("tiny:") and model[5:] in tiny.PIXELS:
        _, factor, lo, hi = tiny.PIXELS[model[5:]]
        own = Pixels(factor, lo, hi)
    base = own or Pixels(family_factor(family), QWEN2VL_MIN_PIXELS, QWEN2VL_MAX_PIXELS)
    return Pixels(base.factor, min_pixels or base.min_pixels, max_pixels or base.max_pixels)


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass(frozen=True)
class Frame:
    """A model-facing coordinate convention. Immutable and JSON-serialisable (it travels with the ground truth)."""

    kind: FrameKind = "pixel"
    factor: int = 28
    min_pixels: int = QWEN2VL_MIN_PIXELS
    max_pixels: int = QWEN2VL_MAX_PIXELS

    # cached: rewards ask it for every coordinate of every completion, a GRPO group for the same screen
    # (bench/rewards_bench.py); frames are frozen, so (frame, width, height) is a safe key
    @functools.lru_cache(maxsize=4096)
    def model_size(self, width: int, height: int) -> tuple[float, float]:
        """(width, height) of the space model coordinates live in, for an original W×H screenshot."""
        if self.kind == "pixel":
            return float(width), float(height)
        if self.kind == "rel1":
            return 1.0, 1.0
        if self.kind == "rel1000":
            return 1000.0, 1000.0
        if self.kind == "area":
            w, h = area_resize(width, height, self.min_pixels, self.max_pixels)
            return float(w), float(h)
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return float(w), float(h)

    def to_model(self, x: float, y: float, width: int, height: int) -> tuple[float, float]:
        """Original-pixel point → model coordinates, rounded as the convention does (ints except rel1)."""
        mw, mh = self.model_size(width, height)
        sx, sy = x * mw / width, y * mh / height
        if self.kind == "rel1":
            return round(_clamp(sx, 0.0, 1.0), 4), round(_clamp(sy, 0.0, 1.0), 4)
        # Model pixel/grid coordinates are integers in [0, size]; clamp so a point on the edge stays valid.
        return int(_clamp(round(sx), 0, mw)), int(_clamp(round(sy), 0, mh))

    def from_model(self, mx: float, my: float, width: int, height: int) -> tuple[float, float]:
        """Model coordinates → original-pixel point (floats, no rounding): the exact inverse map."""
        mw, mh = self.model_size(width, height)
        return mx * width / mw, my * height / mh

    def box_to_model(self, box, width: int, height: int) -> tuple[float, float, float, float]:
        x1, y1 = self.to_model(box[0], box[1], width, height)
        x2, y2 = self.to_model(box[2], box[3], width, height)
        return x1, y1, x2, y2

    def box_from_model(self, box, width: int, height: int) -> tuple[float, float, float, float]:
        mw, mh = self.model_size(width, height)   # from_model's arithmetic, the size looked up once
        return box[0] * width / mw, box[1] * height / mh, box[2] * width / mw, box[3] * height / mh

    def tolerance(self, width: int, height: int) -> float:
        """Largest original-pixel error a to_model/from_model round trip can introduce (half a model unit)."""
        if self.kind == "rel1":
            return 0.5e-4 * max(width, height)
        mw, mh = self.model_size(width, height)
        return 0.5 * max(width / mw, height / mh)

    @property
    def pixels(self) -> Pixels:
        """The resize policy this frame assumes (its factor and pixel bounds)."""
        return Pixels(self.factor, self.min_pixels, self.max_pixels)

    def to_dict(self) -> dict[str, Any]:
        # asdict's generic recursion was a tenth of an export's time (issue 16); same keys, same order
        return {"kind": self.kind, "factor": self.factor, "min_pixels": self.min_pixels, "max_pixels": self.max_pixels}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Frame":
        return cls(**{k: d[k] for k in ("kind", "factor", "min_pixels", "max_pixels") if k in d})


PIXEL = Frame("pixel")
REL1 = Frame("rel1")
REL1000 = Frame("rel1000")


def resized(factor: int = 28, min_pixels: int = QWEN2VL_MIN_PIXELS, max_pixels: int = QWEN2VL_MAX_PIXELS) -> Frame:
    return Frame("resized", factor, min_pixels, max_pixels)


def finger_direction(start: tuple[float, float], end: tuple[float, float],
                     size: Optional[tuple[float, float]] = None) -> str:
    """Dominant axis of a finger movement (y grows downwards); ties go to the vertical axis.

    Decided in pixels by default. With ``size=(W, H)`` it is decided in normalised screen units (dx/W vs dy/H),
    as AITW (``action_matching.py``: (y, x) in [0, 1]), GUI-Odyssey (``format_converter.py``: [0, 1000]) and
    AgentCPM-GUI (``eval/utils/evaluator.py``: [0, 1000]) decide it: on a 1080x2400 screen a swipe 24–45°
    off the vertical is vertical in pixels and horizontal in those units."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if size is not None:
        dx, dy = dx / size[0], dy / size[1]
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


_FLIP = {"up": "down", "down": "up", "left": "right", "right": "left"}


def flip_direction(direction: str) -> str:
    """Content direction ↔ finger direction (scrolling content down means swiping the finger up)."""
    return _FLIP[direction]


def box_center(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
