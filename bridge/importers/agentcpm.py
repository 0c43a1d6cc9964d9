"""AgentCPM-GUI SFT / RFT data (OpenBMB/AgentCPM-GUI ``sft/readme.md``, ``rft/trainer/utils/dataset.py``;
docs/importers.md).

Accepted layout: SRC is a ``.json`` file holding a list of records (streamed, not loaded whole), a ``.jsonl``
file with one record per line (the RFT form), or a directory of such files. A record is::

    {"id": ..., "image": "path" | {"<image_00>": "path", ...},
     "conversations": [{"role": "system"|"user"|"assistant", "content": "..."}, ...],
     "bbox": [[l, t], [r, b]], "bbox2": [[l, t], [r, b]]}          # RFT extras, original pixels (optional)

Each assistant turn is one step (multi-turn records become multi-step episodes). Its screenshot is the last
image placeholder (``<image_NN>`` / ``<image>``) in the user turn(s) before it; earlier placeholders of those
turns become ``extra_images`` (e.g. history screenshots). Without placeholders, step k takes the k-th image.
Image paths are absolute, or relative to the JSON file's folder or its parent (as the RFT loader resolves them).
The goal is the ``<Question>…</Question>`` text. The system prompt is not imported (styles render their own).

The assistant content is AgentCPM's compact JSON action (optionally wrapped as ``<think>…</think><act>…</act>``),
coordinates in [0, 1000] of the screenshot: {POINT} → click; {POINT, duration > 200} → long_press; {POINT, to:
"up"|…} → swipe (``to`` is already the finger direction); {POINT, to: [x, y]} → swipe with end_point; {to}
without POINT → swipe from the screen centre (``meta.point_defaulted``); {PRESS: HOME|BACK|ENTER} →
navigate_home / navigate_back / enter; {TYPE} → type; {duration} → wait; {STATUS: finish|satisfied} → status
complete (``meta.source_status``); impossible / interrupt / need_feedback → that status; ``thought`` → step
thought. RFT ``bbox`` → action bbox, ``bbox2`` → ``action.meta.end_bbox``; other record keys → episode meta.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import BridgeError
from ..frames import finger_direction
from .base import (ImageBase, ImportContext, SourceRecord, task, image_problem, image_size, iter_json_records,
                   json_files, num, place_file)

LAYOUT = ("a .json list or .jsonl of {id, image: path | {\"<image_00>\": path}, conversations: [{role, content}], "
          "bbox?, bbox2?} records whose assistant turns hold AgentCPM compact-JSON actions")

_PLACEHOLDER = re.compile(r"<image_\d+>|<image>")
_QUESTION = re.compile(r"<Question>(.*?)</Question>", re.S)
_ACT = re.compile(r"<act>(.*?)</act>", re.S)
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
_KEYS = frozenset({"thought", "POINT", "to", "duration", "PRESS", "TYPE", "STATUS"})
_PRESS = {"HOME": "navigate_home", "BACK": "navigate_back", "ENTER": "enter"}
_STATUS = {"finish": "complete", "satisfied": "complete", "impossible": "impossible", "interrupt": "interrupt",
           "need_feedback": "need_feedback"}
_DIRECTIONS = ("up", "down", "left", "right")
_LOCATION = "[x, y] integers in [0, 1000]"
_RECORD_KEYS = frozenset({"id", "image", "conversations", "bbox", "bbox2"})


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    noted = False
    base = ctx.image_base(src if src.is_dir() else src.parent)
    for file in json_files(src, "AgentCPM records"):
        folder = os.path.dirname(os.path.abspath(file))
        stem = Path(file).stem
        for n, (line, value, error) in enumerate(iter_json_records(file)):
            if error is not None:
                rec = SourceRecord(file=file, line=line, record=f"#{n}")
                rec.problem(error, expected="valid JSON")
                yield rec
                continue
            rid = value.get("id") if isinstance(value, dict) else None
            record = str(rid) if rid is not None else f"{stem}-{n}"
            convs = value.get("conversations") if isinstance(value, dict) else None
            if not noted and isinstance(convs, list) and any(isinstance(t, dict) and _role(t) == "system"
                                                             for t in convs):
                ctx.note("AgentCPM system prompts are not imported (styles render their own prompt)")
                noted = True
            yield task(_record, file, record, line, file, line, record, value, folder, base)


def _role(turn: dict) -> Optional[str]:
    role = turn.get("role", turn.get("from"))
    return {"human": "user", "gpt": "assistant"}.get(role, role) if isinstance(role, str) else role


def _record(file: str, line: int, record: str, value: Any, folder: str, base: ImageBase) -> SourceRecord:
    rec = SourceRecord(file=file, line=line, record=record)
    if not isinstance(value, dict):
        rec.problem("record is not an object", expected="{id, image, conversations}", found=type(value).__name__)
        return rec
    images = value.get("image")
    if isinstance(images, str):
        images = {"<image>": images}
    if not isinstance(images, dict) or not images or not all(isinstance(p, str) for p in images.values()):
        rec.problem("no screenshot", field="image", expected='a path or {"<image_00>": path, ...}', found=images)
        return rec
    convs = value.get("conversations")
    if not isinstance(convs, list) or not all(isinstance(t, dict) for t in convs):
        rec.problem("no conversation", field="conversations", expected="a list of {role, content}", found=convs)
        return rec
    # Group user text preceding each assistant turn.
    turns: list[tuple[int, str, str]] = []  # (conversation index, user text before it, assistant content)
    pending: list[str] = []
    for i, t in enumerate(convs):
        role, content = _role(t), t.get("content", t.get("value"))
        if not isinstance(content, str):
            rec.problem("turn content is not a string", field=f"conversations[{i}].content", expected="a string",
                        found=content)
            continue
        if role == "user":
            pending.append(content)
        elif role == "assistant":
            turns.append((i, "\n".join(pending), content))
            pending = []
        elif role != "system":
            rec.problem("unknown role", field=f"conversations[{i}].role", expected="system, user or assistant",
                        found=role)
    if not turns and not rec.problems:
        rec.problem("no assistant turn (the action)", field="conversations", expected="an assistant turn")
    if rec.problems:
        return rec

    keys = list(images)
    per_turn_boxes = _per_step(value.get("bbox"), len(turns))
    steps, goal, sizes = [], None, {}
    for k, (ci, user, content) in enumerate(turns):
        q = _QUESTION.findall(user)
        question = q[-1].strip() if q else None
        if k == 0:
            goal = question
            if not goal:
                rec.problem("no goal", field=f"conversations[{ci - 1}].content",
                            expected="<Question>…</Question> in the user turn", found=user[:80] or None)
                continue
        tags = _PLACEHOLDER.findall(user)
        if tags:
            missing = [t for t in tags if t not in images and not (t == "<image>" and len(images) == 1)]
            if missing:
                rec.problem("placeholder without an image", field="image", expected=f"keys {keys}", found=missing)
                continue
            chosen = [images[t] if t in images else images[keys[0]] for t in tags]
        elif len(turns) == len(keys):
            chosen = [images[keys[k]]]
        elif len(turns) == 1:
            chosen = [images[key] for key in keys]
        else:
            rec.problem("cannot tell which image belongs to which step", field="image",
                        expected="<image_NN> placeholders, or one image per assistant turn", found=keys)
            continue
        placed = [_place(rec, p, folder, base, sizes) for p in chosen]
        if any(p is None for p in placed):
            continue
        shot, w, h = placed[-1]
        action, thought = _parse(rec, f"conversations[{ci}].content", content, w, h)
        if action is None:
            continue
        step: dict[str, Any] = {"index": len(steps), "screenshot": shot, "width": w, "height": h, "action": action}
        if len(placed) > 1:
            step["extra_images"] = [p[0] for p in placed[:-1]]
        if thought:
            step["thought"] = thought
        if k > 0 and question and question != goal:
            step["meta"] = {"question": question}
        box = per_turn_boxes[k] if per_turn_boxes else None
        if box is not None and not _set_box(rec, action, box, "bbox"):
            continue
        if k == 0 and value.get("bbox2"):
            end_box = _box(value["bbox2"])
            if end_box is None:
                rec.problem("malformed box", field="bbox2", expected="[[left, top], [right, bottom]] pixels",
                            found=value["bbox2"])
                continue
            action.setdefault("meta", {})["end_bbox"] = end_box
        steps.append(step)
    if per_turn_boxes is None and value.get("bbox"):
        rec.problem("malformed box", field="bbox", expected="[[left, top], [right, bottom]] pixels (one per step "
                    "for multi-turn records)", found=value["bbox"])
    if rec.problems:
        return rec
    meta = {k: v for k, v in value.items() if k not in _RECORD_KEYS}
    rec.episode = {"episode_id": record, "instruction": goal, "platform": "android", "meta": meta, "steps": steps}
    return rec


def _per_step(bbox: Any, n: int) -> Optional[list]:
    """The RFT box of each step: one box for a one-step record, a list of (box | None) for multi-turn ones."""
    if not bbox:
        return [None] * n
    if _box(bbox) is not None:
        return [bbox] + [None] * (n - 1)
    if isinstance(bbox, list) and len(bbox) == n and all(b is None or _box(b) is not None for b in bbox):
        return bbox
    return None


def _box(v: Any) -> Optional[list[float]]:
    """[[l, t], [r, b]] (or a flat [l, t, r, b]) → [l, t, r, b]."""
    if isinstance(v, list) and len(v) == 2 and all(isinstance(p, list) and len(p) == 2 for p in v):
        v = [v[0][0], v[0][1], v[1][0], v[1][1]]
    if isinstance(v, list) and len(v) == 4 and all(num(x) for x in v):
        return [float(x) for x in v]
    return None


def _set_box(rec: SourceRecord, action: dict, box: Any, field: str) -> bool:
    b = _box(box)
    if b is None:
        rec.problem("malformed box", field=field, expected="[[left, top], [right, bottom]] pixels", found=box)
        return False
    action["bbox"] = b
    return True


def _place(rec: SourceRecord, path: str, folder: str, base: ImageBase, sizes: dict):
    if path in sizes:
        return sizes[path]
    candidates = [path] if os.path.isabs(path) else [os.path.join(folder, path),
                                                       os.path.join(os.path.dirname(folder), path)]
    full = next((c for c in candidates if os.path.isfile(c)), candidates[0])
    try:
        w, h = image_size(full)
    except BridgeError as e:
        image_problem(rec, full, e, "image")
        sizes[path] = None
        return None
    sizes[path] = (place_file(rec, full, base), w, h)
    return sizes[path]


def _loc(rec: SourceRecord, field: str, v: Any, w: int, h: int) -> Optional[list[float]]:
    if not (isinstance(v, list) and len(v) == 2 and all(num(x) and 0 <= x <= 1000 for x in v)):
        rec.problem("malformed location", field=field, expected=_LOCATION, found=v)
        return None
    return [v[0] / 1000.0 * w, v[1] / 1000.0 * h]


def _parse(rec: SourceRecord, field: str, content: str, w: int, h: int):
    """(canonical action dict, thought) from an assistant turn, or (None, None) with a problem recorded."""
    text, thought = content.strip(), None
    act = _ACT.search(text)
    if act:
        think = _THINK.search(text)
        thought = think.group(1).strip() if think else None
        text = act.group(1).strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        rec.problem(f"action is not valid JSON ({e.msg})", field=field, expected="AgentCPM compact JSON",
                    found=content[:120])
        return None, None
    if not isinstance(data, dict):
        rec.problem("action is not a JSON object", field=field, expected="AgentCPM compact JSON", found=data)
        return None, None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        rec.problem("unknown action key(s)", field=field, expected="keys among " + ", ".join(sorted(_KEYS)),
                    found=unknown)
        return None, None
    thought = data.get("thought") or thought
    status = data.get("STATUS")
    if status is not None and status not in _STATUS and status not in ("continue", "start"):
        rec.problem("unknown STATUS", field=field + ".STATUS", expected="continue, finish, satisfied, impossible, "
                    "interrupt or need_feedback", found=status)
        return None, None
    duration = data.get("duration")
    if duration is not None and not (isinstance(duration, int) and not isinstance(duration, bool) and duration >= 0):
        rec.problem("malformed duration", field=field + ".duration", expected="milliseconds (integer >= 0)",
                    found=duration)
        return None, None
    action: dict[str, Any]
    if "POINT" in data or "to" in data:
        meta: dict[str, Any] = {}
        if "POINT" in data:
            point = _loc(rec, field + ".POINT", data["POINT"], w, h)
        else:
            point, meta["point_defaulted"] = [w / 2.0, h / 2.0], True
        if point is None:
            return None, None
        to = data.get("to")
        if to is None:
            long = duration is not None and duration > 200
            action = {"type": "long_press" if long else "click", "point": point}
        elif to in _DIRECTIONS:
            action = {"type": "swipe", "point": point, "direction": to}
        else:
            end = _loc(rec, field + ".to", to, w, h) if isinstance(to, list) else None
            if end is None:
                if not isinstance(to, list):
                    rec.problem("malformed 'to'", field=field + ".to", expected="up/down/left/right or " + _LOCATION,
                                found=to)
                return None, None
            if end == point:
                rec.problem("swipe does not move", field=field + ".to", expected="a point different from POINT",
                            found=to)
                return None, None
            # AgentCPM's evaluator decides the axis on the [0, 1000] numbers (normalised units), not on pixels
            action = {"type": "swipe", "point": point, "end_point": end,
                      "direction": finger_direction(point, end, (w, h))}
        if duration is not None:
            action["duration_ms"] = duration
        if meta:
            action["meta"] = meta
    elif "PRESS" in data:
        key = data["PRESS"]
        if key not in _PRESS:
            rec.problem("unknown key", field=field + ".PRESS", expected="HOME, BACK or ENTER", found=key)
            return None, None
        action = {"type": _PRESS[key]}
    elif "TYPE" in data:
        if not isinstance(data["TYPE"], str):
            rec.problem("TYPE is not a string", field=field + ".TYPE", expected="a string", found=data["TYPE"])
            return None, None
        action = {"type": "type", "text": data["TYPE"]}
    elif status in _STATUS:
        action = {"type": "status", "status": _STATUS[status]}
        if status != _STATUS[status]:
            action["meta"] = {"source_status": status}
        return action, thought
    elif duration is not None:
        action = {"type": "wait", "duration_ms": duration}
    else:
        rec.problem("no action in the JSON", field=field, expected="one of POINT, to, PRESS, TYPE, STATUS, duration",
                    found=data)
        return None, None
    if status in _STATUS:  # an action that also ends the task: keep the status beside it
        action.setdefault("meta", {})["status"] = _STATUS[status]
    return action, thought
