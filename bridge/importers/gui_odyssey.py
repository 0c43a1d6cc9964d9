"""GUI-Odyssey (OpenGVLab/GUI-Odyssey ``introduction.md``, ``data/format_converter.py``; docs/importers.md).

Accepted layout: the released data folder ::

    SRC/annotations/<episode_id>.json      one episode per file
    SRC/screenshots/<file>                 the steps' ``screenshot`` names

(SRC may also be the annotations folder or a single annotation file; screenshots are looked up in
``screenshots/`` next to ``annotations/``, then next to the annotation file.) An episode holds ``episode_id``,
``device_info`` {product, release_version, sdk_version, h, w, device_name}, ``task_info`` {category, app[],
meta_task, task, instruction}, ``step_length`` and ``steps`` [{step, screenshot, action, info, ps}].

Mapping: ``task_info.instruction`` → instruction; ``task_info.app`` → ``meta.apps`` (``app`` when only one);
the rest of task_info and device_info → episode meta; ``ps`` → action ``meta.ps`` (and the status text of
COMPLETE / IMPOSSIBLE). ``info`` coordinates are in [0, 1000] of the screenshot (whose real size comes from its
header; ``device_info`` w/h are kept in meta). CLICK / LONG_PRESS with ``[[x, y]]`` or ``[x, y]`` → click /
long_press; CLICK with KEY_HOME / KEY_BACK / KEY_APPSELECT (or HOME / BACK) → navigate_home / navigate_back /
key("recent"); SCROLL ``[[x1, y1], [x2, y2]]`` (finger start → end) → swipe with end_point and finger
direction (dominant axis decided on the [0, 1000] numbers, as ``format_converter.py`` does);
``sam2_bbox`` (GUI-Odyssey v2, [x1, y1, x2, y2] in [0, 1000]) → the click's ``action.bbox`` in pixels (the
box ``evaluate_GUIOdyssey.py`` accepts a click inside), or step ``meta.sam2_bbox_px`` when it does not hold the
click point; TEXT / TYPE → type(info); HOME / BACK → navigate_home / navigate_back; COMPLETE → status complete;
INCOMPLETE / IMPOSSIBLE → status impossible.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import BridgeError
from ..frames import finger_direction
from ..validate import BOX_TOLERANCE
from .base import (ImageBase, ImportContext, SourceRecord, task, image_problem, image_size, json_error, num, read_json,
                   place_file, safe_join)

LAYOUT = ("SRC/annotations/<episode_id>.json (episode_id, device_info, task_info, step_length, steps[{step, "
          "screenshot, action, info, ps}]) and SRC/screenshots/<files>")

_KEYS = {"KEY_HOME": ("navigate_home", None), "HOME": ("navigate_home", None),
         "KEY_BACK": ("navigate_back", None), "BACK": ("navigate_back", None),
         "KEY_APPSELECT": ("key", "recent"), "APPSELECT": ("key", "recent")}
_ACTIONS = ("CLICK", "LONG_PRESS", "SCROLL", "TEXT", "TYPE", "HOME", "BACK", "COMPLETE", "INCOMPLETE", "IMPOSSIBLE")


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    if src.is_file():
        files, root = [str(src)], src.parent.parent if src.parent.name == "annotations" else src.parent
    else:
        ann = src / "annotations" if (src / "annotations").is_dir() else src
        root = src if ann != src else (src.parent if src.name == "annotations" else src)
        files = sorted(str(p) for p in ann.glob("*.json"))
        if not files:
            raise BridgeError(f"{src}: no GUI-Odyssey annotation files (*.json) found", hint=f"Expected: {LAYOUT}")
    shots = [str(root / "screenshots"), str(root)]
    base = ctx.image_base(root)
    for file in files:
        yield task(_episode, file, Path(file).stem, None, file, shots, base)


def _episode(file: str, shot_dirs: list[str], base: ImageBase) -> SourceRecord:
    rec = SourceRecord(file=file, record=Path(file).stem)
    try:
        ep = read_json(file)
    except json.JSONDecodeError as e:
        json_error(rec, e)
        return rec
    except (OSError, UnicodeDecodeError) as e:
        rec.problem(f"unreadable annotation file ({e})")
        return rec
    if not isinstance(ep, dict):
        rec.problem("annotation is not an object", expected="a GUI-Odyssey episode", found=type(ep).__name__)
        return rec
    eid = str(ep.get("episode_id") or Path(file).stem)
    rec.record = eid
    task_info = ep.get("task_info") if isinstance(ep.get("task_info"), dict) else {}
    goal = task_info.get("instruction")
    if not isinstance(goal, str) or not goal.strip():
        rec.problem("missing instruction", field="task_info.instruction", expected="a non-empty string", found=goal)
    steps_in = ep.get("steps")
    if not isinstance(steps_in, list) or not steps_in:
        rec.problem("no steps", field="steps", expected="a non-empty list", found=steps_in)
        return rec
    if isinstance(ep.get("step_length"), int) and ep["step_length"] != len(steps_in):
        rec.problem("step_length differs from the number of steps", field="step_length",
                    expected=str(len(steps_in)), found=ep["step_length"])
    steps = []
    for i, s in enumerate(steps_in):
        step = _step(rec, i, s, shot_dirs, base)
        if step is not None:
            steps.append(step)
    if rec.problems:
        return rec
    meta: dict[str, Any] = {}
    apps = task_info.get("app")
    if apps is not None:
        meta["apps"] = apps
    meta.update((k, v) for k, v in task_info.items() if k not in ("instruction", "app"))
    if ep.get("device_info") is not None:
        meta["device_info"] = ep["device_info"]
    meta.update((k, v) for k, v in ep.items() if k not in ("episode_id", "task_info", "device_info", "steps",
                                                            "step_length"))
    episode: dict[str, Any] = {"episode_id": eid, "instruction": goal, "platform": "android", "meta": meta,
                               "steps": steps}
    if isinstance(apps, list) and len(apps) == 1 and isinstance(apps[0], str):
        episode["app"] = apps[0]
    rec.episode = episode
    return rec


def _step(rec: SourceRecord, i: int, s: Any, shot_dirs: list[str], base: ImageBase) -> Optional[dict[str, Any]]:
    f = f"steps[{i}]"
    if not isinstance(s, dict):
        rec.problem("step is not an object", field=f, expected="{step, screenshot, action, info, ps}", found=s)
        return None
    shot = _screenshot(rec, f, s.get("screenshot"), shot_dirs, base)
    if shot is None:
        return None
    rel, w, h = shot
    kind, info, ps = s.get("action"), s.get("info"), s.get("ps")
    action: dict[str, Any]
    if kind in ("CLICK", "LONG_PRESS"):
        if isinstance(info, str) and info in _KEYS:
            t, key = _KEYS[info]
            action = {"type": t, "key": key} if key else {"type": t}
        else:
            p = _point(info[0] if isinstance(info, list) and len(info) == 1 else info, w, h)
            if p is None:
                rec.problem(f"malformed {kind} target", field=f + ".info",
                            expected="[[x, y]] in [0, 1000] or KEY_HOME / KEY_BACK / KEY_APPSELECT", found=info)
                return None
            action = {"type": "click" if kind == "CLICK" else "long_press", "point": p}
    elif kind == "SCROLL":
        ends = [_point(q, w, h) for q in info] if isinstance(info, list) and len(info) == 2 else [None]
        if any(q is None for q in ends) or ends[0] == ends[1]:
            rec.problem("malformed SCROLL", field=f + ".info",
                        expected="[[x1, y1], [x2, y2]] start != end, in [0, 1000]", found=info)
            return None
        # format_converter.py decides the axis on the [0, 1000] numbers (normalised units), not on pixels
        action = {"type": "swipe", "point": ends[0], "end_point": ends[1],
                  "direction": finger_direction(ends[0], ends[1], (w, h))}
    elif kind in ("TEXT", "TYPE"):
        if not isinstance(info, str) or not info:
            rec.problem("TYPE needs text", field=f + ".info", expected="a non-empty string", found=info)
            return None
        action = {"type": "type", "text": info}
    elif kind in ("HOME", "BACK"):
        action = {"type": "navigate_home" if kind == "HOME" else "navigate_back"}
    elif kind in ("COMPLETE", "INCOMPLETE", "IMPOSSIBLE"):
        action = {"type": "status", "status": "complete" if kind == "COMPLETE" else "impossible"}
        if isinstance(ps, str) and ps.strip():
            action["text"] = ps
    else:
        rec.problem("unknown action", field=f + ".action", expected="one of " + ", ".join(_ACTIONS), found=kind)
        return None
    extra_keys = ("step", "screenshot", "action", "info", "ps")
    box = s.get("sam2_bbox")
    if box is not None:
        px = _box(box, w, h)
        if px is None:
            rec.problem("malformed sam2_bbox", field=f + ".sam2_bbox", expected="[x1, y1, x2, y2] in [0, 1000], "
                        "x1 <= x2, y1 <= y2", found=box)
            return None
        extra_keys += ("sam2_bbox",)
        if action["type"] in ("click", "long_press") and _contains(px, action["point"]):
            action["bbox"] = px   # the target box evaluate_GUIOdyssey.py's click rule accepts a click inside
        else:   # a box that does not hold the click (or a step without a point) is kept, in pixels, apart
            s = {**s, "sam2_bbox_px": px}
    meta = {"source_action": kind} if kind in ("TEXT", "INCOMPLETE") else {}
    if ps not in (None, ""):
        meta["ps"] = ps
    if meta:
        action["meta"] = meta
    step: dict[str, Any] = {"index": i, "screenshot": rel, "width": w, "height": h, "action": action}
    extra = {k: v for k, v in s.items() if k not in extra_keys}
    if s.get("step") is not None:
        extra["source_step"] = s["step"]
    if extra:
        step["meta"] = extra
    return step


def _point(q: Any, w: int, h: int) -> Optional[list[float]]:
    if isinstance(q, (list, tuple)) and len(q) == 2 and all(num(c) and 0 <= c <= 1000 for c in q):
        return [q[0] / 1000.0 * w, q[1] / 1000.0 * h]
    return None


def _box(q: Any, w: int, h: int) -> Optional[list[float]]:
    if isinstance(q, (list, tuple)) and len(q) == 4 and all(num(c) and 0 <= c <= 1000 for c in q) \
            and q[0] <= q[2] and q[1] <= q[3]:
        return [q[0] / 1000.0 * w, q[1] / 1000.0 * h, q[2] / 1000.0 * w, q[3] / 1000.0 * h]
    return None


def _contains(box: list[float], p: list[float]) -> bool:
    t = BOX_TOLERANCE   # what bridge validate allows between a point and its target box
    return box[0] - t <= p[0] <= box[2] + t and box[1] - t <= p[1] <= box[3] + t


def _screenshot(rec: SourceRecord, f: str, name: Any, shot_dirs: list[str], base: ImageBase):
    if not isinstance(name, str) or not name:
        rec.problem("step has no screenshot", field=f + ".screenshot", expected="a file name", found=name)
        return None
    candidates = [name] if os.path.isabs(name) else [p for p in (safe_join(d, name) for d in shot_dirs) if p]
    if not candidates:
        rec.problem("screenshot path escapes the dataset folder", field=f + ".screenshot",
                    expected="a file name under screenshots/", found=name)
        return None
    full = next((c for c in candidates if os.path.isfile(c)), candidates[0])
    try:
        w, h = image_size(full)
    except BridgeError as e:
        image_problem(rec, full, e, f + ".screenshot")
        return None
    return place_file(rec, full, base), w, h
