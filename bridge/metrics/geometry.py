"""Geometry of the published matching rules, in NORMALISED screen coordinates (x/W, y/H) as the originals
compute them — so "0.14 of the screen" is anisotropic in pixels, exactly as in AITW / AgentCPM / GUI-Odyssey."""
from __future__ import annotations

import math
from typing import Iterable, Optional

from ..frames import finger_direction
from ..schema import Action, Element, Step

NBox = tuple[float, float, float, float]   # (left, top, width, height), normalised
NPoint = tuple[float, float]               # (x, y), normalised


def norm_point(p, width: int, height: int) -> NPoint:
    return p[0] / width, p[1] / height


def norm_box(box, width: int, height: int) -> NBox:
    """Original-pixel (x1, y1, x2, y2) → normalised (left, top, width, height)."""
    x1, y1, x2, y2 = box
    return x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height


def grow(box: NBox, add: float, clamp: bool) -> NBox:
    """Enlarge a box by ``add`` × its size, half on each side.

    AITW (``add=1.4``, i.e. the box becomes 2.4× as wide: its docstring says "1.4 == 240% total") and AgentCPM
    (``add=0.2``) clamp the top-left corner at 0 and the size at 1 without moving the far edge back; the Qwen
    AndroidControl rule (``add=0.2``) does not clamp. Both behaviours are reproduced."""
    left, top, w, h = box
    dw, dh = add * w, add * h
    left, top, w, h = left - dw / 2, top - dh / 2, w + dw, h + dh
    if clamp:
        left, top, w, h = max(0.0, left), max(0.0, top), min(1.0, w), min(1.0, h)
    return left, top, w, h


def inside(p: NPoint, box: NBox) -> bool:
    """Inclusive containment (every evaluator here includes the edges)."""
    left, top, w, h = box
    return left <= p[0] <= left + w and top <= p[1] <= top + h


def distance(a: NPoint, b: NPoint) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def pixel_distance(a, b) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def box_center(box: NBox) -> NPoint:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def pred_point(action: Action) -> Optional[tuple[float, float]]:
    """The point a prediction designates, in original pixels: its point, else the centre of its box
    (ScreenSpot convention for models that answer with a box)."""
    if action.point is not None:
        return action.point
    if action.bbox is not None:
        x1, y1, x2, y2 = action.bbox
        return (x1 + x2) / 2, (y1 + y2) / 2
    return None


def direction(action: Action, size: Optional[tuple[int, int]] = None, moved_first: bool = False) -> Optional[str]:
    """Finger direction of a swipe/scroll/drag: the stored one, else the dominant axis of point→end_point
    (decided in normalised units when ``size=(W, H)`` is given, in pixels otherwise).

    ``moved_first``: the movement decides whenever the action has both points (a prediction: its parser's
    stored direction was decided in pixels, the profile's source may decide in normalised units)."""
    has_points = action.point is not None and action.end_point is not None
    if action.direction is not None and not (moved_first and has_points):
        return action.direction
    if has_points:
        return finger_direction(action.point, action.end_point, size)
    return action.direction


def annotation_boxes(step: Step) -> list[tuple[float, float, float, float]]:
    """All element boxes of a step (original px): the target's ``action.bbox`` first, then ``elements``."""
    boxes: list = []
    if step.action.bbox is not None:
        boxes.append(tuple(step.action.bbox))
    for e in step.elements or ():
        b = tuple(e.bbox)
        if b not in boxes:
            boxes.append(b)
    return boxes


def minimal_enclosing(elements: Iterable[Element], point) -> list[tuple[float, float, float, float]]:
    """Boxes of the smallest-area elements that contain ``point`` (ties all kept) — the "candidate boxes"
    of the AndroidControl rule are the minimal accessibility nodes under the tap, not their containers."""
    hits = [tuple(e.bbox) for e in elements
            if e.bbox[0] <= point[0] <= e.bbox[2] and e.bbox[1] <= point[1] <= e.bbox[3]]
    if not hits:
        return []
    area = min((b[2] - b[0]) * (b[3] - b[1]) for b in hits)
    return [b for b in hits if (b[2] - b[0]) * (b[3] - b[1]) == area]
