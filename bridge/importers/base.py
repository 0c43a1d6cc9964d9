"""What every importer shares: the source-record contract, the import driver, streaming JSON readers and
image-size probes.

An importer is a generator ``records(src, ctx)`` yielding, per *source record* (an episode folder, a JSONL
line, a parquet row, ...), a :class:`Task` that converts it into a :class:`SourceRecord` — or a ready
SourceRecord for a record already known to be bad. A SourceRecord carries the canonical episode as a plain
dict (validated once per episode, much cheaper than building pydantic models per step), the images to place in
the dataset, and every located :class:`~bridge.errors.Problem` found while reading it.

Images: an importer asks ``ctx.image_base(DIR)`` once for the directory its source images live under and
stores each image file through :func:`place_file`, which returns the path the step holds — in ``ref`` mode
(the default) the file's path relative to DIR, referenced in place (DIR becomes the dataset's
``image_root``; nothing is linked or copied); otherwise ``images/<rel>``, queued for placement in the dataset.
Encoded image bytes are always written into the dataset's ``images/``.

:func:`run_import` runs the tasks and validates each episode (``Episode.model_validate`` +
``bridge.validate.check_episode``), writes the good ones through a :class:`~bridge.dataset.DatasetWriter` and
either fails with *all* problems (nothing is left at OUT) or, with ``skip_invalid``, writes
``OUT/rejects.jsonl``. Tasks are a module-level function plus picklable arguments so that, past the first
records, conversion and checks run in worker processes while the importing process only places images and
appends lines — in source order, with a bounded number of records in flight (memory stays flat).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

from pydantic_core import from_json as _from_json
from pydantic_core import to_json as _to_json

from pydantic import ValidationError

from ..dataset import IMAGES_DIR, in_dataset, reference_path, validation_problems
from ..errors import BridgeError, Problem
from ..images import header as _header
from ..schema import Episode
from ..validate import check_episode  # loaded here, before worker processes fork, not once per worker

REJECTS_FILE = "rejects.jsonl"

ImageSource = Union[str, bytes]   # a source file path, or encoded image bytes to write into images/


@dataclass
class SourceRecord:
    """One source record converted to a canonical episode (``episode``) or rejected (``problems``).

    ``images``: ``(rel, source)`` pairs to place in the dataset — ``rel`` is the path under its ``images/``
    directory (the episode already refers to it as ``images/<rel>``), ``source`` a file to link/copy or bytes
    to write. Images referenced in place (``ref`` mode) are not listed; ``refs`` says there are some.
    ``step_locs``: per step, the ``(file, line)`` it came from, so that problems found later in the
    canonical episode (``steps[3].action.point``) are reported at the source step, not just the record.
    """

    file: str
    record: Optional[str] = None
    line: Optional[int] = None
    episode: Optional[dict[str, Any]] = None
    images: list[tuple[str, ImageSource]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    step_locs: Optional[list[tuple[str, Optional[int]]]] = None
    refs: bool = False  # some image is referenced in place (relative to the ImageBase root)
    #: ``episode`` is already canonical — keys in the schema's field order, no None values, no empty meta or
    #: extra_images, floats where the schema has floats, ``source`` present — so the validated dict itself
    #: serialises to the canonical line (cheaper than dumping the model). Only importers that guarantee it set it.
    canonical: bool = False

    def problem(self, message: str, field: Optional[str] = None, expected: Optional[str] = None,
                found: Any = None, file: Optional[str] = None, line: Optional[int] = None) -> None:
        """Record a located problem of this record (``file``/``line`` default to the record's own)."""
        self.problems.append(Problem(file or self.file, message, line=line if line is not None else self.line,
                                     record=self.record, field=field, expected=expected, found=found))


@dataclass(frozen=True)
class ImageBase:
    """Where an importer's source images live (``root``, absolute) and whether they are referenced there
    (``ref``) or placed in the dataset. Picklable: importers pass it to their tasks."""

    root: str
    ref: bool

    def __reduce__(self):
        return ImageBase, (self.root, self.ref)


@dataclass
class ImportContext:
    """Per-run state handed to importers: the image mode, notes for the user."""

    notes: list[str] = field(default_factory=list)
    images: str = "ref"
    image_root: Optional[str] = None
    #: trainer-format importers: the style the targets are written in and its processor bounds
    style: Optional[str] = None
    min_pixels: Optional[int] = None
    max_pixels: Optional[int] = None
    #: How many records the source holds, when the importer knows before yielding the first one (lets the
    #: driver start worker processes at once for large sources).
    expected: Optional[int] = None

    def note(self, text: str) -> None:
        """A remark for the user (printed after the import), e.g. entries that were not recognised."""
        self.notes.append(text)

    def image_base(self, path: Union[str, os.PathLike]) -> ImageBase:
        """The :class:`ImageBase` for source images under ``path`` (call once per import: a dataset has one
        image root)."""
        root = os.path.abspath(path)
        if self.image_root is not None and self.image_root != root:
            raise BridgeError(f"internal: two image roots in one import ({self.image_root}, {root})")
        self.image_root = root
        return ImageBase(root, self.images == "ref")


@dataclass
class ImportReport:
    """What an import did (returned by :func:`run_import`, printed by ``bridge import``)."""

    out: Path
    episodes: int = 0
    steps: int = 0
    rejected: int = 0
    problems: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rejects_path(self) -> Optional[Path]:
        return self.out / REJECTS_FILE if self.rejected else None


# --------------------------------------------------------------------------------------------------- images

def image_size(path: str) -> tuple[int, int]:
    """(width, height) from the file header after the truncation check; raises ``BridgeError`` (an
    :class:`~bridge.images.ImageError`) for missing/non-image/truncated files."""
    _, w, h, _ = _header(path)
    return w, h


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"))


def bytes_image_info(data: bytes) -> tuple[str, int, int]:
    """(extension, width, height) of encoded image bytes, from the header only (PIL's lazy open)."""
    import io

    from PIL import Image, UnidentifiedImageError

    ext = next((e for magic, e in _MAGIC if data.startswith(magic)), None)
    if ext is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        ext = "webp"
    if ext is None:
        raise BridgeError("not an encoded PNG/JPEG/GIF/BMP/WebP image")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise BridgeError(f"unreadable {ext} bytes ({e})") from None
    return ext, w, h


def image_problem(rec: SourceRecord, path: str, err: BridgeError, field: str,
                  file: Optional[str] = None, line: Optional[int] = None) -> None:
    rec.problem(f"screenshot {err.message}", field=field, expected="a readable image file", found=path,
                file=file, line=line)


def rel_image_path(path: str, base: str) -> str:
    """A source image's path relative to ``base`` when inside it, else ``abs/<absolute path>`` (where it goes
    under ``images/`` when placed: one file per source image, shared by every step that uses it)."""
    ap = os.path.abspath(path)
    rel = os.path.relpath(ap, base)
    if rel.startswith(".." + os.sep) or rel == ".." or os.path.isabs(rel):
        rel = "abs/" + ap.lstrip("/\\").replace(":", "")
    return rel.replace(os.sep, "/")


def place_file(rec: SourceRecord, full: str, base: ImageBase, rel: Optional[str] = None,
               placed: Optional[str] = None) -> str:
    """Store the source image file ``full`` for ``rec`` and return the path its step holds.

    ``ref`` mode: ``full``'s path relative to ``base.root`` (referenced in place) when it lies inside it and not
    under an ``images/`` folder there (that name is reserved for the dataset's own images). Otherwise the file is
    queued for placement at ``images/<placed>`` (default: ``rel``, else :func:`rel_image_path`). ``rel``, when
    given, must be ``full``'s normalised POSIX path relative to ``base.root`` (a fast path for importers that
    know it).
    """
    if base.ref:
        ref = reference_path(base.root, full) if rel is None else (None if in_dataset(rel) else rel)
        if ref is not None:
            rec.refs = True
            return ref
    name = placed or rel or rel_image_path(full, base.root)
    rec.images.append((name, full))
    return f"{IMAGES_DIR}/{name}"


def safe_join(base: str, name: str) -> Optional[str]:
    """``base/name`` for a relative ``name`` that stays inside ``base`` (None when it escapes or is absolute)."""
    norm = os.path.normpath(name)
    if os.path.isabs(norm) or norm == ".." or norm.startswith(".." + os.sep):
        return None
    return os.path.join(base, norm)


# --------------------------------------------------------------------------------------------- JSON reading

def read_json(path: str, *, dir_fd: Optional[int] = None) -> Any:
    """Load a whole JSON file (small per-step / per-episode files); raises JSONDecodeError/OSError.
    Raw ``os.read`` into one buffer: a third cheaper than ``open().read()`` for the typical 1-2 KB step file.
    ``dir_fd``: ``path`` is relative to this open directory."""
    fd = os.open(path, os.O_RDONLY) if dir_fd is None else os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        data = os.read(fd, 1 << 16)
        if len(data) == 1 << 16:  # larger file: read the rest
            chunks = [data]
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            data = b"".join(chunks)
    finally:
        os.close(fd)
    return loads(data)


def loads(data: Union[bytes, str]) -> Any:
    """``json.loads``, about three times faster: pydantic-core's JSON parser first, and anything it rejects
    (invalid JSON, a BOM, UTF-16, lone surrogate escapes) goes to ``json.loads`` — so values and error
    messages (``json.JSONDecodeError``) are exactly json's."""
    try:
        return _from_json(data)
    except ValueError:
        try:
            return json.loads(data)
        except RecursionError:  # a JSON bomb nested 100k deep: an error of the file, not a crash
            raise json.JSONDecodeError("nested too deeply to read", "", 0) from None


def json_error(rec: SourceRecord, err: json.JSONDecodeError, file: Optional[str] = None,
               line_offset: int = 0) -> None:
    rec.problem(f"not valid JSON: {err.msg} (column {err.colno})", expected="valid JSON", file=file,
                line=line_offset + err.lineno)


_WS = re.compile(r"[ \t\n\r]*")


def iter_json_values(path: str, chunk_size: int = 1 << 20) -> Iterator[tuple[int, Any, Optional[str]]]:
    """Stream the elements of a top-level JSON array as ``(line, value, None)`` without loading the file; a
    top-level object is yielded as a single value. A syntax error yields ``(line, None, message)`` and stops
    (a JSON array cannot be re-synchronised after a broken element)."""
    decoder = json.JSONDecoder()
    with open(path, "r", encoding="utf-8") as fh:
        buf, pos, line, eof = "", 0, 1, False

        def more() -> bool:
            nonlocal buf, pos, eof
            if eof:
                return False
            data = fh.read(chunk_size)
            if not data:
                eof = True
                return False
            buf, pos = buf[pos:] + data, 0
            return True

        def skip_ws() -> None:
            nonlocal pos, line
            while True:
                end = _WS.match(buf, pos).end()
                line += buf.count("\n", pos, end)
                pos = end
                if pos < len(buf) or not more():
                    return

        skip_ws()
        if pos >= len(buf):
            return
        if buf[pos] != "[":
            rest = buf[pos:] + fh.read()
            try:
                yield line, json.loads(rest), None
            except json.JSONDecodeError as e:
                yield line + e.lineno - 1, None, f"not valid JSON: {e.msg} (column {e.colno})"
            return
        pos += 1
        first = True
        while True:
            skip_ws()
            if pos >= len(buf):
                yield line, None, "not valid JSON: unterminated array (expected ']')"
                return
            if buf[pos] == "]":
                return
            if not first:
                if buf[pos] != ",":
                    yield line, None, f"not valid JSON: expected ',' or ']' between elements, found {buf[pos]!r}"
                    return
                pos += 1
                skip_ws()
            first = False
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as e:
                    if not more():  # a genuine error (the element is complete in the buffer or the file ended)
                        yield line + buf.count("\n", pos, e.pos), None, f"not valid JSON: {e.msg}"
                        return
            yield line, value, None
            line += buf.count("\n", pos, end)
            pos = end


def iter_json_records(path: str) -> Iterator[tuple[int, Any, Optional[str]]]:
    """``(line, value, error)`` for each record of a ``.jsonl`` file (one per non-blank line) or a ``.json``
    file (array elements, or the single top-level object)."""
    if path.endswith(".jsonl"):
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    yield lineno, loads(raw), None
                except json.JSONDecodeError as e:
                    yield lineno, None, f"not valid JSON: {e.msg} (column {e.colno})"
                except UnicodeDecodeError:
                    yield lineno, None, "not valid UTF-8"
    else:
        yield from iter_json_values(path)


def json_files(src: Path, what: str, suffixes: tuple[str, ...] = (".json", ".jsonl")) -> list[str]:
    """``src`` itself if it is a file, else the JSON/JSONL files under it (recursively, sorted)."""
    if src.is_file():
        return [str(src)]
    if not src.is_dir():
        raise BridgeError(f"{src}: no such file or directory")
    files = sorted(str(p) for p in src.rglob("*") if p.suffix in suffixes and p.is_file())
    if not files:
        raise BridgeError(f"{src}: no {'/'.join(suffixes)} files with {what} found")
    return files


# ------------------------------------------------------------------------------------------ small helpers

def num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def scalar(v: Any) -> Any:
    """Unwrap one-element lists (TFRecord features exported as JSON are lists even for scalars)."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


@dataclass(frozen=True)
class Task:
    """A deferred conversion of one source record: ``fn(*args) -> SourceRecord``. Importers yield tasks (or
    ready SourceRecords for records already known to be bad) so the driver may run them in worker processes;
    ``fn`` must therefore be a module-level function and ``args`` picklable."""

    fn: Callable[..., SourceRecord]
    file: str
    record: Optional[str]
    line: Optional[int]
    args: tuple

    def __reduce__(self):  # plain positional pickling: tasks cross the process boundary once per record
        return Task, (self.fn, self.file, self.record, self.line, self.args)

    def run(self) -> SourceRecord:
        """Convert; an unexpected shape (a bug-prone corner of real data) becomes a located problem of this
        record instead of a traceback that would abort the whole import."""
        try:
            return self.fn(*self.args)
        except BridgeError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError) as e:
            rec = SourceRecord(file=self.file, record=self.record, line=self.line)
            rec.problem(f"malformed record ({type(e).__name__}: {e})")
            return rec


def task(fn: Callable[..., SourceRecord], file: str, record: Optional[str], line: Optional[int], *args: Any) -> Task:
    """``Task(fn, file, record, line, args)``: ``file``/``record``/``line`` locate the record if ``fn`` fails."""
    return Task(fn, file, record, line, args)


_STEP_FIELD = re.compile(r"^steps\[(\d+)\]")


def relocate(problems: list[Problem], rec: SourceRecord) -> list[Problem]:
    """Point problems about ``steps[i]...`` of the canonical episode at the source file/line of step i."""
    if not rec.step_locs:
        return problems
    out = []
    for p in problems:
        m = _STEP_FIELD.match(p.field or "")
        if m and int(m.group(1)) < len(rec.step_locs):
            file, line = rec.step_locs[int(m.group(1))]
            p = replace(p, file=file, line=line, record=p.record or rec.record)
        out.append(p)
    return out


# ----------------------------------------------------------------------------------------------- the driver

#: Records converted in the importing process before worker processes are started (small imports — tests,
#: samples — never pay for a pool).
INLINE_RECORDS = 64


@dataclass
class _Result:
    """A converted and checked record, as sent back by a worker: the canonical JSON line or the problems."""

    file: str
    record: Optional[str]
    line: Optional[int]
    episode_id: Optional[str] = None
    json_line: Optional[bytes] = None
    steps: int = 0
    images: list[tuple[str, ImageSource]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    refs: bool = False

    def __reduce__(self):  # plain positional pickling: results cross the process boundary once per record
        return _Result, (self.file, self.record, self.line, self.episode_id, self.json_line, self.steps,
                         self.images, self.problems, self.refs)


def _process(item: Union[Task, SourceRecord], source: str, split: Optional[str], platform: Optional[str],
             ref: bool) -> _Result:
    """Convert one record and run every per-episode check: types (pydantic, once per episode) then
    ``bridge.validate.check_episode`` (images were already probed by the importer)."""
    rec = item.run() if isinstance(item, Task) else item
    res = _Result(rec.file, rec.record, rec.line)
    if rec.problems:
        res.problems = rec.problems
        return res
    ep = rec.episode
    if ep is None:
        res.problems = [Problem(rec.file, "record produced no episode", line=rec.line, record=rec.record)]
        return res
    # A canonical dict stays canonical only if nothing is appended out of field order below.
    canonical = rec.canonical and "source" in ep and split is None and (platform is None or "platform" in ep)
    ep["source"] = source
    if split is not None:
        ep["split"] = split
    if platform is not None:
        ep["platform"] = platform
    try:
        episode = Episode.model_validate(ep)
    except ValidationError as e:
        res.problems = relocate(validation_problems(e, rec.file, rec.line, rec.record), rec)
        return res
    # Paths are checked, files not opened (the importer probed them); ``ref``: paths outside images/ are
    # relative to the image root (messages say so).
    problems = check_episode(episode, _NO_ROOT if ref else "", file=rec.file, line=rec.line, check_images=False)
    if problems:
        res.problems = relocate(problems, rec)
        return res
    if canonical:
        line = _to_json(ep, inf_nan_mode="null")  # NaN/inf in meta become null, as the model serialiser does
    else:
        line = episode.to_json_bytes()
    res.episode_id, res.json_line, res.steps, res.images, res.refs = (
        episode.episode_id, line, len(episode.steps), rec.images, rec.refs)
    return res


def _NO_ROOT(rel: str) -> str:  # check_images=False: paths are checked, never opened
    raise AssertionError("image opened with check_images=False")


def run_import(fmt: str, src: Union[str, os.PathLike], out: Union[str, os.PathLike], *, skip_invalid: bool = False,
               overwrite: bool = False, images: str = "ref", split: Optional[str] = None,
               platform: Optional[str] = None, jobs: Optional[int] = None, style: Optional[str] = None,
               min_pixels: Optional[int] = None, max_pixels: Optional[int] = None) -> ImportReport:
    """Import ``src`` (a source in format ``fmt``) into the canonical dataset ``out``.

    Every source record is converted, validated (types, then ``bridge.validate.check_episode``) and written.
    Without ``skip_invalid`` any problem raises :class:`BridgeError` listing *all* problems, and nothing is left
    at ``out`` (an existing ``out`` replaced with ``overwrite`` survives too). With ``skip_invalid`` the valid
    episodes are written and each rejected record goes to ``out/rejects.jsonl`` with its problems.
    ``images``: ``ref`` (default: source image files are referenced in place — the manifest's ``image_root`` —
    and never copied), ``link``, ``symlink`` or ``copy`` (a self-contained dataset); encoded image bytes are
    always written into the dataset. ``jobs``: worker processes for large sources (default
    :func:`default_jobs`; 1 = all in this process). ``style``, ``min_pixels``, ``max_pixels``: for the trainer
    formats (``trl``, ``llamafactory``, ``swift``, ``verl``, ``vlmr1``), the style the targets are written in and
    its processor bounds (default: what an ``export.json`` next to the data records).
    """
    import functools
    import itertools

    from ..dataset import IMAGE_MODES, DatasetWriter, default_jobs, ordered_map
    from ..progress import iterate
    from . import get_importer

    if images not in IMAGE_MODES:
        raise BridgeError(f"unknown image mode {images!r} (expected {', '.join(IMAGE_MODES)})")
    importer = get_importer(fmt)
    src = Path(src)
    if not src.exists():
        raise BridgeError(f"{src}: no such file or directory")
    ctx = ImportContext(images=images, style=style, min_pixels=min_pixels, max_pixels=max_pixels)
    report = ImportReport(out=Path(out))
    all_problems: list[Problem] = []
    seen_ids: dict[str, tuple[str, Optional[int]]] = {}  # id -> where first seen (grows with episodes only)
    seen_records = 0
    referenced = False
    # The importer decides what is referenced (in its tasks); whatever it queues is placed, by link in ref mode.
    writer = DatasetWriter(out, source=importer.name, overwrite=overwrite, images="link" if images == "ref" else images,
                           meta={"importer": importer.name, "source_path": str(src.absolute())})
    with writer:
        proc = functools.partial(_process, source=importer.name, split=split, platform=platform,
                                 ref=images == "ref")
        rejects = None
        items = iter(importer.records(src, ctx))
        first = next(items, None)  # runs the importer up to its first record: ctx.expected may now be known
        items = itertools.chain([first], items) if first is not None else iter(())
        # Small sources never pay for worker processes; a large one known in advance uses them from the start.
        inline = 0 if ctx.expected is not None and ctx.expected > INLINE_RECORDS else INLINE_RECORDS
        for res in iterate(ordered_map(proc, items, default_jobs() if jobs is None else jobs, inline=inline,
                                       chunksize=8), ctx.expected, f"import {importer.name}", "record"):
            seen_records += 1
            problems = res.problems
            if not problems:
                first = seen_ids.get(res.episode_id)
                if first is not None:
                    where = first[0] + (f":{first[1]}" if first[1] else "")
                    problems = [Problem(res.file, "duplicate episode id", line=res.line, record=res.record,
                                        field="episode_id", expected=f"ids unique in the source (first at {where})",
                                        found=res.episode_id)]
                else:
                    seen_ids[res.episode_id] = (res.file, res.line)
            if problems:
                report.rejected += 1
                report.problems += len(problems)
                if skip_invalid:
                    if rejects is None:
                        rejects = open(writer.tmp / REJECTS_FILE, "w", encoding="utf-8")
                    rejects.write(json.dumps({"file": res.file, "record": res.record, "line": res.line,
                                              "problems": [p.to_dict() for p in problems]},
                                             ensure_ascii=False, default=str) + "\n")
                else:
                    all_problems.extend(problems)
                continue
            if all_problems:  # the import fails anyway: keep checking, stop writing
                continue
            for rel, source in res.images:
                if isinstance(source, bytes):
                    writer.add_image_bytes(source, rel)
                else:
                    writer.add_image(source, rel)
            if res.refs and not referenced:
                writer.note_reference(ctx.image_root)
                referenced = True
            writer.write_line(res.json_line, res.steps)
            report.episodes += 1
            report.steps += res.steps
        if rejects is not None:
            rejects.close()
        report.notes = ctx.notes
        if all_problems:
            raise BridgeError(
                f"{src}: {report.rejected} invalid source record(s) ({len(all_problems)} problem(s)); "
                f"nothing was written to {out}", all_problems,
                hint="Fix the source, or pass --skip-invalid to import the valid records and list the rejected "
                     f"ones in {Path(out) / REJECTS_FILE}.")
        if seen_records == 0:
            raise BridgeError(f"{src}: no {importer.name} records found", hint=f"Expected: {importer.layout}")
    return report
