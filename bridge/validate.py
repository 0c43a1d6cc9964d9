"""Semantic checks of canonical data (types are checked by the pydantic models in bridge.schema).

Contract used by importers, ``bridge validate`` and the writers: :func:`check_episode` returns *every*
problem of one episode as located :class:`~bridge.errors.Problem` objects and never raises on bad data;
:func:`validate_dataset` streams a whole dataset (memory flat in its size) and adds the dataset-level checks
(parse/type errors, duplicate episode ids, manifest counts).

Rules checked per episode (each documented in docs/format.md):

* at least one step; ``steps[i].index == i`` (0-based, no duplicates, no gaps);
* every image path (screenshot, extra images) is relative and stays inside its root (the dataset, or the
  manifest's ``image_root`` for images referenced in place);
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
from typing import Any, Callable, Optional

from .errors import Problem
from .frames import finger_direction
from .images import ImageError, header
from .schema import REQUIRED_FIELDS, Episode

_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]|^[\\/]{2}")
_ODD_START = "/\\ \t\r\n\f\v"  # a separator or whitespace first: take the careful path
#: Slack (original pixels) when testing "point inside its box": sources round box corners to integers.
BOX_TOLERANCE = 0.5
_NON_EMPTY = ("app", "key")  # an empty string there is as good as missing
_isfinite = math.isfinite


def path_problem(rel: Any, root: str = "dataset root") -> Optional[str]:
    """Why an image path stored in a step is not a safe relative path, or None if it is. ``root`` names what
    the path is relative to in the message (the dataset root, or the manifest's image root)."""
    if type(rel) is str and rel and ".." not in rel and rel[0] not in _ODD_START and rel[1:2] != ":":
        return None  # the common case, decided without a regex
    if not isinstance(rel, str) or not rel.strip():
        return "empty image path"
    if rel[0] in "/\\" or _WINDOWS_ABS.match(rel):
        return f"absolute path (image paths are relative to the {root})"
    if ".." in rel and ".." in re.split(r"[\\/]", rel):
        return f"path escapes the {root} ('..')"
    return None


class _PathProblem(str):
    """A path_problem() message (cached apart from image errors, which are reported differently)."""


class PathRefused(ImageError):
    """Raised by a reader for a path the dataset's :class:`~bridge.paths.ImagePolicy` refuses (a symlink
    leading out of the dataset): reported like a bad path, not like a bad image."""


def _guarded_inside(read: Callable[[str, bool], tuple], root: str, policy) -> Callable:
    """:func:`_guarded` for paths :func:`path_problem` admitted: a path under the dataset (``held``) is lexically
    inside it, so only its symlinks are checked; one under the image root is a declared root's (bridge.paths)."""
    problem, sep = policy.problem_inside, os.sep

    def guarded(rel: str, held: bool) -> tuple:
        if held:
            why = problem(root + sep + rel)
            if why:
                raise PathRefused(why)
        return read(rel, held)
    return guarded


def _guarded(read: Callable[[str, bool], tuple], resolve: Callable[[str, bool], str], policy) -> Callable:
    """``read`` behind the symlink-aware path policy: the resolved location is checked before the file is
    opened (one ``readlink`` per image and one ``realpath`` per folder, cached)."""
    problem = policy.problem

    def guarded(rel: str, held: bool) -> tuple:
        why = problem(resolve(rel, held))
        if why:
            raise PathRefused(why)
        return read(rel, held)
    return guarded


_UNCHECKED = object()
Resolver = Callable[[str], str]  # a step's image path -> absolute path


def _resolver(root: Any) -> tuple[Resolver, bool]:
    """(rel -> absolute path, whether non-``images/`` paths go to an image root) for ``root``: a dataset
    directory, a :class:`~bridge.dataset.Dataset` or a resolver function."""
    if callable(root):
        return root, True
    if hasattr(root, "image_resolver"):
        return root.image_resolver(), root.image_root is not None
    base = str(root)
    return (lambda rel: os.path.join(base, rel)), False


class _Checker:
    """Collects the problems of one episode. Field paths (``steps[2].action.point``) are only built when a
    problem is found: valid data — the common case — pays for no string formatting."""

    def __init__(self, read: Callable[[str, bool], tuple], image_root: bool, file: str, line: Optional[int],
                 record: Optional[str], check_images: bool, missing_root: Optional[str] = None):
        # read(rel, held) -> images.header() tuple for a checked relative path; held: the path is inside the
        # dataset (under images/ or no image root) rather than under the image root. Raises ImageError.
        self.read, self.image_root, self.file, self.line, self.record = read, image_root, file, line, record
        self.check_images = check_images
        self.missing_root = missing_root  # image root that does not exist: its images are reported once, apart
        self.problems: list[Problem] = []
        self._images: dict[str, Any] = {}  # rel path -> (format, w, h, nbytes) | error text (one episode: bounded)

    def add(self, loc: Optional[str], message: str, expected: Optional[str] = None, found: Any = None) -> None:
        self.problems.append(Problem(self.file, message, line=self.line, record=self.record, field=loc,
                                     expected=expected, found=found))

    # ---------------------------------------------------------------------------------- images
    def image(self, i: int, where: str, rel: str, what: str) -> Optional[tuple]:
        info = self._images.get(rel)
        if info is None:  # not seen in this episode yet (the previous screenshot usually has been)
            held = not self.image_root or type(rel) is not str or rel.startswith("images/") or rel == "images"
            why = path_problem(rel, "dataset root" if held else "image root")
            if why:
                info = _PathProblem(why)
            elif not self.check_images or (not held and self.missing_root):
                info = _UNCHECKED
            else:
                try:
                    info = self.read(rel, held)
                except PathRefused as e:
                    info = _PathProblem(e.message)
                except ImageError as e:
                    info = e.message
            self._images[rel] = info
        if type(info) is tuple:
            return info
        if isinstance(info, _PathProblem):
            self.add(f"steps[{i}].{where}", str(info), "a relative path inside the dataset, e.g. images/…", rel)
        elif info is not _UNCHECKED:
            self.add(f"steps[{i}].{where}", f"{what}: {info}", "a readable, complete image file", rel)
        return None

    # ----------------------------------------------------------------------------- geometry
    def point(self, loc, p, w: int, h: int) -> bool:
        x, y = p
        if 0 <= x <= w and 0 <= y <= h:  # NaN fails every comparison; +-inf fails the range
            return True
        if not (_isfinite(x) and _isfinite(y)):
            self.add(loc(), "coordinate is not a finite number", "finite pixels", list(p))
        else:
            self.add(loc(), "point outside the image", f"0 <= x <= {w} and 0 <= y <= {h}", list(p))
        return False

    def box(self, loc, b, w: int, h: int) -> bool:
        x1, y1, x2, y2 = b
        if 0 <= x1 <= x2 <= w and 0 <= y1 <= y2 <= h:  # the common valid case in one chained comparison
            return True
        if not all(_isfinite(v) for v in b):
            self.add(loc(), "coordinate is not a finite number", "finite pixels", list(b))
            return False
        if x2 < x1:
            self.add(loc(), "box has x2 < x1", "x1 <= x2", list(b))
        if y2 < y1:
            self.add(loc(), "box has y2 < y1", "y1 <= y2", list(b))
        if min(x1, x2) < 0 or min(y1, y2) < 0 or max(x1, x2) > w or max(y1, y2) > h:
            self.add(loc(), "box outside the image", f"inside [0, {w}] x [0, {h}]", list(b))
        return False

    # -------------------------------------------------------------------------------- steps
    def step(self, i: int, step) -> None:
        if step.index != i:
            self.add(f"steps[{i}].index", "step indexes must be 0, 1, 2, … in list order", str(i), step.index)
        info = self.image(i, "screenshot", step.screenshot, "screenshot")
        if info is not None and (info[1] != step.width or info[2] != step.height):
            for name, rec, real in (("width", step.width, info[1]), ("height", step.height, info[2])):
                if rec != real:
                    self.add(f"steps[{i}].{name}", f"screenshot {name} in the record differs from the image file",
                             f"{real} (from {step.screenshot})", rec)
        for j, rel in enumerate(step.extra_images):
            self.image(i, f"extra_images[{j}]", rel, "extra image")
        w, h = step.width, step.height
        self.action(i, step.action, w, h)
        if step.elements:
            for k, el in enumerate(step.elements):
                self.box(lambda: f"steps[{i}].elements[{k}].bbox", el.bbox, w, h)

    def action(self, i: int, a, w: int, h: int) -> None:
        kind = a.type
        for name in REQUIRED_FIELDS[kind]:
            value = getattr(a, name)
            if value is None or (name in _NON_EMPTY and not value.strip()):
                self.add(f"steps[{i}].action.{name}", f"{kind} action needs '{name}'", f"a value for {name}", value)
        if a.status is not None and kind != "status":
            self.add(f"steps[{i}].action.status", "'status' is only allowed on status actions", "no status field",
                     a.status)
        point, end, bbox = a.point, a.end_point, a.bbox
        point_ok = point is not None and self.point(lambda: f"steps[{i}].action.point", point, w, h)
        end_ok = end is not None and self.point(lambda: f"steps[{i}].action.end_point", end, w, h)
        box_ok = bbox is not None and self.box(lambda: f"steps[{i}].action.bbox", bbox, w, h)
        if point_ok and box_ok:
            (x, y), (x1, y1, x2, y2), t = point, bbox, BOX_TOLERANCE
            if not (x1 - t <= x <= x2 + t and y1 - t <= y <= y2 + t):
                self.add(f"steps[{i}].action.point", "point lies outside the action's target box",
                         f"inside {list(bbox)}", list(point))
        if point_ok and end_ok and (kind == "swipe" or kind == "drag"):
            if point == end:
                self.add(f"steps[{i}].action.end_point", f"{kind} does not move (end_point equals point)",
                         "an end point different from the start", list(end))
            elif a.direction is not None:
                moved = finger_direction(point, end)
                # sources that decide the axis in normalised units (AITW, GUI-Odyssey, AgentCPM) may store the
                # other axis for a diagonal swipe: both readings of the same movement are consistent
                if moved != a.direction and finger_direction(point, end, (w, h)) != a.direction:
                    self.add(f"steps[{i}].action.direction", "direction disagrees with the finger movement point -> "
                             "end_point (directions use the finger convention)", moved, a.direction)


def check_episode(episode: Episode, root: Any, *, file: str, line: Optional[int] = None,
                  check_images: bool = True) -> list[Problem]:
    """All semantic problems of ``episode``: images, coordinates, per-type required fields, paths escaping
    their root. ``file``/``line`` locate the record in messages.

    ``root`` says where the step image paths point: the dataset directory (paths relative to it), the
    :class:`~bridge.dataset.Dataset` itself (its manifest's ``image_root`` honoured: use this for datasets that
    reference images in place) or a function mapping a path to an absolute one (``Dataset.image_resolver()``).
    Field paths are dotted, e.g. ``steps[2].action.point``. With ``check_images=False`` the image files are not
    opened (paths are still checked). Never raises on bad data.
    """
    return episode_checker(root, check_images)(episode, file=file, line=line)


def episode_checker(root: Any, check_images: bool = True) -> Callable[..., list[Problem]]:
    """:func:`check_episode` with ``root`` bound: the resolver and the path policy (whose per-folder results
    are cached) are built once, for a caller checking every episode of one dataset (the exporters)."""
    from .paths import ImagePolicy

    resolve, has_image_root = _resolver(root)
    read = lambda rel, held: header(resolve(rel))  # noqa: E731
    if hasattr(root, "image_resolver"):
        read = _guarded(read, lambda rel, held: resolve(rel), ImagePolicy.of(root))
    elif not callable(root):
        read = _guarded(read, lambda rel, held: resolve(rel), ImagePolicy(str(root)))
    return lambda episode, *, file, line=None: _check(episode, read, has_image_root, file, line, check_images)


def duplicate_id(file: str, eid: str, first: str, line: Optional[int] = None) -> Problem:
    """The problem of an episode id seen before (``first``: where, e.g. "line 3")."""
    return Problem(file, f"duplicate episode_id (first used on {first})", line=line, record=eid,
                   field="episode_id", expected="a unique id", found=eid)


def _check(episode: Episode, read: Callable[[str, bool], tuple], has_image_root: bool, file: str, line: Optional[int],
           check_images: bool, missing_root: Optional[str] = None) -> list[Problem]:
    c = _Checker(read, has_image_root, file, line, episode.episode_id, check_images, missing_root)
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


#: Episodes per batch handed to a validation worker, and batches validated in this process before workers
#: are started (small datasets never pay for a pool).
BATCH_LINES = 64
INLINE_BATCHES = 4


@dataclass(frozen=True)
class _Where:
    """What a validation worker needs to know about the dataset (picklable)."""

    file: str
    root: str
    image_root: Optional[str]
    check_images: bool
    missing_root: Optional[str]
    source_path: Optional[str] = None  # the manifest's meta.source_path (a root the path policy allows)


def _validate_batch(where: _Where, batch: list[tuple[int, bytes]]) -> list[tuple[int, Optional[str], int, list]]:
    """Parse and check a batch of ``(line_number, raw line)``: per non-blank line ``(line, episode_id or None,
    steps, problems)`` — parse/type problems when the id is None, else the semantic problems."""
    from pydantic import ValidationError

    from .dataset import line_problems

    from .paths import ImagePolicy

    root, image_root = where.root, where.image_root
    fds: list[int] = []
    try:
        read = _reader(root, image_root if where.missing_root is None else None, fds)
        read = _guarded_inside(read, root, ImagePolicy(root, image_root, where.source_path))
        parse = Episode.model_validate_json
        out = []
        for lineno, raw in batch:
            try:
                episode = parse(raw)
            except ValidationError as e:
                if raw.strip():
                    out.append((lineno, None, 0, line_problems(e, raw, where.file, lineno)))
                continue
            out.append((lineno, episode.episode_id, len(episode.steps),
                        _check(episode, read, image_root is not None, where.file, lineno, where.check_images,
                               where.missing_root)))
        return out
    finally:
        for fd in fds:
            os.close(fd)


def _reader(root: str, image_root: Optional[str], fds: list[int]) -> Callable[[str, bool], tuple]:
    """``(rel, held) -> header tuple`` for paths already checked by :func:`path_problem` (relative, no '..'): opened
    relative to a descriptor of their root directory (``openat``: a shorter path walk per image) where the OS
    supports it. Descriptors opened here are appended to ``fds`` for the caller to close."""
    if os.open not in os.supports_dir_fd or not hasattr(os, "O_DIRECTORY"):
        return lambda rel, held: header(os.path.join(root if held else image_root, rel))
    try:
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(root_fd)
        if image_root is None:
            return lambda rel, held: header(rel, dir_fd=root_fd)
        image_fd = os.open(image_root, os.O_RDONLY | os.O_DIRECTORY)
        fds.append(image_fd)
    except OSError:  # unusual (permissions, a file in the way): paths report the same errors
        return lambda rel, held: header(os.path.join(root if held else image_root, rel))
    return lambda rel, held: header(rel, dir_fd=root_fd if held else image_fd)


def _batches(fh, size: int):
    batch = []
    for item in enumerate(fh, 1):
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def validate_dataset(path, *, check_images: bool = True, max_problems: Optional[int] = None,
                     jobs: Optional[int] = None) -> Report:
    """Validate a dataset directory, streaming its episodes file (memory flat in the number of episodes apart
    from the set of episode ids). Raises :class:`~bridge.errors.BridgeError` only when ``path`` is not a
    dataset at all (missing directory, episodes file or manifest); every problem *inside* it is reported.

    ``jobs``: worker processes for large datasets (default: the CPUs available; 1 = all in this process).
    Results and their order do not depend on it."""
    import functools

    from .dataset import default_jobs, open_dataset, ordered_map
    from .errors import BridgeError
    from .progress import bar

    ds = open_dataset(path)
    report = Report(str(ds.root), max_problems=max_problems)
    file = str(ds.episodes_path)
    manifest_file = str(ds.root / "manifest.json")
    missing_root = None
    if check_images and ds.image_root is not None and not ds.image_root.is_dir():
        missing_root = str(ds.image_root)
        report.add([Problem(manifest_file, "image root does not exist: none of the images referenced there can be "
                            "read (they are not listed one by one)", field="image_root",
                            expected="an existing directory (move the source back, or re-import)",
                            found=missing_root)])
    source = (ds.manifest.meta or {}).get("source_path")
    where = _Where(file, os.path.abspath(ds.root), str(ds.image_root) if ds.image_root is not None else None,
                   check_images, missing_root, source if isinstance(source, str) else None)
    first_line: dict[str, int] = {}
    try:
        with open(ds.episodes_path, "rb") as fh, bar(ds.manifest.episodes, "validate", "episode") as shown:
            jobs = default_jobs() if jobs is None else jobs
            # the manifest's count says whether the dataset is large enough to start workers at once
            inline = 0 if ds.manifest.episodes > INLINE_BATCHES * BATCH_LINES else INLINE_BATCHES
            for results in ordered_map(functools.partial(_validate_batch, where), _batches(fh, BATCH_LINES),
                                       jobs, inline=inline, window=4 * jobs):
                shown.update(len(results))
                for lineno, eid, steps, problems in results:
                    if eid is None:
                        report.invalid_records += 1
                        report.add(problems)
                        continue
                    report.episodes += 1
                    report.steps += steps
                    first = first_line.get(eid)
                    if first is not None:
                        report.add([duplicate_id(file, eid, f"line {first}", lineno)])
                    else:
                        first_line[eid] = lineno
                    if problems:
                        report.add(problems)
    except OSError as e:
        raise BridgeError(f"{file}: cannot read the episodes file: {e.strerror or e}") from None
    m = ds.manifest
    if report.invalid_records == 0:
        for name, declared, real in (("episodes", m.episodes, report.episodes), ("steps", m.steps, report.steps)):
            if declared != real:
                report.add([Problem(manifest_file, f"manifest count of {name} differs from the episodes file",
                                    field=name, expected=str(real), found=declared)])
    return report
