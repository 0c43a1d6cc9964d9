"""Android in the Wild (google-research ``android_in_the_wild/README.md``, ``action_type.py``,
``action_matching.py``; docs/importers.md).

AITW ships GZIP TFRecords with one ``tf.train.Example`` per STEP, unreadable without TensorFlow. This importer
reads the same features exported to JSON: SRC is a ``.jsonl`` file (one step per line), a ``.json`` list, or a
directory of them. A step record uses the feature names; one-element lists are accepted for scalars (that is
how ``Example`` features export)::

    {"episode_id": "1615...", "step_id": 0, "episode_length": 5, "goal_info": "...",
     "image/encoded": "<base64 PNG/JPEG, or base64 raw uint8 H*W*C pixels as in the TFRecords>"
       or  "image/path": "images/1615_0.png",   # relative to the record file
     "image/width": 1080, "image/height": 2400, "image/channels": 3,
     "results/action_type": 4, "results/yx_touch": [0.1, 0.5], "results/yx_lift": [0.1, 0.5],
     "results/type_action": "",
     "image/ui_annotations_positions": [y, x, h, w, ...], "image/ui_annotations_text": [...],
     "image/ui_annotations_ui_types": [...],
     "android_api_level": 30, "device_type": "pixel_5", "current_activity": "..."}

Steps are grouped by ``episode_id`` and ordered by ``step_id``; an episode is emitted as soon as
``episode_length`` of its steps have been read (memory stays flat for the usual episode-contiguous files).
Encoded images are written into the dataset as ``images/<episode>_<step_id>.<ext>``; raw pixels (AITW's own
form: ``visualization_utils.py`` decodes ``image/encoded`` with ``tf.io.decode_raw`` as uint8 and reshapes it
to image/height × image/width × image/channels) are accepted when their length is exactly H·W·C and are
written as PNG.

Mapping: ``goal_info`` → instruction; (y, x) in [0, 1] → pixels of the screenshot. Action types:
4 DUAL_POINT → click at the touch point when ‖touch − lift‖ ≤ 0.04 (normalised, as AITW's action matching
decides taps), else swipe touch → lift with the finger direction (dominant axis in normalised units, as AITW decides it); 3 TYPE → type(``results/type_action``);
5 PRESS_BACK, 6 PRESS_HOME, 7 PRESS_ENTER → navigate_back / navigate_home / enter; 10 STATUS_TASK_COMPLETE,
11 STATUS_TASK_IMPOSSIBLE → status complete / impossible. UI annotations (y, x, h, w normalised) → step
elements (text, ``role`` = ui type). ``android_api_level``, ``device_type``, ``episode_length`` → episode meta;
``current_activity`` and unknown features → step meta.
"""
from __future__ import annotations

import base64
import binascii
import math
import os
import re
import zlib
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import BridgeError
from ..frames import finger_direction
from .base import (ImageBase, ImportContext, SourceRecord, bytes_image_info, task, image_problem, image_size,
                   iter_json_records, json_files, num, place_file, safe_join, scalar)

LAYOUT = ("JSON/JSONL per-step records with the AITW TFRecord feature names: episode_id, step_id, "
          "episode_length, goal_info, image/encoded (base64) or image/path, image/width, image/height, "
          "results/action_type, results/yx_touch, results/yx_lift, results/type_action, image/ui_annotations_*")

TAP_DISTANCE = 0.04  # AITW action_matching: touch and lift within 0.04 (normalised) = a tap
_EPISODE_META = ("android_api_level", "device_type", "episode_length")
_USED = frozenset({"episode_id", "step_id", "goal_info", "image/encoded", "image/path", "image_path",
                   "image/width", "image/height", "image/channels", "results/action_type", "results/yx_touch",
                   "results/yx_lift", "results/type_action", "image/ui_annotations_positions",
                   "image/ui_annotations_text", "image/ui_annotations_ui_types", *_EPISODE_META})
_SIMPLE = {5: "navigate_back", 6: "navigate_home", 7: "enter"}
_STATUS = {10: "complete", 11: "impossible"}
_TYPES = ("3 TYPE, 4 DUAL_POINT, 5 PRESS_BACK, 6 PRESS_HOME, 7 PRESS_ENTER, 10 STATUS_TASK_COMPLETE, "
          "11 STATUS_TASK_IMPOSSIBLE")


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    base = ctx.image_base(src if src.is_dir() else src.parent)
    open_eps: dict[str, dict[str, Any]] = {}
    for file in json_files(src, "AITW step records"):
        folder = os.path.dirname(os.path.abspath(file))
        for n, (line, value, error) in enumerate(iter_json_records(file)):
            if error is not None:
                rec = SourceRecord(file=file, line=line, record=f"#{n}")
                rec.problem(error, expected="valid JSON")
                yield rec
                continue
            values = value if isinstance(value, list) and not file.endswith(".jsonl") else [value]
            for v in values:
                eid = scalar(v.get("episode_id")) if isinstance(v, dict) else None
                if eid is None or isinstance(eid, (dict, list, bool)):
                    rec = SourceRecord(file=file, line=line, record=f"#{n}")
                    rec.problem("step record without episode_id", field="episode_id", expected="an id",
                                found=eid if isinstance(v, dict) else type(v).__name__)
                    yield rec
                    continue
                eid = str(eid)
                group = open_eps.setdefault(eid, {"steps": [], "length": None})
                group["steps"].append((file, line, v, folder))
                length = scalar(v.get("episode_length"))
                if isinstance(length, int) and not isinstance(length, bool):
                    group["length"] = length
                if group["length"] is not None and len(group["steps"]) >= group["length"]:
                    del open_eps[eid]
                    yield task(_episode, file, eid, line, eid, group, base)
    for eid, group in open_eps.items():  # episodes still open at the end: incomplete or without episode_length
        file, line = group["steps"][0][0], group["steps"][0][1]
        yield task(_episode, file, eid, line, eid, group, base)


def _episode(eid: str, group: dict, base: ImageBase) -> SourceRecord:
    entries = group["steps"]
    file, line = entries[0][0], entries[0][1]
    rec = SourceRecord(file=file, line=line, record=eid, step_locs=[])
    length = group["length"]
    if length is not None and len(entries) != length:
        rec.problem("episode is incomplete" if len(entries) < length else "episode has more steps than its length",
                    field="episode_length", expected=f"{length} step records", found=len(entries))
    keyed = []
    for file_, line_, v, folder in entries:
        sid = scalar(v.get("step_id"))
        if not (isinstance(sid, int) and not isinstance(sid, bool)):
            rec.problem("missing step_id", field="step_id", expected="an integer", found=sid, file=file_, line=line_)
            continue
        keyed.append((sid, file_, line_, v, folder))
    keyed.sort(key=lambda t: t[0])
    for a, b in zip(keyed, keyed[1:]):
        if a[0] == b[0]:
            rec.problem("duplicate step_id", field="step_id", expected="unique step ids", found=b[0], file=b[1],
                        line=b[2])
    if rec.problems:
        return rec
    steps, goal, meta = [], None, {}
    for i, (sid, file_, line_, v, folder) in enumerate(keyed):
        rec.step_locs.append((file_, line_))
        step = _step(rec, eid, i, sid, file_, line_, v, folder, base)
        if i == 0:
            goal = scalar(v.get("goal_info"))
            if not isinstance(goal, str) or not goal.strip():
                rec.problem("missing goal", field="goal_info", expected="a non-empty string", found=goal, file=file_,
                            line=line_)
            meta = {k: scalar(v[k]) for k in _EPISODE_META if v.get(k) is not None}
        if step is not None:
            steps.append(step)
    if rec.problems:
        return rec
    rec.episode = {"episode_id": eid, "instruction": goal, "platform": "android", "meta": meta, "steps": steps}
    return rec


def _yx(rec: SourceRecord, v: dict, key: str, file: str, line: int) -> Optional[tuple[float, float]]:
    yx = v.get(key)
    if not (isinstance(yx, list) and len(yx) == 2 and all(num(c) and math.isfinite(c) and 0 <= c <= 1 for c in yx)):
        rec.problem("malformed coordinate", field=key, expected="(y, x) normalised to [0, 1]", found=yx, file=file,
                    line=line)
        return None
    return float(yx[0]), float(yx[1])


def _step(rec: SourceRecord, eid: str, index: int, sid: int, file: str, line: int, v: dict, folder: str,
          base: ImageBase) -> Optional[dict[str, Any]]:
    shot = _image(rec, eid, sid, v, file, line, folder, base)
    if shot is None:
        return None
    rel, w, h = shot
    kind = scalar(v.get("results/action_type"))
    action: dict[str, Any]
    if kind == 4:
        touch = _yx(rec, v, "results/yx_touch", file, line)
        lift = _yx(rec, v, "results/yx_lift", file, line)
        if touch is None or lift is None:
            return None
        p, e = [touch[1] * w, touch[0] * h], [lift[1] * w, lift[0] * h]
        if math.dist(touch, lift) <= TAP_DISTANCE:
            action = {"type": "click", "point": p}
            if p != e:
                action["meta"] = {"lift_point": e}
        else:
            # AITW decides the axis on its normalised (y, x): the direction is the source's, not the pixels'
            action = {"type": "swipe", "point": p, "end_point": e, "direction": finger_direction(p, e, (w, h))}
    elif kind == 3:
        text = scalar(v.get("results/type_action"))
        if not isinstance(text, str) or not text:
            rec.problem("TYPE needs text", field="results/type_action", expected="a non-empty string", found=text,
                        file=file, line=line)
            return None
        action = {"type": "type", "text": text}
    elif kind in _SIMPLE:
        action = {"type": _SIMPLE[kind]}
    elif kind in _STATUS:
        action = {"type": "status", "status": _STATUS[kind]}
    else:
        rec.problem("unknown action type", field="results/action_type", expected=_TYPES, found=kind, file=file,
                    line=line)
        return None
    step: dict[str, Any] = {"index": index, "screenshot": rel, "width": w, "height": h, "action": action}
    elements = _elements(rec, v, w, h, file, line)
    if elements is None:
        return None
    if elements:
        step["elements"] = elements
    meta = {k: scalar(x) for k, x in v.items() if k not in _USED}
    meta["step_id"] = sid
    step["meta"] = meta
    return step


def _image(rec: SourceRecord, eid: str, sid: int, v: dict, file: str, line: int, folder: str, base: ImageBase):
    encoded, path = scalar(v.get("image/encoded")), scalar(v.get("image/path", v.get("image_path")))
    if isinstance(encoded, str) and encoded:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            rec.problem("image/encoded is not base64", field="image/encoded", expected="base64 PNG/JPEG bytes",
                        found=encoded[:40], file=file, line=line)
            return None
        try:
            ext, w, h = bytes_image_info(data)
        except BridgeError as e:
            raw = _raw_png(data, v)
            if raw is None:
                shape = "x".join(str(scalar(v.get(k))) for k in ("image/height", "image/width", "image/channels"))
                rec.problem(f"image/encoded: {e.message}, and not raw uint8 pixels of the recorded shape",
                            field="image/encoded", expected="an encoded image, or height*width*channels raw "
                            f"bytes (here {shape})", found=f"{len(data)} bytes", file=file, line=line)
                return None
            data, ext, w, h = raw
        rel = f"{_safe_name(eid)}_{sid}.{ext}"
        rec.images.append((rel, data))
        rel = "images/" + rel
    elif isinstance(path, str) and path:
        full = path if os.path.isabs(path) else safe_join(folder, path)
        if full is None:
            rec.problem("image path escapes the record file's folder", field="image/path",
                        expected="a relative path inside the folder or an absolute path", found=path, file=file,
                        line=line)
            return None
        try:
            w, h = image_size(full)
        except BridgeError as e:
            image_problem(rec, full, e, "image/path", file=file, line=line)
            return None
        rel = place_file(rec, full, base)
    else:
        rec.problem("step has no image", field="image/encoded", expected="image/encoded (base64) or image/path",
                    found=None, file=file, line=line)
        return None
    rw, rh = scalar(v.get("image/width")), scalar(v.get("image/height"))
    if (rw is not None and rw != w) or (rh is not None and rh != h):
        rec.problem("recorded image size differs from the image", field="image/width",
                    expected=f"{w}x{h} (from the image header)", found=f"{rw}x{rh}", file=file, line=line)
        return None
    return rel, w, h


_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def _raw_png(data: bytes, v: dict):
    """AITW's TFRecords hold ``image/encoded`` as RAW uint8 pixels, row-major H×W×C (its
    ``visualization_utils._decode_image`` reads them with ``tf.io.decode_raw`` and reshapes by
    image/height, image/width, image/channels). Those bytes, when their length is exactly H·W·C, become a
    PNG: (png bytes, "png", W, H); anything else None."""
    h, w, c = (scalar(v.get(k)) for k in ("image/height", "image/width", "image/channels"))
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in (h, w, c)) or c not in _MODES \
            or len(data) != h * w * c:
        return None
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.frombytes(_MODES[c], (w, h), data).save(buf, "PNG")
    return buf.getvalue(), "png", w, h


def _safe_name(eid: str) -> str:
    """A file-name-safe form of an episode id (ids that needed changes get a checksum suffix: no collisions)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", eid)
    return safe if safe == eid else f"{safe}-{zlib.crc32(eid.encode()):08x}"


def _elements(rec: SourceRecord, v: dict, w: int, h: int, file: str, line: int) -> Optional[list[dict[str, Any]]]:
    pos = v.get("image/ui_annotations_positions")
    if not pos:
        return []
    texts = v.get("image/ui_annotations_text") or []
    types = v.get("image/ui_annotations_ui_types") or []
    n = len(pos) // 4 if isinstance(pos, list) else -1
    if n < 0 or len(pos) % 4 or not all(num(c) for c in pos):
        rec.problem("malformed UI annotation positions", field="image/ui_annotations_positions",
                    expected="a flat list of (y, x, height, width) quadruples in [0, 1]", found=pos, file=file,
                    line=line)
        return None
    out = []
    for k in range(n):
        y, x, hh, ww = pos[4 * k: 4 * k + 4]
        el: dict[str, Any] = {"bbox": [max(0.0, x * w), max(0.0, y * h), min(float(w), (x + ww) * w),
                                       min(float(h), (y + hh) * h)]}
        if k < len(texts) and texts[k]:
            el["text"] = texts[k]
        if k < len(types) and types[k]:
            el["role"] = types[k]
        out.append(el)
    return out
