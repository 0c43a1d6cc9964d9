"""Look at data: draw one step for a human — the screenshot with the target box, the point, a swipe/drag
arrow and a caption.

Also the text views of ``bridge inspect`` (:func:`describe_episode`, :func:`step_json`).

Coordinates are the step's original pixels; if the image file's size differs from the record's
``width``/``height`` they are scaled to the file (``bridge validate`` reports such a mismatch).
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Optional

from .errors import BridgeError
from .schema import Action, Episode, Step

BOX_COLOR = (230, 25, 75)        # target bbox
POINT_COLOR = (0, 130, 255)      # touch point (cross + circle)
ARROW_COLOR = (255, 140, 0)      # swipe / drag: point -> end_point
ELEMENT_COLOR = (150, 150, 150)  # UI elements (optional)
CAPTION_BG, CAPTION_FG = (20, 20, 20), (255, 255, 255)

_FONTS = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "wqy-microhei.ttc", "DejaVuSans.ttf")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/System/Library/Fonts", "C:/Windows/Fonts")


def caption(step: Step) -> str:
    """One line describing the step's action, e.g. ``step 2 · click (540, 1200) · "Cart"``."""
    a: Action = step.action
    parts = [f"step {step.index}", a.type]
    if a.point is not None:
        parts.append("(%g, %g)" % tuple(round(v, 1) for v in a.point))
    if a.end_point is not None:
        parts.append("→ (%g, %g)" % tuple(round(v, 1) for v in a.end_point))
    for name in ("direction", "status", "app", "key"):
        if getattr(a, name) is not None:
            parts.append(f"{name}={getattr(a, name)}")
    if a.text:
        parts.append(repr(a.text if len(a.text) <= 60 else a.text[:57] + "..."))
    return " · ".join(parts[:2]) + (" " + " ".join(parts[2:]) if parts[2:] else "")


@functools.lru_cache(maxsize=1)
def _font_path() -> Optional[str]:
    """A system TrueType font, CJK-capable ones first (instructions are often Chinese)."""
    found: dict[str, str] = {}
    for d in _FONT_DIRS:
        if os.path.isdir(d):
            for root, _, files in os.walk(d):
                for name in files:
                    if name in _FONTS:
                        found.setdefault(name, os.path.join(root, name))
    return next((found[n] for n in _FONTS if n in found), None)


def _font(size: int):
    from PIL import ImageFont

    path = _font_path()
    if path:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)


def _wrap(text: str, font, width: float) -> list[str]:
    """Greedy wrap at spaces, or between characters when a word (or CJK text) does not fit."""
    lines, cur = [], ""
    for ch in text:
        if cur and font.getlength(cur + ch) > width:
            cut = cur.rfind(" ")
            if cut > 0:
                lines.append(cur[:cut])
                cur = cur[cut + 1:] + ch
            else:
                lines.append(cur)
                cur = ch.lstrip()
        else:
            cur += ch
    return lines + [cur] if cur else lines


def draw_step(image, step: Step, elements: bool = False, title: Optional[str] = None):
    """Return a new RGB image: ``image`` (the step's screenshot, PIL) with the action drawn on it and a caption
    band added below — the action (and ``title``, e.g. the goal), wrapped — so the screenshot's own pixels keep
    their coordinates."""
    from PIL import Image, ImageDraw

    im = image.convert("RGB")
    w, h = im.size
    sx, sy = w / step.width, h / step.height
    lw = max(2, round(max(w, h) / 400))
    font = _font(max(12, round(min(w, h) / 30)))
    margin = lw + 4
    text = [ln for part in ([caption(step)] + ([title] if title else [])) for ln in _wrap(part, font, w - 2 * margin)]
    line_h = sum(font.getmetrics()) + 2
    canvas = Image.new("RGB", (w, h + len(text) * line_h + 2 * margin), CAPTION_BG)
    canvas.paste(im, (0, 0))
    d = ImageDraw.Draw(canvas)

    def pt(p):
        return p[0] * sx, p[1] * sy

    def rect(b, color, width):
        x1, y1 = pt(b[:2])
        x2, y2 = pt(b[2:])
        d.rectangle([min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)], outline=color, width=width)

    if elements:
        for el in step.elements or ():
            rect(el.bbox, ELEMENT_COLOR, max(1, lw // 2))
    a = step.action
    if a.bbox is not None:
        rect(a.bbox, BOX_COLOR, lw)
    if a.point is not None and a.end_point is not None:
        _arrow(d, pt(a.point), pt(a.end_point), ARROW_COLOR, lw)
    if a.point is not None:
        x, y = pt(a.point)
        r = 4 * lw + 4
        d.ellipse([x - r, y - r, x + r, y + r], outline=POINT_COLOR, width=lw)
        d.line([x - r - 2 * lw, y, x + r + 2 * lw, y], fill=POINT_COLOR, width=lw)
        d.line([x, y - r - 2 * lw, x, y + r + 2 * lw], fill=POINT_COLOR, width=lw)
    for k, ln in enumerate(text):
        d.text((margin, h + margin + k * line_h), ln, fill=CAPTION_FG, font=font)
    return canvas


def _arrow(d, start, end, color, lw) -> None:
    import math

    d.line([start, end], fill=color, width=lw)
    ang = math.atan2(end[1] - start[1], end[0] - start[0])
    size = 6 * lw + 6
    left = (end[0] - size * math.cos(ang - 0.45), end[1] - size * math.sin(ang - 0.45))
    right = (end[0] - size * math.cos(ang + 0.45), end[1] - size * math.sin(ang + 0.45))
    d.polygon([end, left, right], fill=color)


def render_step(root, episode: Episode, step_index: int, out, *, elements: bool = False) -> Path:
    """Draw ``episode.steps[step_index]`` (screenshot under dataset ``root``) and save it as a PNG at ``out``
    (written to a temporary name, then renamed: no partial file on failure). Raises :class:`BridgeError`
    for a missing step or an unreadable screenshot."""
    from PIL import Image

    from .images import ImageError, probe
    from .validate import path_problem

    steps = episode.steps
    if not 0 <= step_index < len(steps):
        raise BridgeError(f"episode {episode.episode_id!r} has {len(steps)} steps; there is no step {step_index}"
                          f" (steps are numbered from 0)")
    step = steps[step_index]
    from .errors import Problem
    from .paths import ImagePolicy

    file = str(root.episodes_path) if hasattr(root, "episodes_path") else str(root)
    where = f"steps[{step_index}].screenshot"
    why = path_problem(step.screenshot)
    if why:
        raise BridgeError(f"{file}: cannot render episode {episode.episode_id!r} step {step_index}",
                          [Problem(file, why, record=episode.episode_id, field=where,
                                   expected="a relative path inside the dataset", found=step.screenshot)])
    src = root.image_path(step.screenshot) if hasattr(root, "image_path") else Path(root) / step.screenshot
    policy = ImagePolicy.of(root) if hasattr(root, "image_path") else ImagePolicy(str(root))
    policy.check(str(src), file=file, record=episode.episode_id, field=where)
    try:
        probe(src)
        with Image.open(src) as im:
            drawn = draw_step(im, step, elements=elements, title=f"goal: {episode.instruction}")
    except ImageError as e:
        raise BridgeError(f"{src}: cannot render episode {episode.episode_id!r} step {step_index}: {e.message}") \
            from None
    except OSError as e:
        raise BridgeError(f"{src}: cannot decode the screenshot: {e}") from None
    out = Path(out)
    if not out.parent.is_dir():
        raise BridgeError(f"{out}: the output directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        drawn.save(tmp, format="PNG")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def find_episode(dataset, episode_id: Optional[str]) -> Episode:
    """The episode with ``episode_id`` (or the first valid one), streamed; BridgeError when there is none."""
    for _, ep, _problems in dataset.records():
        if ep is not None and (episode_id is None or ep.episode_id == episode_id):
            return ep
    if episode_id is None:
        raise BridgeError(f"{dataset.root}: no valid episode to show")
    raise BridgeError(f"{dataset.root}: no episode with id {episode_id!r}")


def step_json(episode: Episode, index: int) -> str:
    """One step as canonical compact JSON, tagged with its episode id."""
    step = episode.steps[index].model_dump(mode="json", exclude_none=True)
    return json.dumps({"episode_id": episode.episode_id, "step": step}, ensure_ascii=False, separators=(",", ":"))


def describe_episode(ep: Episode, step: Optional[int] = None) -> str:
    """A few readable lines: header, goal, then one line per step (or only ``step``)."""
    tags = [ep.platform] + [v for v in (ep.app, f"source {ep.source}", ep.split and f"split {ep.split}") if v]
    lines = [f"episode {ep.episode_id}  [{' · '.join(tags)}]  {len(ep.steps)} steps",
             f"  goal: {ep.instruction}"]
    if ep.meta:
        lines.append(f"  meta: {json.dumps(ep.meta, ensure_ascii=False)[:200]}")
    for st in ep.steps if step is None else [ep.steps[step]]:
        a = st.action
        line = f"  {caption(st)}"
        if a.bbox is not None:
            line += "  box [%s]" % ", ".join("%g" % round(v, 1) for v in a.bbox)
        line += f"  | {st.screenshot} {st.width}x{st.height}"
        if st.extra_images:
            line += f" +{len(st.extra_images)} extra"
        lines.append(line)
        for name in ("low_instruction", "thought"):
            if getattr(st, name):
                lines.append(f"      {name}: {getattr(st, name)}")
    return "\n".join(lines)
