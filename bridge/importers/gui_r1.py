"""GUI-R1 parquet (ritzz-ai/GUI-R1, HF ``ritzzai/GUI-R1``; docs/importers.md).

Accepted layout: SRC is a ``.parquet`` file or a directory of them (searched recursively), one row per
single-step episode, with the columns GUI-R1's ``RLHFDataset`` reads:

* ``image``: ``{"bytes": ..., "path": ...}`` (HF image struct), raw bytes, or a path string. Embedded bytes are
  written into the dataset as ``images/<parquet name>/<row>.<ext>``; a path is resolved relative to the parquet
  file's directory and linked like any source screenshot;
* ``instruction`` → instruction; ``history`` → step ``meta.history``; ``task_type`` → episode meta;
* ``gt_action``, ``gt_bbox`` (normalised to [0,1] of the original image: 2 numbers = point, 4 = box, whose
  centre becomes the point), ``gt_input_text`` (typed/selected text, or the scroll direction);
* ``id`` (optional) → episode id (else ``<parquet name>-<row>``); any other column → episode meta.

Actions: click / long_press / double_click / right_click (need a valid [0,1] gt_bbox); type / select
(text = gt_input_text, point when gt_bbox is valid); scroll (direction = gt_input_text, OS-Atlas "SCROLL [UP]"
*content* semantics, flipped to the finger convention with ``meta.source_direction``); complete / impossible →
status; press_back / press_home / enter (press_enter) → navigate_back / navigate_home / enter; open_app
(app = gt_input_text); wait; close/delete → key("close/delete"). Placeholder boxes such as ``[-100, -100]`` on
actions without a target are kept as ``action.meta.gt_bbox``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Iterator

from ..errors import BridgeError
from ..frames import flip_direction
from .base import (ImageBase, ImportContext, SourceRecord, bytes_image_info, task, image_problem, image_size, num,
                   place_file, safe_join)

LAYOUT = ("a .parquet file or a directory of them with columns image ({bytes, path} or path), instruction, "
          "gt_action, gt_bbox ([0,1] point or box), gt_input_text, optional history, task_type, id")

_REQUIRED = ("image", "instruction", "gt_action")
_KNOWN = frozenset({"image", "instruction", "history", "task_type", "gt_action", "gt_bbox", "gt_input_text", "id"})
_POINT = {"click": "click", "long_press": "long_press", "double_click": "double_click", "right_click": "right_click"}
_SIMPLE = {"press_back": "navigate_back", "press_home": "navigate_home", "enter": "enter",
           "press_enter": "enter", "wait": "wait"}
_STATUS = {"complete": "complete", "impossible": "impossible"}
_NO_TEXT = ("", "no input text", "none", "None")
_ACTIONS = sorted([*_POINT, *_SIMPLE, *_STATUS, "type", "select", "scroll", "open_app", "close/delete"])


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    import pyarrow.parquet as pq

    if src.is_file():
        files, base = [src], src.parent
    else:
        files, base = sorted(src.rglob("*.parquet")), src
        if not files:
            raise BridgeError(f"{src}: no .parquet files found", hint=f"Expected: {LAYOUT}")
    images = ctx.image_base(base)
    for path in files:
        name = str(path)
        try:
            pf = pq.ParquetFile(path)
        except Exception as e:  # pyarrow raises several types for corrupt/non-parquet files
            rec = SourceRecord(file=name)
            rec.problem(f"not a readable parquet file ({type(e).__name__}: {e})")
            yield rec
            continue
        missing = [c for c in _REQUIRED if c not in pf.schema_arrow.names]
        if missing:
            rec = SourceRecord(file=name)
            rec.problem("missing column(s) " + ", ".join(missing), expected="columns " + ", ".join(_REQUIRED),
                        found=pf.schema_arrow.names)
            yield rec
            continue
        stem = path.relative_to(base).with_suffix("").as_posix() if path != src else path.stem
        row = 0
        for batch in pf.iter_batches(batch_size=256):
            for data in batch.to_pylist():
                rid = data.get("id")
                record = str(rid) if rid is not None else f"row {row}"
                yield task(_row, name, record, None, name, record, stem, row, data, str(path.parent), images)
                row += 1


def _row(file: str, record: str, stem: str, row: int, data: dict, folder: str, base: ImageBase) -> SourceRecord:
    rec = SourceRecord(file=file, record=record)
    size = _image(rec, stem, row, data.get("image"), folder, base)
    instruction = data.get("instruction")
    if not isinstance(instruction, str) or not instruction.strip():
        rec.problem("missing instruction", field="instruction", expected="a non-empty string", found=instruction)
    action = _action(rec, data, size) if size else None
    if rec.problems or action is None:
        return rec
    step: dict[str, Any] = {"index": 0, "screenshot": size[2], "width": size[0], "height": size[1],
                            "action": action}
    history = data.get("history")
    if history is not None:
        step["meta"] = {"history": history}
    meta = {k: _jsonable(v) for k, v in data.items() if k not in _KNOWN and v is not None}
    if data.get("task_type") is not None:
        meta["task_type"] = data["task_type"]
    rid = data.get("id")
    rec.episode = {"episode_id": str(rid) if rid is not None else f"{stem}-{row}", "instruction": instruction,
                   "platform": "android", "meta": meta, "steps": [step]}
    return rec


def _image(rec: SourceRecord, stem: str, row: int, image: Any, folder: str, base: ImageBase):
    """(width, height, dataset path) of the row's screenshot, queuing it for placement; None on a problem."""
    data = path = None
    if isinstance(image, dict):
        data, path = image.get("bytes"), image.get("path")
    elif isinstance(image, (bytes, bytearray)):
        data = image
    elif isinstance(image, str):
        path = image
    if data:
        try:
            ext, w, h = bytes_image_info(bytes(data))
        except BridgeError as e:
            rec.problem(f"embedded image: {e.message}", field="image.bytes", expected="encoded image bytes",
                        found=f"{len(data)} bytes")
            return None
        rel = f"{stem}/{row}.{ext}"
        rec.images.append((rel, bytes(data)))
        return w, h, "images/" + rel
    if isinstance(path, str) and path:
        full = path if os.path.isabs(path) else safe_join(folder, path)
        if full is None:
            rec.problem("image path escapes the parquet file's folder", field="image.path",
                        expected="a relative path inside the folder or an absolute path", found=path)
            return None
        try:
            w, h = image_size(full)
        except BridgeError as e:
            image_problem(rec, full, e, "image.path")
            return None
        return w, h, place_file(rec, full, base)
    rec.problem("row has no image", field="image", expected="{bytes: ...} or {path: ...}", found=_short(image))
    return None


def _action(rec: SourceRecord, data: dict, size) -> Any:
    w, h = size[0], size[1]
    kind = data.get("gt_action")
    kind = kind.strip().lower() if isinstance(kind, str) else kind
    raw_box = data.get("gt_bbox")
    text = data.get("gt_input_text")
    text = text.strip() if isinstance(text, str) else text
    has_text = isinstance(text, str) and text not in _NO_TEXT
    box = _norm_box(raw_box)
    geom: dict[str, Any] = {}
    if box is not None:
        if len(box) == 2:
            geom["point"] = [box[0] * w, box[1] * h]
        else:
            x1, y1, x2, y2 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
            geom["bbox"] = [x1, y1, x2, y2]
            geom["point"] = [(x1 + x2) / 2.0, (y1 + y2) / 2.0]
    action: dict[str, Any]
    if kind in _POINT:
        if box is None:
            rec.problem(f"{kind} needs a target", field="gt_bbox",
                        expected="[x, y] or [x1, y1, x2, y2] normalised to [0, 1]", found=raw_box)
            return None
        return {"type": _POINT[kind], **geom}
    if kind in ("type", "select", "open_app"):
        if not has_text:
            rec.problem(f"{kind} needs text", field="gt_input_text", expected="a non-empty string", found=text)
            return None
        action = {"type": kind, "app": text} if kind == "open_app" else {"type": kind, "text": text, **geom}
    elif kind == "scroll":
        direction = text.lower() if isinstance(text, str) else text
        if direction not in ("up", "down", "left", "right"):
            rec.problem("scroll needs a direction", field="gt_input_text", expected="up, down, left or right",
                        found=text)
            return None
        action = {"type": "scroll", "direction": flip_direction(direction),
                  "meta": {"source_direction": direction, "direction_convention": "content"}, **geom}
    elif kind in _STATUS:
        action = {"type": "status", "status": _STATUS[kind]}
        if has_text:
            action["text"] = text
    elif kind in _SIMPLE:
        action = {"type": _SIMPLE[kind]}
    elif kind == "close/delete":
        action = {"type": "key", "key": "close/delete"}
    else:
        rec.problem("unknown action", field="gt_action", expected="one of " + ", ".join(_ACTIONS), found=kind)
        return None
    if box is None and raw_box is not None and "point" not in action:
        action.setdefault("meta", {})["gt_bbox"] = _jsonable(raw_box)
    if kind not in ("type", "select", "open_app", "scroll") and has_text:
        action.setdefault("meta", {})["gt_input_text"] = text
    return action


def _norm_box(v: Any):
    """The gt_bbox numbers when they are 2 or 4 finite values in [0, 1], else None."""
    if not isinstance(v, (list, tuple)) or len(v) not in (2, 4) or not all(num(x) for x in v):
        return None
    if not all(math.isfinite(x) and -1e-6 <= x <= 1 + 1e-6 for x in v):
        return None
    return [min(max(float(x), 0.0), 1.0) for x in v]


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return f"<{len(v)} bytes>"
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)


def _short(v: Any) -> Any:
    return _jsonable(v) if not isinstance(v, dict) else {k: _jsonable(x) for k, x in v.items()}
