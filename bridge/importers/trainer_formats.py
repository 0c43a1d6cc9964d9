"""Trainer datasets back to canonical episodes: TRL, LLaMA-Factory (ShareGPT), ms-swift (messages), verl (parquet)
and VLM-R1 (JSONL) — the formats ``bridge convert`` writes (``docs/backends.md``), or a user's own dataset in one
of them, so that a dataset for one trainer converts to all the others.

Each row is one step: its target text (the assistant turn; verl: ``extra_info.target``) is read back with the
STYLE's parser (``--style``; default: the ``style`` recorded in a ``export.json`` next to the data), its
screenshot is the row's last image (size from the image header), and the goal and step instruction are taken
from the prompt text where the style writes them (:data:`PROMPT_FIELDS`). Rows whose id is
``<episode_id>/<step>`` (what ``bridge convert`` writes) are grouped into episodes in step order (re-indexed
from 0; the original number is kept as ``meta.source_step``); other rows are one-step episodes.

What a trainer row cannot carry is lost: UI elements, a target box the style does not write, the app, the
platform, meta, and every step the style refused at export. :func:`loss_report` counts, per field, what a
round trip canonical → trainer → canonical changed.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from ..errors import BridgeError
from ..styles.base import describe_action
from .base import ImportContext, SourceRecord, image_problem, image_size, iter_json_records, place_file, safe_join

LAYOUT = ("a trainer dataset as `bridge convert` writes it (TRL/ms-swift/LLaMA-Factory/VLM-R1 .jsonl, verl "
          ".parquet), with export.json next to it or --style naming the style its targets are written in")

#: where each style writes the goal and the step instruction in its prompt text (the styles' ``messages``)
PROMPT_FIELDS: dict[str, re.Pattern] = {
    "qwen": re.compile(r"The user query: (?P<instruction>.*?)(?:\nCurrent step query: (?P<low>.*?))?\n"
                       r"Task progress \(You have done", re.S),
    "gui-r1": re.compile(r"continue executing the command '(?P<instruction>.*?)'(?: with the current step "
                         r"instruction '(?P<low>.*?)')?, with the action history being '", re.S),
    "agentcpm": re.compile(r"<Question>(?P<instruction>.*?)</Question>\n(?:当前步骤：(?P<low>.*?)\n)?", re.S),
    "uitars": re.compile(r"## User Instruction\n(?P<instruction>.*?)(?:\nCurrent step: (?P<low>.*?))?\n(?:\s|<image>)*\Z",
                         re.S),
}
_SEED_TASK = '{"task_content": '
_COMPACT_STEP = "\nCurrent step: "
_NOT_DATA = ("export.json", "dataset_info.json")   # bridge convert's record; LLaMA-Factory's dataset registry


def _prompt_family(style: str) -> str:
    return "qwen" if style.startswith("qwen") else style


def prompt_fields(style: str, texts: list[str]) -> tuple[Optional[str], Optional[str]]:
    """(goal, step instruction) in the first of a row's system/user message ``texts`` where the ``style``
    writes them (None where absent)."""
    for text in texts:
        found = _fields_in(style, text)
        if found[0] is not None:
            return found
    return None, None


def _json_value(text: str, key: str) -> Any:
    """The JSON value after ``key`` in ``text`` (the seed prompt's input JSON, split by image blocks)."""
    i = text.find(key)
    if i < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text, i + len(key))[0]
    except json.JSONDecodeError:
        return None


def _fields_in(style: str, text: str) -> tuple[Optional[str], Optional[str]]:
    if style == "seed":   # the input JSON: task_content is its first value
        value = _json_value(text, _SEED_TASK)
        return (value if isinstance(value, str) else None), None
    if style == "compact":   # the first user text is the goal [+ "\nCurrent step: " + step] (styles/compact.py)
        goal, sep, low = text.rpartition(_COMPACT_STEP)
        return (goal, low) if sep else ((text, None) if text else (None, None))
    pattern = PROMPT_FIELDS.get(_prompt_family(style))
    m = pattern.search(text) if pattern is not None else None
    if m is None:
        return None, None
    return m.group("instruction"), m.group("low")


# --------------------------------------------------------------------------------------------- row readers
def _text(content: Any) -> str:
    """The text of a message content: a string, or a list of blocks ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text") or "" for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _messages_row(row: dict, prompt_key: str, target_key: Optional[str]) -> tuple[list[str], Optional[str]]:
    msgs = list(row.get(prompt_key) or [])
    if target_key:
        msgs += list(row.get(target_key) or [])
    prompt = [_text(m.get("content")) for m in msgs if isinstance(m, dict) and m.get("role") in ("system", "user")]
    answers = [_text(m.get("content")) for m in msgs if isinstance(m, dict) and m.get("role") == "assistant"]
    return prompt, (answers[-1] if answers else row.get("target"))


def _row_fields(fmt: str, row: dict) -> tuple[list[str], Optional[str], list]:
    """(prompt message texts, target text, image entries) of one row in trainer format ``fmt``."""
    if fmt == "trl":
        prompt, target = _messages_row(row, "prompt", "completion")
        if not row.get("completion"):
            target = row.get("target")
        return prompt, target, list(row.get("images") or [])
    if fmt in ("llamafactory", "swift"):
        prompt, target = _messages_row(row, "messages", None)
        return prompt, target, list(row.get("images") or [])
    if fmt == "verl":
        prompt, _ = _messages_row(row, "prompt", None)
        extra = row.get("extra_info") if isinstance(row.get("extra_info"), dict) else {}
        return prompt, extra.get("target"), list(row.get("images") or [])
    # vlmr1: {"image": [...], "conversations": [{"from": "human"|"gpt", "value": ...}]}
    conv = [c for c in row.get("conversations") or [] if isinstance(c, dict)]
    prompt = [str(c.get("value") or "") for c in conv if c.get("from") in ("system", "human")]
    answers = [str(c.get("value") or "") for c in conv if c.get("from") == "gpt"]
    images = row.get("image")
    return prompt, (answers[-1] if answers else None), (images if isinstance(images, list) else [images])


def _rows(fmt: str, file: str) -> Iterator[tuple[Optional[int], Any, Optional[str]]]:
    if fmt == "verl" or file.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(file)
        except Exception as e:   # pyarrow raises several types for corrupt / non-parquet files
            yield None, None, f"not a readable parquet file ({e})"
            return
        for i, row in enumerate(table.to_pylist()):
            yield i, row, None
        return
    yield from iter_json_records(file)


# ---------------------------------------------------------------------------------------------------- import
def _export_meta(folder: str) -> dict:
    try:
        with open(os.path.join(folder, "export.json"), encoding="utf-8") as fh:
            meta = json.load(fh).get("meta") or {}
        return meta if isinstance(meta, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _style_for(ctx: ImportContext, meta: dict):
    from ..styles import get_style
    from ..styles.base import PromptOptions

    name = ctx.style or meta.get("style")
    if not name:
        raise BridgeError("which style are the targets written in? no export.json names one",
                          hint="give --style (e.g. qwen25vl, gui-r1, agentcpm, uitars, seed)")
    bounds = meta.get("frame") or meta.get("pixels") or {}
    lo = ctx.min_pixels or (bounds.get("min_pixels") if isinstance(bounds, dict) else None)
    hi = ctx.max_pixels or (bounds.get("max_pixels") if isinstance(bounds, dict) else None)
    return get_style(name, PromptOptions(min_pixels=lo, max_pixels=hi))


def _image_path(entry: Any, folder: str) -> Optional[str]:
    if isinstance(entry, dict):   # verl: {"image": path, "min_pixels": ..., "max_pixels": ...}
        entry = entry.get("image") or entry.get("path")
    if not isinstance(entry, str) or not entry:
        return None
    return entry if os.path.isabs(entry) else safe_join(folder, entry)


def records_for(fmt: str):
    def records(src: Path, ctx: ImportContext) -> Iterator[SourceRecord]:
        suffixes = (".parquet",) if fmt == "verl" else (".jsonl", ".json")
        files = [str(src)] if src.is_file() else sorted(
            str(p) for p in src.rglob("*") if p.suffix in suffixes and p.name not in _NOT_DATA)
        if not files:
            raise BridgeError(f"{src}: no {fmt} data files ({', '.join(suffixes)}) found", hint=f"Expected: {LAYOUT}")
        folder = os.path.dirname(os.path.abspath(files[0]))
        meta = _export_meta(folder)
        style = _style_for(ctx, meta)
        image_folder = meta.get("image_folder") if isinstance(meta.get("image_folder"), str) else folder
        base = ctx.image_base(image_folder)
        ctx.note(f"read back with style {style.name}; a trainer row does not carry UI elements, the app, the "
                 "platform, meta or a box the style does not write (see bridge.importers.trainer_formats"
                 ".loss_report)")
        episodes: dict[str, list] = {}
        for file in files:
            for line, row, error in _rows(fmt, file):
                rec = SourceRecord(file=file, line=line, record=f"#{line}")
                if error is not None or not isinstance(row, dict):
                    rec.problem(error or "row is not an object", expected=f"a {fmt} row")
                    yield rec
                    continue
                rid = row.get("id")
                if rid is None and isinstance(row.get("extra_info"), dict):   # verl keeps it in extra_info
                    rid = row["extra_info"].get("id")
                eid, number = _split_id(rid, file, line)
                episodes.setdefault(eid, []).append((number, file, line, row))
        for eid, rows in episodes.items():
            yield _episode(fmt, eid, sorted(rows, key=lambda r: r[0]), style, image_folder, base)
    return records


def _split_id(rid: Any, file: str, line: Optional[int]) -> tuple[str, int]:
    if isinstance(rid, str) and "/" in rid:
        eid, _, n = rid.rpartition("/")
        if n.isdigit():
            return eid, int(n)
    return (str(rid) if rid not in (None, "") else f"{Path(file).stem}-{line}"), 0


def _episode(fmt: str, eid: str, rows: list, style, folder: str, base) -> SourceRecord:
    file, line = rows[0][1], rows[0][2]
    rec = SourceRecord(file=file, line=line, record=eid, step_locs=[])
    steps, goal, app = [], None, None
    for number, file_, line_, row in rows:
        rec.step_locs.append((file_, line_))
        prompt, target, images = _row_fields(fmt, row)
        path = _image_path(images[-1], folder) if images else None
        if path is None:
            rec.problem("row has no usable image", field="images", expected="an image path", found=images,
                        file=file_, line=line_)
            continue
        try:
            w, h = image_size(path)
        except BridgeError as e:
            image_problem(rec, path, e, "images", file=file_, line=line_)
            continue
        if not isinstance(target, str) or not target:
            rec.problem("row has no target text", field="assistant", expected="the target the style wrote",
                        file=file_, line=line_)
            continue
        parsed = style.parse_action(target, w, h)
        if not parsed.ok:
            rec.problem(f"target does not parse as {style.name}: {parsed.error}", field="assistant",
                        expected=f"a {style.name} target", found=target[:120], file=file_, line=line_)
            continue
        instruction, low = prompt_fields(style.name, prompt)
        if instruction is None:
            rec.problem(f"no goal found in the prompt (where the {style.name} style writes it)", field="prompt",
                        expected=f"a {style.name} prompt", found=" | ".join(prompt)[:120], file=file_,
                        line=line_)
            continue
        if style.name == "seed":   # the step instruction is the target's action_description, the app in the input
            desc = parsed.fields.get("description")
            low = desc if desc and desc != describe_action(parsed.action) else None
            app = next((a for a in (_json_value(t, '"app_name": ') for t in prompt) if isinstance(a, str)), None)
            app = app or None
        goal = goal if goal is not None else instruction
        step: dict[str, Any] = {"index": len(steps), "screenshot": place_file(rec, path, base), "width": w,
                                "height": h, "action": _action_dict(parsed.action)}
        if low:
            step["low_instruction"] = low
        if parsed.thought:
            step["thought"] = parsed.thought
        step["meta"] = {"source_step": number}
        steps.append(step)
    if not rec.problems:
        rec.episode = {"episode_id": eid, "instruction": goal, "steps": steps, **({"app": app} if app else {})}
    return rec


def _action_dict(action) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in action.model_dump(exclude_none=True).items()
            if not (k == "meta" and not v)}


# ------------------------------------------------------------------------------------------------ round trip
STEP_FIELDS = ("low_instruction", "thought", "width", "height")
ACTION_FIELDS = ("type", "point", "end_point", "bbox", "direction", "text", "app", "key", "status", "duration_ms")


def loss_report(original: Iterable, reimported: Iterable, style) -> Counter:
    """What a round trip changed, per field: ``Counter(field -> count)`` over episodes (``instruction``, ``app``,
    ``platform`` other than the default android, ``episode``: missing), steps (``refused``: a step the style
    cannot say; ``step``: missing otherwise; ``elements``; step fields) and actions (``action.<field>`` against
    ``style.normalize`` of the original, i.e. what the style can say). What the style never writes counts under
    ``unsaid.<field>`` (a box, a duration, a thought without ``think``). Coordinates agree within the frame's
    tolerance. No key other than ``unsaid.*``, ``refused``, ``elements``, ``app``, ``platform``: lossless for
    what the style expresses."""
    from ..styles.base import Unsupported

    back = {e.episode_id: e for e in reimported}
    out: Counter = Counter()
    for ep in original:
        got = back.get(ep.episode_id)
        if got is None:
            out["episode"] += 1
            continue
        for f in ("instruction", "app", "platform"):
            if getattr(ep, f) != getattr(got, f) and not (f == "platform" and ep.platform == "android"):
                out[f] += 1
        by_number = {s.meta.get("source_step", s.index): s for s in got.steps}
        for s in ep.steps:
            g = by_number.get(s.index)
            if g is None:
                try:
                    style.normalize(s.action, s.width, s.height)
                    out["step"] += 1
                except Unsupported:
                    out["refused"] += 1   # the style cannot say it: the export refused the step
                continue
            for f in STEP_FIELDS:
                if getattr(s, f) != getattr(g, f):
                    unsaid = f == "thought" and not style.options.think   # targets carry no thought
                    out[("unsaid." if unsaid else "") + f] += 1
            if s.elements:
                out["elements"] += 1
            want = style.normalize(s.action, s.width, s.height)
            tol = style.frame().tolerance(s.width, s.height) + 1e-6
            for f in ACTION_FIELDS:
                a, b = getattr(want, f), getattr(g.action, f)
                if not _same(a, b, tol):
                    out[f"action.{f}"] += 1
                elif getattr(s.action, f) is not None and a is None:
                    out[f"unsaid.{f}"] += 1
    return out


def _same(a, b, tol: float) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return all(math.isclose(x, y, abs_tol=tol) for x, y in zip(a, b))
    return a == b


records_trl, records_llamafactory, records_swift, records_verl, records_vlmr1 = (
    records_for(f) for f in ("trl", "llamafactory", "swift", "verl", "vlmr1"))
