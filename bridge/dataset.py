"""A canonical dataset on disk, streamed.

Layout (documented in docs/format.md)::

    DATASET/
      manifest.json     format name + version, source, counts
      episodes.jsonl    one Episode per line (JSON Lines: streamable, appendable, diffable)
      images/...        screenshots; Step.screenshot paths are POSIX paths relative to DATASET/

Reading never loads the whole file; writing goes to a sibling temporary directory that is renamed into
place only when the writer closes cleanly, so a failed import leaves nothing partial behind.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from pydantic import ValidationError

from .errors import BridgeError, Problem
from .schema import FORMAT_NAME, FORMAT_VERSION, Episode, Manifest

EPISODES_FILE = "episodes.jsonl"
MANIFEST_FILE = "manifest.json"
IMAGES_DIR = "images"

PathLike = Union[str, os.PathLike]


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(err: ValidationError, file: str, line: Optional[int] = None,
                        record: Optional[str] = None, prefix: str = "") -> list[Problem]:
    """Turn a pydantic error into located problems, one per failing field."""
    out = []
    for e in err.errors():
        field = _loc(tuple(e.get("loc", ())))
        if prefix:
            field = prefix + ("." + field if field and not field.startswith("[") else field)
        found = e.get("input") if e.get("type") != "missing" else None
        msg = "missing required field" if e.get("type") == "missing" else (
            "unknown field" if e.get("type") == "extra_forbidden" else e.get("msg", "invalid"))
        out.append(Problem(file=file, line=line, record=record, field=field or None, message=msg,
                           expected=_expected(e), found=found))
    return out


def _expected(e: dict) -> Optional[str]:
    ctx = e.get("ctx") or {}
    if "expected" in ctx:
        return str(ctx["expected"])
    t = e.get("type", "")
    for key, word in (("int", "an integer"), ("float", "a number"), ("string", "a string"), ("bool", "a boolean"),
                      ("list", "a list"), ("tuple", "a list of fixed length"), ("dict", "an object")):
        if t.startswith(key):
            return word
    return None


class Dataset:
    """A canonical dataset directory. Iterating yields :class:`Episode` objects, streamed from disk."""

    def __init__(self, root: PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BridgeError(f"{self.root}: not a dataset directory (it does not exist or is a file)")
        self.episodes_path = self.root / EPISODES_FILE
        if not self.episodes_path.is_file():
            raise BridgeError(f"{self.root}: no {EPISODES_FILE} — is this a gui-bridge dataset? "
                              f"Create one with `bridge import` or `bridge synth`.")
        self.manifest = self._read_manifest()

    def _read_manifest(self) -> Manifest:
        path = self.root / MANIFEST_FILE
        if not path.is_file():
            raise BridgeError(f"{path}: missing manifest (a dataset needs {MANIFEST_FILE} with its format version)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise BridgeError(f"{path}: unreadable manifest: {e}") from None
        if isinstance(data, dict) and data.get("format") == FORMAT_NAME and data.get("version", 0) > FORMAT_VERSION:
            raise BridgeError(f"{path}: dataset format version {data['version']} is newer than this gui-bridge "
                              f"understands ({FORMAT_VERSION}); upgrade gui-bridge")
        try:
            return Manifest.model_validate(data)
        except ValidationError as e:
            raise BridgeError(f"{path}: invalid manifest", validation_problems(e, str(path))) from None

    def records(self) -> Iterator[tuple[int, Optional[Episode], list[Problem]]]:
        """Yield ``(line_number, episode_or_None, problems)`` for every non-blank line; never raises on bad data."""
        name = str(self.episodes_path)
        with open(self.episodes_path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    yield lineno, Episode.model_validate_json(raw), []
                except ValidationError as e:
                    record = _peek_id(raw)
                    if any(err.get("type") == "json_invalid" for err in e.errors()):
                        yield lineno, None, [Problem(name, "not valid JSON", line=lineno, record=record,
                                                     expected="one JSON object per line")]
                    else:
                        yield lineno, None, validation_problems(e, name, lineno, record)

    def __iter__(self) -> Iterator[Episode]:
        for _, episode, problems in self.records():
            if problems:
                raise BridgeError(f"{self.root}: invalid record (run `bridge validate {self.root}` for all problems)",
                                  problems)
            yield episode

    def image_path(self, rel: str) -> Path:
        """Absolute path of an image referenced by a step (paths are relative to the dataset root)."""
        return (self.root / rel).absolute()

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, episodes={self.manifest.episodes}, steps={self.manifest.steps})"


def _peek_id(raw: bytes) -> Optional[str]:
    try:
        value = json.loads(raw).get("episode_id")
        return str(value) if value is not None else None
    except Exception:  # garbage line: no id to report
        return None


def open_dataset(path: PathLike) -> Dataset:
    """Open a canonical dataset directory for streaming (``for episode in open_dataset(p): ...``)."""
    return Dataset(path)


class DatasetWriter:
    """Write a dataset atomically: episodes and images go to ``OUT.partial-*`` which is renamed to ``OUT``
    on a clean exit and removed on any exception.

    ``images``: ``"link"`` (hard link, falling back to a symlink across file systems — zero-copy, the
    default), ``"symlink"`` or ``"copy"``.
    """

    def __init__(self, out: PathLike, source: str = "unknown", overwrite: bool = False, images: str = "link",
                 meta: Optional[dict[str, Any]] = None):
        if images not in ("link", "symlink", "copy"):
            raise BridgeError(f"unknown image mode {images!r} (expected link, symlink or copy)")
        self.out = Path(out)
        if self.out.exists() and not overwrite and (not self.out.is_dir() or any(self.out.iterdir())):
            raise BridgeError(f"{self.out}: already exists and is not empty (use --overwrite to replace it)")
        self.tmp = self.out.with_name(f"{self.out.name}.partial-{os.getpid()}")
        self.images_mode = images
        self.manifest = Manifest(source=source, meta=meta or {})
        self._fh = None
        self._seen_images: set[str] = set()

    def __enter__(self) -> "DatasetWriter":
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        (self.tmp / IMAGES_DIR).mkdir(parents=True)
        self._fh = open(self.tmp / EPISODES_FILE, "w", encoding="utf-8")
        return self

    def add_image(self, src: PathLike, rel: str) -> str:
        """Place ``src`` at ``images/<rel>`` inside the dataset and return the step-relative path to store."""
        rel_path = f"{IMAGES_DIR}/{rel}"
        if rel_path in self._seen_images:
            return rel_path
        dst = self.tmp / rel_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        src = Path(src).absolute()
        if self.images_mode == "copy":
            shutil.copyfile(src, dst)
        elif self.images_mode == "symlink":
            os.symlink(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:  # other file system or no hard links: a symlink is still zero-copy
                os.symlink(src, dst)
        self._seen_images.add(rel_path)
        return rel_path

    def image_dir(self) -> Path:
        """Where generators (e.g. bridge synth) may write image files directly (before the rename)."""
        return self.tmp / IMAGES_DIR

    def write(self, episode: Episode) -> None:
        self._fh.write(episode.to_json_line())
        self._fh.write("\n")
        self.manifest.episodes += 1
        self.manifest.steps += len(episode.steps)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fh.close()
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        (self.tmp / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if self.out.exists():
            shutil.rmtree(self.out) if self.out.is_dir() else self.out.unlink()
        os.replace(self.tmp, self.out)
