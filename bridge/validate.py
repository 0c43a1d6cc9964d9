"""Semantic checks of canonical data (types are checked by the pydantic models in bridge.schema).

Contract used by importers, ``bridge validate`` and the writers: :func:`check_episode` returns *every*
problem of one episode as located :class:`~bridge.errors.Problem` objects and never raises on bad data;
:func:`validate_dataset` streams a whole dataset (memory flat in its size) and adds the dataset-level checks
(parse/type errors, duplicate episode ids, manifest counts).

Rules checked per episode (each documented in docs/format.md):

* at least one step; ``steps[i].index == i`` (0-based, no duplicates, no gaps);
* every image path (screenshot, extra images) is relative and stays inside the dataset root;
* every image exists, is a readable image and is not truncated (headers only, no decoding);
* the step's ``width``/``height`` equal the screenshot header's size;
* the fields REQUIRED_FIELDS lists for the action type are present; ``status`` only on ``status`` actions;
* coordinates are finite and inside the image ``[0, width] x [0, height]``; boxes have ``x1 <= x2``,
  ``y1 <= y2``; a point given with its target box lies inside it;
* a swipe/drag's ``direction`` matches its finger movement ``point -> end_point`` (which must not be empty);
* element boxes obey the same box rules.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import Problem
from .frames import finger_direction
from .images import ImageError, ImageInfo, probe
from .schema import REQUIRED_FIELDS, Episode

_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]|^[\\/]{2}")
#: Slack (original pixels) when testing "point inside its box": sources round box corners to integers.
BOX_TOLERANCE = 0.5
_NON_EMPTY = ("app", "key")  # an empty string there is as good as missing


def path_problem(rel: Any) -> Optional[str]:
    """Why an image path stored in a step is not a safe dataset-relative path, or None if it is."""
    if not isinstance(rel, str) or not rel.strip():
        return "empty image path"
    if rel[0] in "/\\" or _WINDOWS_ABS.match(rel):
        return "absolute path (image paths are relative to the dataset root)"
    if ".." in rel and ".." in re.split(r"[\\/]", rel):
        return "path escapes the dataset root ('..')"
    return None


class _PathProblem(str):
    """A path_problem() message (cached apart from image errors, which are reported differently)."""


_UNCHECKED = object()


class _Checker:
    """Collects the problems of one episode; ``loc`` arguments are dotted field paths."""

    def __init__(self, root: Path, file: str, line: Optional[int], record: Optional[str], check_images: bool):
        self.root, self.file, self.line, self.record = str(root), file, line, record
        self.check_images = check_images
        self.problems: list[Problem] = []
        self._images: dict[str, Any] = {}  # rel path -> ImageInfo | error text (one episode: bounded)

    def add(self, loc: Optional[str], message: str, expected: Optional[str] = None, found: Any = None) -> None:
        self.problems.append(Problem(self.file, message, line=self.line, record=self.record, field=loc,
                                     expected=expected, found=found))

    # ---------------------------------------------------------------------------------- images
    def image(self, loc: str, rel: str, what: str) -> Optional[ImageInfo]:
        info = self._images.get(rel)
        if info is None:  # not seen in this episode yet (the previous screenshot usually has been)
            why = path_problem(rel)
            if why:
                info = _PathProblem(why)
            elif not self.check_images:
                info = _UNCHECKED
            else:
                try:
                    info = probe(os.path.join(self.root, rel))
                except ImageError as e:
                    info = e.message
            self._images[rel] = info
        if isinstance(info, ImageInfo):
            return info
        if isinstance(info, _PathProblem):
            self.add(loc, str(info), "a relative path inside the dataset, e.g. images/…", rel)
        elif info is not _UNCHECKED:
            self.add(loc, f"{what}: {info}", "a readable, complete image file", rel)
        return None

    # ----------------------------------------------------------------------------- geometry
    def point(self, loc: str, p, w: int, h: int) -> bool:
        x, y = p
        if not (math.isfinite(x) and math.isfinite(y)):
            self.add(loc, "coordinate is not a finite number", "finite pixels", list(p))
            return False
        if not (0 <= x <= w and 0 <= y <= h):
            self.add(loc, "point outside the image", f"0 <= x <= {w} and 0 <= y <= {h}", list(p))
            return False
        return True

    def box(self, loc: str, b, w: int, h: int) -> bool:
        x1, y1, x2, y2 = b
        if not all(math.isfinite(v) for v in b):
            self.add(loc, "coordinate is not a finite number", "finite pixels", list(b))
            return False
        ok = True
        if x2 < x1:
            self.add(loc, "box has x2 < x1", "x1 <= x2", list(b))
            ok = False
        if y2 < y1:
            self.add(loc, "box has y2 < y1", "y1 <= y2", list(b))
            ok = False
        if min(x1, x2) < 0 or min(y1, y2) < 0 or max(x1, x2) > w or max(y1, y2) > h:
            self.add(loc, "box outside the image", f"inside [0, {w}] x [0, {h}]", list(b))
            ok = False
        return ok

    # -------------------------------------------------------------------------------- steps
    def step(self, i: int, step) -> None:
        s = f"steps[{i}]"
        if step.index != i:
            self.add(f"{s}.index", "step indexes must be 0, 1, 2, … in list order", str(i), step.index)
        info = self.image(f"{s}.screenshot", step.screenshot, "screenshot")
        if info is not None:
            for name, rec, real in (("width", step.width, info.width), ("height", step.height, info.height)):
                if rec != real:
                    self.add(f"{s}.{name}", f"screenshot {name} in the record differs from the image file",
                             f"{real} (from {step.screenshot})", rec)
        for j, rel in enumerate(step.extra_images):
            self.image(f"{s}.extra_images[{j}]", rel, "extra image")
        w, h = step.width, step.height
        self.action(f"{s}.action", step.action, w, h)
        for k, el in enumerate(step.elements or ()):
            self.box(f"{s}.elements[{k}].bbox", el.bbox, w, h)

    def action(self, a_loc: str, a, w: int, h: int) -> None:
        for name in REQUIRED_FIELDS[a.type]:
            value = getattr(a, name)
            if value is None or (name in _NON_EMPTY and not value.strip()):
                self.add(f"{a_loc}.{name}", f"{a.type} action needs '{name}'",
                         f"a value for {name}", value)
        if a.status is not None and a.type != "status":
            self.add(f"{a_loc}.status", "'status' is only allowed on status actions", "no status field",
                     a.status)
        point_ok = a.point is not None and self.point(f"{a_loc}.point", a.point, w, h)
        end_ok = a.end_point is not None and self.point(f"{a_loc}.end_point", a.end_point, w, h)
        box_ok = a.bbox is not None and self.box(f"{a_loc}.bbox", a.bbox, w, h)
        if point_ok and box_ok:
            (x, y), (x1, y1, x2, y2), t = a.point, a.bbox, BOX_TOLERANCE
            if not (x1 - t <= x <= x2 + t and y1 - t <= y <= y2 + t):
                self.add(f"{a_loc}.point", "point lies outside the action's target box", f"inside {list(a.bbox)}",
                         list(a.point))
        if point_ok and end_ok and a.type in ("swipe", "drag"):
            if tuple(a.point) == tuple(a.end_point):
                self.add(f"{a_loc}.end_point", f"{a.type} does not move (end_point equals point)",
                         "an end point different from the start", list(a.end_point))
            elif a.direction is not None:
                moved = finger_direction(a.point, a.end_point)
                if moved != a.direction:
                    self.add(f"{a_loc}.direction", "direction disagrees with the finger movement point -> end_point "
                             "(directions use the finger convention)", moved, a.direction)


def check_episode(episode: Episode, root: Path, *, file: str, line: Optional[int] = None,
                  check_images: bool = True) -> list[Problem]:
    """All semantic problems of ``episode`` (stored under dataset ``root``): images, coordinates, per-type
    required fields, paths escaping the root. ``file``/``line`` locate the record in messages.

    Field paths are dotted, e.g. ``steps[2].action.point``. With ``check_images=False`` the image files are not
    opened (paths are still checked). Never raises on bad data.
    """
    c = _Checker(root, file, line, episode.episode_id, check_images)
    if not episode.steps:
        c.add("steps", "episode has no steps", "at least one step", [])
    for i, step in enumerate(episode.steps):
        c.step(i, step)
    return c.problems


# ------------------------------------------------------------------------------------------- dataset level
@dataclass
class Report:
    """Result of :func:`validate_dataset`. ``problems`` holds at most ``max_problems`` entries;
    ``problem_count`` counts them all."""

    root: str
    episodes: int = 0
    steps: int = 0
    invalid_records: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    max_problems: Optional[int] = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problems: list[Problem]) -> None:
        self.problem_count += len(problems)
        room = len(problems) if self.max_problems is None else max(0, self.max_problems - len(self.problems))
        self.problems.extend(problems[:room])

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.root, "ok": self.ok, "episodes": self.episodes, "steps": self.steps,
                "invalid_records": self.invalid_records, "problem_count": self.problem_count,
                "problems_shown": len(self.problems), "problems": [p.to_dict() for p in self.problems]}


def validate_dataset(path, *, check_images: bool = True, max_problems: Optional[int] = None) -> Report:
    """Validate a dataset directory, streaming its episodes file (memory flat in the number of episodes apart
    from the set of episode ids). Raises :class:`~bridge.errors.BridgeError` only when ``path`` is not a
    dataset at all (missing directory, episodes file or manifest); every problem *inside* it is reported."""
    from .dataset import open_dataset
    from .errors import BridgeError

    ds = open_dataset(path)
    report = Report(str(ds.root), max_problems=max_problems)
    file = str(ds.episodes_path)
    first_line: dict[str, int] = {}
    try:
        for lineno, episode, problems in ds.records():
            if episode is None:
                report.invalid_records += 1
                report.add(problems)
                continue
            report.episodes += 1
            report.steps += len(episode.steps)
            eid = episode.episode_id
            if eid in first_line:
                report.add([Problem(file, f"duplicate episode_id (first used on line {first_line[eid]})",
                                    line=lineno, record=eid, field="episode_id", expected="a unique id",
                                    found=eid)])
            else:
                first_line[eid] = lineno
            report.add(check_episode(episode, ds.root, file=file, line=lineno, check_images=check_images))
    except OSError as e:
        raise BridgeError(f"{file}: cannot read the episodes file: {e.strerror or e}") from None
    m = ds.manifest
    manifest_file = str(ds.root / "manifest.json")
    if report.invalid_records == 0:
        for name, declared, real in (("episodes", m.episodes, report.episodes), ("steps", m.steps, report.steps)):
            if declared != real:
                report.add([Problem(manifest_file, f"manifest count of {name} differs from the episodes file",
                                    field=name, expected=str(real), found=declared)])
    return report
