"""Seed per-step JSON ("ui-doctor" layout; docs/importers.md).

Accepted layout::

    SRC/<episode>/step_<N>.json     numeric episode folders; steps ordered by N numerically (step_10 after step_9)
    SRC/<episode>/<screenshots>     named by the steps' screen_path1 / screen_path2 (relative to the folder)

SRC may also be one episode folder. A step file is ``{"input": {...}, "output": {...}}``. Screenshots are
referenced in place as ``<episode>/<file>`` relative to SRC (the dataset's ``image_root``; default
``--images ref``), or placed flat in the dataset as ``images/<episode>-<file>`` with ``--images link|copy``
(no directory per episode: see ``_image``).

Mapping: ``task_content`` → instruction, ``app_name`` → app, ``task_path`` / ``action_type_list`` → episode
meta (step meta when a later step differs), ``history_path_all`` → step ``meta.history``, ``screen_path2`` →
screenshot (size from the image header), ``screen_path1`` → ``extra_images`` (the previous screenshot; when
``screen_path2`` is empty the step's only screenshot is ``screen_path1``, recorded as
``meta.screenshot_from``), ``action_description`` → ``low_instruction``, step number → ``meta.source_step``;
unknown input keys → step meta, unknown output keys → action meta. Actions (pixels of the screenshot):
click / long_click ``"x1,y1,x2,y2"`` → click / long_press with bbox and point = box centre; swipe
``"x1,y1,x2,y2"`` (start → end) → swipe with point, end_point and finger direction; type → type(text);
open_app → open_app(app); wait → wait; back → navigate_back; task_completed / task_impossible → status
complete / impossible with text; inquiry (JSON string with Question, CandidatesList, PicDescribe, AnswerIndex)
→ ask_user(text = question) with ``meta.candidates`` / ``answer_index`` / ``pic_describe``. ``CandidatesList``
may be a JSON list or, as the tutorials write it, a string holding a Python list literal (``"['A', 'B']"``,
read with ``ast.literal_eval``: literals only); the string is then also kept as ``meta.candidates_text`` so the
seed style renders the record back as written.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterator, Optional

from ..errors import BridgeError
from ..frames import finger_direction
from ..images import header as _header
from .base import (ImageBase, ImportContext, SourceRecord, image_problem, image_size, json_error, place_file,
                   read_json, task)

LAYOUT = ("SRC/<episode>/step_<N>.json with numeric episode folders (or SRC = one episode folder); each step "
          "file is {\"input\": {task_content, screen_path1, screen_path2, ...}, \"output\": {action_type, "
          "action_parameter, action_description}} and names screenshots relative to its folder")

_STEP_FILE = re.compile(r"^step_(\d+)\.json$")
_INPUT_KEYS = frozenset({"task_content", "app_name", "task_path", "action_type_list", "history_path_all",
                         "screen_path1", "screen_path2"})
_OUTPUT_KEYS = frozenset({"action_type", "action_parameter", "action_description"})
_ACTIONS = ("click", "long_click", "swipe", "type", "open_app", "wait", "back", "task_completed",
            "task_impossible", "inquiry")
_ACTION_SET = frozenset(_ACTIONS)
_BOXES = frozenset({"click", "long_click", "swipe"})
_QUAD = '"x1,y1,x2,y2" (4 numbers, screenshot pixels)'
_isfinite = math.isfinite


def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
    """One record per episode folder, in numeric order."""
    root = str(src)
    if not os.path.isdir(root):
        raise BridgeError(f"{src}: expected a directory of numeric episode folders holding step_N.json files")
    episodes, ignored, root_has_steps = [], [], False
    with os.scandir(root) as it:
        for entry in it:
            try:
                is_dir = entry.is_dir()
            except OSError:  # a symlink loop: a numeric one is reported as that episode's problem
                is_dir = entry.name.isascii() and entry.name.isdigit()
            if is_dir:
                if entry.name.isascii() and entry.name.isdigit():
                    episodes.append((int(entry.name), entry.name, entry.path))
                else:
                    ignored.append(entry.name)
            elif _STEP_FILE.match(entry.name):
                root_has_steps = True
    if not episodes and root_has_steps:  # SRC is a single episode folder
        name = os.path.basename(os.path.abspath(root))
        episodes = [(0, name, root)]
        base = ctx.image_base(os.path.dirname(os.path.abspath(root)))
    else:
        base = ctx.image_base(root)
        if ignored:
            ctx.note(f"ignored {len(ignored)} non-numeric folder(s) in {src}: {', '.join(sorted(ignored)[:5])}"
                     + (" ..." if len(ignored) > 5 else ""))
    episodes.sort()
    ctx.expected = len(episodes)
    for _, name, path in episodes:
        yield task(_episode, path, name, None, name, path, base)


# openat(2): files of an episode are opened relative to its folder's descriptor (a shorter path walk per file).
_DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")


def _episode(name: str, ep_dir: str, base: ImageBase) -> SourceRecord:
    rec = SourceRecord(file=ep_dir, record=name, step_locs=[])
    dfd = None
    if _DIR_FD:
        try:
            dfd = os.open(ep_dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # reported below by scandir, with the usual message
            dfd = None
    try:
        return _read_episode(rec, name, ep_dir, base, dfd)
    finally:
        if dfd is not None:
            os.close(dfd)


def _read_episode(rec: SourceRecord, name: str, ep_dir: str, base: ImageBase, dfd: Optional[int]) -> SourceRecord:
    step_files = []
    try:
        names = os.listdir(ep_dir if dfd is None else dfd)
    except OSError as e:  # e.g. a symlink loop in place of the folder
        rec.problem(f"episode folder unreadable: {e.strerror or e}", expected="a readable folder of step_N.json files")
        return rec
    for fname in names:
        if fname.startswith("step_") and fname.endswith(".json"):  # step_<N>.json (cheaper than a regex)
            number = fname[5:-5]
            if number.isascii() and number.isdigit():
                step_files.append((int(number), fname))
    if not step_files:
        rec.problem("episode folder has no step files", expected="step_1.json, step_2.json, ...")
        return rec
    step_files.sort()
    ctx = _Episode(rec, name, ep_dir, base, dfd)
    steps: list[dict[str, Any]] = []
    prefix = ep_dir + os.sep
    locs = rec.step_locs
    for number, fname in step_files:
        path = prefix + fname
        locs.append((path, None))
        try:
            data = read_json(fname if dfd is not None else path, dir_fd=dfd)
        except json.JSONDecodeError as e:
            json_error(rec, e, file=path)
            continue
        except (OSError, UnicodeDecodeError) as e:
            rec.problem(f"unreadable step file ({e})", file=path)
            continue
        step = _step(ctx, path, number, len(steps), data)
        if step is not None:
            steps.append(step)
    if rec.problems:
        return rec
    first = ctx.first
    # Keys in the schema's field order, no None, no empty meta: the dict serialises to exactly the canonical
    # line (rec.canonical; tests/test_importers.py checks the bytes against Episode.to_json_bytes).
    episode: dict[str, Any] = {"episode_id": name, "instruction": first["task_content"], "platform": "android"}
    if first.get("app_name") is not None:
        episode["app"] = first["app_name"]
    episode["source"] = "seed-steps"
    meta = {k: first[k] for k in ("task_path", "action_type_list") if first.get(k) is not None}
    if meta:
        episode["meta"] = meta
    episode["steps"] = steps
    rec.episode = episode
    rec.canonical = True
    return rec


class _Episode:
    """State while reading one episode folder: the record, where images go, the first step's shared values and
    the screenshots seen so far (the previous screenshot is normally the last step's current one)."""

    __slots__ = ("rec", "name", "ep_dir", "base", "dfd", "first", "placed")

    def __init__(self, rec: SourceRecord, name: str, ep_dir: str, base: ImageBase, dfd: Optional[int]):
        self.rec, self.name, self.ep_dir, self.base, self.dfd = rec, name, ep_dir, base, dfd
        self.first: dict[str, Any] = {}
        self.placed: dict[str, Optional[tuple[str, int, int]]] = {}  # name -> (path, w, h) or None (reported)


_SHARED = ("task_content", "app_name", "task_path", "action_type_list")


def _step(ep: _Episode, path: str, number: int, index: int, data: Any) -> Optional[dict[str, Any]]:
    rec = ep.rec
    inp = data.get("input") if type(data) is dict else None
    out = data.get("output") if type(data) is dict else None
    if type(inp) is not dict or type(out) is not dict:
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        rec.problem("not a step record", expected='{"input": {...}, "output": {...}}', found=found, file=path)
        return None
    meta: dict[str, Any] = {"source_step": number}
    ok = True
    first = ep.first
    if index == 0:
        goal = inp.get("task_content")
        if not isinstance(goal, str) or not goal.strip():
            rec.problem("missing goal", field="input.task_content", expected="a non-empty string", found=goal,
                        file=path)
            ok = False
        first.update((k, inp.get(k)) for k in _SHARED)
    else:  # the goal/app/plan normally repeat on every step; keep a step's own value only when it differs
        for key in _SHARED:
            value = inp.get(key)
            if value is not None and value != first[key]:
                meta[key] = value
    history = inp.get("history_path_all")
    if history is not None:
        meta["history"] = history
    if not _INPUT_KEYS.issuperset(inp):  # unknown input keys go to the step meta
        for key, value in inp.items():
            if key not in _INPUT_KEYS:
                meta[key] = value

    current, previous = inp.get("screen_path2") or "", inp.get("screen_path1") or ""
    if not current and previous:
        current, previous = previous, ""
        meta["screenshot_from"] = "screen_path1"
    step: dict[str, Any] = {"index": index}
    if not current:
        rec.problem("step has no screenshot", field="input.screen_path2", expected="an image file name",
                    found=inp.get("screen_path2"), file=path)
        ok = False
    else:
        shot = ep.placed.get(current, _MISSING) if type(current) is str else _MISSING
        if shot is _MISSING:
            shot = _image(ep, path, current, "input.screen_path2")
        if shot is None:
            ok = False
        else:
            step["screenshot"], step["width"], step["height"] = shot
    if previous:
        shot = ep.placed.get(previous, _MISSING) if type(previous) is str else _MISSING
        if shot is _MISSING:
            shot = _image(ep, path, previous, "input.screen_path1")
        if shot is None:
            ok = False
        else:
            step["extra_images"] = [shot[0]]
    description = out.get("action_description")
    if isinstance(description, str):
        step["low_instruction"] = description
    action = _action(rec, path, out)
    if action is None or not ok:
        return None
    step["action"] = action
    step["meta"] = meta
    return step


_MISSING = object()


def _image(ep: _Episode, step_path: str, file_name: Any, field: str) -> Optional[tuple[str, int, int]]:
    """``(path, w, h)`` for a screenshot named by a step, or None (problem recorded); cached in
    ``ep.placed`` by name.

    ``ref`` mode: the path is ``<episode>/<file>``, relative to the source root (the dataset's image root).
    Otherwise images are stored flat as ``images/<episode>-<file>``: episode folder names are digits, so the
    first '-' separates them and names cannot collide, and no directory is created per episode (a mkdir costs
    more than converting a whole step on common file systems)."""
    rec = ep.rec
    if type(file_name) is not str:
        rec.problem("screenshot name is not a string", field=field, expected="a file name", found=file_name,
                    file=step_path)
        return None
    # A plain file name (the usual case) is already normal: skip normpath.
    simple = "/" not in file_name and "\\" not in file_name and file_name not in ("", ".", "..")
    norm = file_name if simple else os.path.normpath(file_name)
    result = None
    if not simple and (os.path.isabs(norm) or norm == ".." or norm.startswith(".." + os.sep)):
        rec.problem("screenshot path escapes the episode folder", field=field,
                    expected="a path relative to the episode folder", found=file_name, file=step_path)
    else:
        try:
            if ep.dfd is not None:
                _, w, h, _ = _header(norm, dir_fd=ep.dfd)
            else:
                w, h = image_size(os.path.join(ep.ep_dir, norm))
        except BridgeError as e:
            image_problem(rec, os.path.join(ep.ep_dir, norm), e, field, file=step_path)
        else:
            posix = norm if os.sep == "/" or simple else norm.replace(os.sep, "/")
            full = ep.ep_dir + os.sep + norm
            result = (place_file(rec, full, ep.base, rel=f"{ep.name}/{posix}", placed=f"{ep.name}-{posix}"), w, h)
    ep.placed[file_name] = result
    return result


def _quad(value: Any) -> Optional[list[float]]:
    """Four finite numbers from "x1,y1,x2,y2" (or a 4-number list), else None."""
    if isinstance(value, str):
        parts = value.replace("，", ",").split(",")
        if len(parts) != 4:
            return None
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            return None
    elif isinstance(value, (list, tuple)) and len(value) == 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        nums = [float(v) for v in value]
    else:
        return None
    a, b, c, d = nums
    return nums if _isfinite(a) and _isfinite(b) and _isfinite(c) and _isfinite(d) else None


def _action(rec: SourceRecord, path: str, out: dict) -> Optional[dict[str, Any]]:
    kind = out.get("action_type")
    if type(kind) is not str or kind not in _ACTION_SET:
        rec.problem("unknown action type", field="output.action_type", expected="one of " + ", ".join(_ACTIONS),
                    found=kind, file=path)
        return None
    params = out.get("action_parameter")
    field = "output.action_parameter." + kind
    if isinstance(params, dict):
        value = params.get(kind)
        extra = {k: v for k, v in params.items() if k != kind} if len(params) > 1 or kind not in params else {}
    elif params in (None, ""):
        value, extra = None, {}
    else:
        rec.problem("action_parameter is not an object", field="output.action_parameter",
                    expected=f'{{"{kind}": VALUE}}', found=params, file=path)
        return None
    action: dict[str, Any]
    if kind in _BOXES:
        quad = _quad(value)
        if quad is None:
            rec.problem("malformed coordinates", field=field, expected=_QUAD, found=value, file=path)
            return None
        x1, y1, x2, y2 = quad
        if kind == "swipe":
            if (x1, y1) == (x2, y2):
                rec.problem("swipe has the same start and end point", field=field,
                            expected="start point != end point", found=value, file=path)
                return None
            action = {"type": "swipe", "point": [x1, y1], "end_point": [x2, y2],
                      "direction": finger_direction((x1, y1), (x2, y2))}
        else:
            action = {"type": "click" if kind == "click" else "long_press",
                      "point": [(x1 + x2) / 2.0, (y1 + y2) / 2.0], "bbox": quad}
    elif kind in ("type", "open_app"):
        if not isinstance(value, str) or not value:
            rec.problem(f"{kind} needs a non-empty string", field=field, expected="a non-empty string",
                        found=value, file=path)
            return None
        action = {"type": "type", "text": value} if kind == "type" else {"type": "open_app", "app": value}
    elif kind in ("wait", "back"):
        action = {"type": "wait" if kind == "wait" else "navigate_back"}
        if value not in (None, ""):
            action["meta"] = {"value": value}
    elif kind in ("task_completed", "task_impossible"):
        action = {"type": "status"}
        if value not in (None, ""):
            if not isinstance(value, str):
                rec.problem("status text is not a string", field=field, expected="a string", found=value, file=path)
                return None
            action["text"] = value
        action["status"] = "complete" if kind == "task_completed" else "impossible"
    else:  # inquiry
        action = _inquiry(rec, path, field, value)
        if action is None:
            return None
    meta = {k: v for k, v in out.items() if k not in _OUTPUT_KEYS} if not _OUTPUT_KEYS.issuperset(out) else {}
    if extra:
        meta["action_parameter"] = extra
    if meta:
        action["meta"] = {**action.get("meta", {}), **meta}
    return action


def _inquiry(rec: SourceRecord, path: str, field: str, value: Any) -> Optional[dict[str, Any]]:
    expected = 'a JSON object (or JSON string) with "Question", "CandidatesList", "PicDescribe", "AnswerIndex"'
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except json.JSONDecodeError:
            data = None
    if not isinstance(data, dict):
        rec.problem("malformed inquiry", field=field, expected=expected, found=value, file=path)
        return None
    question = data.get("Question")
    if not isinstance(question, str) or not question:
        rec.problem("inquiry has no question", field=field + ".Question", expected="a non-empty string",
                    found=question, file=path)
        return None
    candidates = data.get("CandidatesList")
    meta: dict[str, Any] = {}
    if isinstance(candidates, str):
        # The tutorials (docs/importers.md, seed-steps) write the list as a Python literal inside the JSON string,
        # e.g. "['第5章', '第7章']". Read it with ast.literal_eval (literals only, never code); the text is kept
        # as written when a JSON re-serialisation of the parsed list would not give it back.
        parsed = literal_list(candidates)
        if parsed is None:
            rec.problem("inquiry candidates are not a list", field=field + ".CandidatesList",
                        expected="a list, or a string holding a list literal such as \"['A', 'B']\"",
                        found=candidates, file=path)
            return None
        meta["candidates_text"] = candidates
        data = {**data, "CandidatesList": parsed}
    elif candidates is not None and not isinstance(candidates, list):
        rec.problem("inquiry candidates are not a list", field=field + ".CandidatesList", expected="a list",
                    found=candidates, file=path)
        return None
    for src_key, key in (("CandidatesList", "candidates"), ("AnswerIndex", "answer_index"),
                         ("PicDescribe", "pic_describe")):
        if data.get(src_key) is not None:
            meta[key] = data[src_key]
    meta.update((k, v) for k, v in data.items() if k not in ("Question", "CandidatesList", "AnswerIndex",
                                                            "PicDescribe"))
    action: dict[str, Any] = {"type": "ask_user", "text": question}
    if meta.get("candidates_text") == json.dumps(meta.get("candidates"), ensure_ascii=False):
        del meta["candidates_text"]   # round-trips as JSON: nothing to keep
    if meta:
        action["meta"] = meta
    return action


def literal_list(text: str) -> Optional[list]:
    """A list of plain scalars from a Python (or JSON) list literal, else None; nothing is executed."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                              for v in value):
        return None
    return value
