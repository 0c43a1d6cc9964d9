"""AndroidControl (google-research ``android_control/README.md``; docs/importers.md).

The dataset ships as GZIP TFRecords of ``tf.train.Example`` episodes, which cannot be read without TensorFlow.
This importer reads the *same fields* exported to JSON: SRC is a ``.jsonl`` file (one episode per line), a
``.json`` file (one episode or a list), or a directory of them. An episode record::

    {"episode_id": 1001, "goal": "...",
     "screenshots": ["screenshots/1001_0.png", ...],      # image files, relative to the record file's folder
     "screenshot_widths": [1080, ...], "screenshot_heights": [2400, ...],
     "actions": ["{\\"action_type\\": \\"click\\", \\"x\\": 540, \\"y\\": 1200}", ...],   # JSON strings or objects
     "step_instructions": ["...", ...],
     "accessibility_trees": [null | <AndroidAccessibilityForest as JSON>, ...]}        # optional

An export loop (run where TensorFlow is installed): for each record of
``tf.data.TFRecordDataset(files, compression_type="GZIP")`` parse the Example, write every PNG in
``screenshots`` to a file, and write one JSON line with the other features (bytes decoded as UTF-8, forests via
``google.protobuf.json_format.MessageToDict``).

Mapping: step i = (screenshots[i], actions[i], step_instructions[i] → low_instruction); a final
``status complete`` step is appended on the last screenshot (``meta.synthetic``), as AndroidControl has no
terminal action. Coordinates are pixels. click / long_press (x, y); scroll (direction = *content* direction,
flipped to the finger convention, ``meta.source_direction``); open_app (app_name); type (x, y, text: click, type,
enter → type with point, ``meta.source_action``) and input_text (text) → type; navigate_home / navigate_back;
wait. Extra action keys → action meta. Forest nodes with a box and text, a content description or
clickability → step elements (bounds_in_screen, camelCase or snake_case; clipped to the screen).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import BridgeError
from ..frames import flip_direction
from .base import (ImageBase, ImportContext, SourceRecord, task, image_problem, image_size, iter_json_records,
                   json_files, num, place_file, safe_join)

LAYOUT = ("JSON/JSONL episodes with the AndroidControl TFRecord fields: episode_id, goal, screenshots (image "
          "paths), screenshot_widths, screenshot_heights, actions, step_instructions, accessibility_trees?")

_KNOWN = frozenset({"episode_id", "goal", "screenshots", "screenshot_widths", "screenshot_heights", "actions",
                    "step_instructions", "accessibility_trees"})
_SIMPLE = {"navigate_home": "navigate_home", "navigate_back": "navigate_back", "wait": "wait"}
_TYPES = ("click", "long_press", "scroll", "open_app", "type", "input_text", "navigate_home", "navigate_back", "wait")


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    base = ctx.image_base(src if src.is_dir() else src.parent)
    for file in json_files(src, "AndroidControl episodes"):
        folder = os.path.dirname(os.path.abspath(file))
        for n, (line, value, error) in enumerate(iter_json_records(file)):
            if error is not None:
                rec = SourceRecord(file=file, line=line, record=f"#{n}")
                rec.problem(error, expected="valid JSON")
                yield rec
                continue
            values = value if isinstance(value, list) and not file.endswith(".jsonl") else [value]
            for v in values:
                eid = v.get("episode_id") if isinstance(v, dict) else None
                record = str(eid) if eid is not None else f"{Path(file).stem}-{n}"
                yield task(_episode, file, record, line, file, line, record, v, folder, base)


def _episode(file: str, line: int, record: str, ep: Any, folder: str, base: ImageBase) -> SourceRecord:
    rec = SourceRecord(file=file, line=line, record=record)
    if not isinstance(ep, dict):
        rec.problem("record is not an object", expected="an AndroidControl episode", found=type(ep).__name__)
        return rec
    goal = ep.get("goal")
    if not isinstance(goal, str) or not goal.strip():
        rec.problem("missing goal", field="goal", expected="a non-empty string", found=goal)
    shots, actions = ep.get("screenshots"), ep.get("actions")
    widths, heights = ep.get("screenshot_widths"), ep.get("screenshot_heights")
    instructions, trees = ep.get("step_instructions"), ep.get("accessibility_trees")
    for name, value in (("screenshots", shots), ("actions", actions), ("screenshot_widths", widths),
                        ("screenshot_heights", heights)):
        if not isinstance(value, list):
            rec.problem(f"missing {name}", field=name, expected="a list", found=value)
    if rec.problems:
        return rec
    n = len(shots)
    if n == 0:
        rec.problem("episode has no screenshots", field="screenshots", expected="at least one")
    if len(actions) != n - 1:
        rec.problem("actions and screenshots do not match", field="actions",
                    expected=f"len(screenshots) - 1 = {n - 1} actions", found=len(actions))
    for name, value in (("screenshot_widths", widths), ("screenshot_heights", heights)):
        if len(value) != n:
            rec.problem(f"one {name[11:-1]} per screenshot", field=name, expected=f"{n} values", found=len(value))
    if instructions is not None and (not isinstance(instructions, list) or len(instructions) != len(actions)):
        rec.problem("one step instruction per action", field="step_instructions",
                    expected=f"a list of {len(actions)} strings", found=instructions)
    if trees is not None and (not isinstance(trees, list) or len(trees) != n):
        rec.problem("one accessibility tree per screenshot", field="accessibility_trees",
                    expected=f"a list of {n} entries", found=len(trees) if isinstance(trees, list) else trees)
    if rec.problems:
        return rec
    steps = []
    for i in range(n):
        placed = _screenshot(rec, i, shots[i], widths[i], heights[i], folder, base)
        if i < n - 1:
            action = _action(rec, i, actions[i])
        else:
            action = {"type": "status", "status": "complete"}
        if placed is None or action is None:
            continue
        step: dict[str, Any] = {"index": i, "screenshot": placed[0], "width": placed[1], "height": placed[2],
                                "action": action}
        if i < n - 1 and instructions is not None:
            step["low_instruction"] = instructions[i]
        if i == n - 1:
            step["meta"] = {"synthetic": True}
        if trees is not None and trees[i]:
            step["elements"] = _elements(trees[i], placed[1], placed[2])
        steps.append(step)
    if rec.problems:
        return rec
    meta = {k: v for k, v in ep.items() if k not in _KNOWN}
    rec.episode = {"episode_id": record, "instruction": goal, "platform": "android", "meta": meta, "steps": steps}
    return rec


def _screenshot(rec: SourceRecord, i: int, shot: Any, width: Any, height: Any, folder: str, base: ImageBase):
    field = f"screenshots[{i}]"
    if not isinstance(shot, str) or not shot:
        rec.problem("screenshot is not a path", field=field, expected="an image file path (exported PNG)",
                    found=shot if not isinstance(shot, (bytes, bytearray)) else f"{len(shot)} bytes")
        return None
    full = shot if os.path.isabs(shot) else safe_join(folder, shot)
    if full is None:
        rec.problem("screenshot path escapes the record file's folder", field=field,
                    expected="a relative path inside the folder or an absolute path", found=shot)
        return None
    try:
        w, h = image_size(full)
    except BridgeError as e:
        image_problem(rec, full, e, field)
        return None
    if (width, height) != (w, h):  # coordinates are pixels of the recorded size: a mismatch would misplace them
        rec.problem("recorded screenshot size differs from the image file", field=f"screenshot_widths[{i}]",
                    expected=f"{w}x{h} (from {shot})", found=f"{width}x{height}")
        return None
    return place_file(rec, full, base), w, h


def _action(rec: SourceRecord, i: int, raw: Any) -> Optional[dict[str, Any]]:
    field = f"actions[{i}]"
    data = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as e:
            rec.problem(f"action is not valid JSON ({e.msg})", field=field, expected="a JSON object", found=raw)
            return None
    if not isinstance(data, dict):
        rec.problem("action is not an object", field=field, expected='{"action_type": ...}', found=data)
        return None
    kind = data.get("action_type")
    if kind not in _TYPES:
        rec.problem("unknown action type", field=field + ".action_type", expected="one of " + ", ".join(_TYPES),
                    found=kind)
        return None
    extra = {k: v for k, v in data.items() if k not in ("action_type", "x", "y", "direction", "app_name", "text")}
    action: dict[str, Any]
    if kind in ("click", "long_press", "type"):
        x, y = data.get("x"), data.get("y")
        if not (num(x) and num(y)):
            rec.problem(f"{kind} needs x and y", field=field, expected="numbers x, y (pixels)", found=[x, y])
            return None
        action = {"type": kind, "point": [float(x), float(y)]}
        if kind == "type":
            if not isinstance(data.get("text"), str):
                rec.problem("type needs text", field=field + ".text", expected="a string", found=data.get("text"))
                return None
            action["text"] = data["text"]
            extra["source_action"] = "type"  # AndroidControl's type = click at (x, y), type, press enter
    elif kind == "input_text":
        if not isinstance(data.get("text"), str):
            rec.problem("input_text needs text", field=field + ".text", expected="a string", found=data.get("text"))
            return None
        action = {"type": "type", "text": data["text"]}
        extra["source_action"] = "input_text"
    elif kind == "scroll":
        direction = data.get("direction")
        if direction not in ("up", "down", "left", "right"):
            rec.problem("scroll needs a direction", field=field + ".direction", expected="up, down, left or right",
                        found=direction)
            return None
        action = {"type": "scroll", "direction": flip_direction(direction)}
        extra.update(source_direction=direction, direction_convention="content")
    elif kind == "open_app":
        app = data.get("app_name")
        if not isinstance(app, str) or not app:
            rec.problem("open_app needs app_name", field=field + ".app_name", expected="a non-empty string", found=app)
            return None
        action = {"type": "open_app", "app": app}
    else:
        action = {"type": _SIMPLE[kind]}
    if extra:
        action["meta"] = extra
    return action


def _elements(tree: Any, w: int, h: int) -> list[dict[str, Any]]:
    """Element boxes from an accessibility forest exported as JSON (or a plain list of nodes), clipped to the
    screen (windows and scrolled-off nodes extend past it); nodes with nothing visible left are skipped."""
    if isinstance(tree, str):
        try:
            tree = json.loads(tree)
        except json.JSONDecodeError:
            return []
    nodes: list = []
    if isinstance(tree, list):
        nodes = tree
    elif isinstance(tree, dict):
        for window in tree.get("windows") or ():
            nodes.extend(((window or {}).get("tree") or {}).get("nodes") or ())
    out = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        b = node.get("boundsInScreen", node.get("bounds_in_screen"))
        if not isinstance(b, dict):
            continue
        box = [b.get("left", 0), b.get("top", 0), b.get("right", 0), b.get("bottom", 0)]
        if not all(num(v) for v in box):
            continue
        box = [min(max(box[0], 0), w), min(max(box[1], 0), h), min(max(box[2], 0), w), min(max(box[3], 0), h)]
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        text = node.get("text")
        desc = node.get("contentDescription", node.get("content_description"))
        clickable = node.get("isClickable", node.get("is_clickable"))
        if not (text or desc or clickable):
            continue
        el: dict[str, Any] = {"bbox": [float(v) for v in box]}
        if text or desc:
            el["text"] = text or desc
        role = node.get("className", node.get("class_name"))
        if role:
            el["role"] = role
        rid = node.get("viewIdResourceName", node.get("view_id_resource_name"))
        if rid:
            el["resource_id"] = rid
        if clickable is not None:
            el["clickable"] = bool(clickable)
        if text and desc:
            el["meta"] = {"content_description": desc}
        out.append(el)
    return out
