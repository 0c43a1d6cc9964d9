"""Model families: how each Qwen-VL generation reads coordinates, and which styles pair with it (docs/styles.md,
"Styles and model families").

A family is an architecture (``config.json`` ``model_type``; ``tiny:<arch>``): its processor's smart-resize factor
(patch size x merge size) and the coordinate convention its pretraining taught it:

* ``qwen2_vl``   — [0,1000] relative integers (Qwen2-VL grounding, boxes normalised to [0,1000)); factor 28.
* ``qwen2_5_vl`` — absolute pixels of the smart-resized image the model is shown (Qwen2.5-VL technical report,
  arXiv:2502.13923: grounding in absolute coordinates of the input image's actual size); factor 28.
* ``qwen3_vl``   — [0,1000] relative integers again (Qwen3-VL README: "Qwen3-VL's default coordinate system has
  been changed from the absolute coordinates used in Qwen2.5-VL to relative coordinates ranging from 0 to 1000",
  quoted in QwenLM/Qwen3-VL#1741; see also #1485, #1623); factor 32 (16-pixel patches x merge 2).

The pairing rule (:func:`pairing_problem`): a style's coordinate frame (:meth:`bridge.styles.base.Style.frame`)
pairs with a family when its kind is the family's convention *and* its factor is the family's (the frame's factor
also fixes the image grid every backend is configured to produce, bridge/backends/common.py ``pixels_for``).
Anything else — ``qwen25vl`` pixels on Qwen3-VL, ``qwen3vl``'s [0,1000] on Qwen2.5-VL, ``seed``'s original pixels
on any of them — trains a model to write coordinates it does not read, the failure most reported in the field
(QwenLM/Qwen3-VL#1485/#1623/#2067, modelscope/ms-swift#6167). A recipe is refused for it unless it says it means it:
``data.allow_frame_mismatch: true`` (bridge/recipe.py).

Pure data, no heavy import: ``bridge backends`` and recipe validation read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .frames import Frame


@dataclass(frozen=True)
class Family:
    """One model family: its label, coordinate convention (a :data:`bridge.frames.FrameKind`) and resize factor."""

    name: str
    label: str
    coords: str
    factor: int
    reads: str        # the convention in words, for error messages


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("qwen2_vl", "Qwen2-VL", "rel1000", 28, "[0,1000] relative coordinates"),
    Family("qwen2_5_vl", "Qwen2.5-VL", "resized", 28, "absolute pixels of the smart-resized image it is shown"),
    Family("qwen3_vl", "Qwen3-VL", "rel1000", 32, "[0,1000] relative coordinates"),
)}
#: every family, in release order (the tiny models of bridge/tiny.py build each of them)
FAMILY_NAMES: tuple[str, ...] = tuple(FAMILIES)

_FRAME_WORDS = {
    "pixel": "pixels of the original screenshot",
    "rel1": "[0,1] relative coordinates",
    "rel1000": "[0,1000] relative coordinates",
    "resized": "absolute pixels of the smart-resized image",
    "area": "pixels of GUI-R1's area-resized image",
}


def label(family: Optional[str]) -> str:
    f = FAMILIES.get(family or "")
    return f.label if f else str(family)


def pairs(frame: "Frame", family: str) -> bool:
    """Whether a style speaking ``frame`` pairs with ``family`` (same convention, same grid factor)."""
    f = FAMILIES.get(family)
    return f is not None and frame.kind == f.coords and frame.factor == f.factor


def pairing_problem(style: str, frame: "Frame", family: Optional[str]) -> Optional[str]:
    """Why the style ``style`` (speaking ``frame``) does not pair with ``family``; None when it does, or when the
    family is unknown (no claim can be made about a model we cannot place)."""
    f = FAMILIES.get(family or "")
    if f is None or pairs(frame, f.name):
        return None
    says = _FRAME_WORDS.get(frame.kind, frame.kind)
    if frame.kind != f.coords:
        if frame.kind == "resized":
            says += f" (factor {frame.factor})"
        return (f"style {style} writes {says}, but a {f.label} model reads {f.reads}: it would be trained to "
                f"write coordinates in a frame it does not read")
    return (f"style {style} writes {says} like {f.label}, but its frame assumes the smart-resize factor "
            f"{frame.factor} while {f.label}'s processor uses {f.factor}: "
            + ("the pixel coordinates would be those of another image size"
               if frame.kind == "resized" else "every backend would be configured for an image grid the model's "
                                               "processor does not produce"))


def styles_for(family: str, names: Optional[list[str]] = None) -> list[str]:
    """The styles (built-ins and entry points, or ``names``) whose default frame pairs with ``family``."""
    from .styles import available, get_style

    out = []
    for name in names if names is not None else available():
        try:
            frame = get_style(name).frame()
        except Exception:   # a broken third-party style is not a suggestion
            continue
        if pairs(frame, family):
            out.append(name)
    return out


__all__ = ["FAMILIES", "FAMILY_NAMES", "Family", "label", "pairing_problem", "pairs", "styles_for"]
