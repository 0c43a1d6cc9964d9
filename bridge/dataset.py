"""A canonical dataset on disk, streamed.

Layout (documented in docs/format.md)::

    DATASET/
      manifest.json     format name + version, source, counts, optional image_root
      episodes.jsonl    one Episode per line (JSON Lines: streamable, appendable, diffable)
      images/...        screenshots placed in the dataset (linked, copied or written)

Step image paths are POSIX paths relative to DATASET/ — or, when the manifest has an ``image_root`` (images
referenced in place, e.g. ``bridge import --images ref``), relative to that directory, except paths under
``images/`` which still name files inside DATASET/. :meth:`Dataset.image_path` is the one resolver.

Reading never loads the whole file; writing goes to a sibling temporary directory that is renamed into
place only when the writer closes cleanly, so a failed import leaves nothing partial behind.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

from pydantic import ValidationError

from .errors import BridgeError, Problem
from .schema import FORMAT_NAME, FORMAT_VERSION, Episode, Manifest

EPISODES_FILE = "episodes.jsonl"
MANIFEST_FILE = "manifest.json"
IMAGES_DIR = "images"
#: How a writer stores source images: referenced in place (``ref``), hard-linked (``link``, falling back to a
#: symlink across file systems), symlinked or copied into ``images/``.
IMAGE_MODES = ("ref", "link", "symlink", "copy")

PathLike = Union[str, os.PathLike]


def in_dataset(rel: str) -> bool:
    """True for an image path naming a file inside the dataset's own ``images/`` directory."""
    return rel.startswith("images/") or rel == IMAGES_DIR


def resolve_image(root: str, image_root: Optional[str], rel: str) -> str:
    """Where the image path ``rel`` of a step points: under ``image_root`` when the dataset has one (and
    ``rel`` is not under ``images/``), else under the dataset directory ``root``. No normalisation: callers
    check paths with :func:`bridge.validate.path_problem`."""
    if image_root is None or in_dataset(rel):
        return os.path.join(root, rel)
    return os.path.join(image_root, rel)


def reference_path(image_root: str, src: PathLike) -> Optional[str]:
    """The POSIX path of ``src`` relative to ``image_root`` when a dataset can reference it there (inside
    ``image_root`` and not under an ``images/`` folder, which would name the dataset's own images), else None.
    Both paths absolute or both relative to the same directory."""
    rel = os.path.relpath(os.path.abspath(src), image_root)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
        return None
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    return None if in_dataset(rel) else rel


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
    """A canonical dataset directory. Iterating yields :class:`Episode` objects, streamed from disk.

    ``root``: the dataset directory; ``image_root``: the manifest's image root (a ``Path``) or None when every
    image lives in the dataset. Resolve step image paths with :meth:`image_path` (or :meth:`image_resolver`
    in loops) — never by joining them to ``root`` yourself."""

    def __init__(self, root: PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            old = sorted(self.root.parent.glob(glob.escape(self.root.name) + ".old-*")) if not self.root.exists() else []
            raise BridgeError(f"{self.root}: not a dataset directory (it does not exist or is a file)",
                              hint=f"an overwrite was interrupted: the previous dataset is intact at {old[-1]} "
                                   f"(rename it back)" if old else None)
        self.episodes_path = self.root / EPISODES_FILE
        if not self.episodes_path.is_file():
            raise BridgeError(f"{self.root}: no {EPISODES_FILE} — is this a gui-bridge dataset? "
                              f"Create one with `bridge import` or `bridge synth`.")
        self.manifest = self._read_manifest()
        self.image_root = Path(self.manifest.image_root) if self.manifest.image_root is not None else None
        self._root_abs = os.path.abspath(self.root)

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
            manifest = Manifest.model_validate(data)
        except ValidationError as e:
            raise BridgeError(f"{path}: invalid manifest", validation_problems(e, str(path))) from None
        if manifest.image_root is not None and not os.path.isabs(manifest.image_root):
            raise BridgeError(f"{path}: invalid manifest", [Problem(
                str(path), "image_root must be an absolute path", field="image_root",
                expected="an absolute directory path", found=manifest.image_root)])
        if manifest.image_root is not None:
            from .paths import is_fs_root

            if is_fs_root(manifest.image_root):  # every file on the machine would be a valid image path
                raise BridgeError(f"{path}: invalid manifest", [Problem(
                    str(path), "image_root is a file-system root: records could name any file on this machine",
                    field="image_root", expected="the folder holding the screenshots", found=manifest.image_root)])
        return manifest

    def records(self) -> Iterator[tuple[int, Optional[Episode], list[Problem]]]:
        """Yield ``(line_number, episode_or_None, problems)`` for every non-blank line; never raises on bad data."""
        name = str(self.episodes_path)
        parse = Episode.model_validate_json
        with open(self.episodes_path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    yield lineno, parse(raw), []
                except ValidationError as e:
                    if raw.strip():
                        yield lineno, None, line_problems(e, raw, name, lineno)

    def __iter__(self) -> Iterator[Episode]:
        for _, episode, problems in self.records():
            if problems:
                raise BridgeError(f"{self.root}: invalid record (run `bridge validate {self.root}` for all problems)",
                                  problems)
            yield episode

    def image_path(self, rel: str) -> Path:
        """Absolute path of an image referenced by a step: relative to the manifest's ``image_root`` when the
        dataset has one (paths under ``images/`` excepted), else to the dataset root."""
        return Path(self.image_resolver()(rel))

    def image_resolver(self) -> Callable[[str], str]:
        """A function mapping a step's image path to an absolute path string (:meth:`image_path` for loops)."""
        root, image_root = self._root_abs, str(self.image_root) if self.image_root is not None else None
        if image_root is None:
            return lambda rel: os.path.join(root, rel)
        return lambda rel: resolve_image(root, image_root, rel)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, episodes={self.manifest.episodes}, steps={self.manifest.steps})"


def ordered_map(fn: Callable[[Any], Any], items, jobs: int, *, inline: int = 0, chunksize: int = 1,
                window: Optional[int] = None) -> Iterator[Any]:
    """``fn`` over ``items``, results in input order: the first ``inline`` items in this process (small inputs
    never pay for workers), the rest in ``jobs`` forked worker processes, ``chunksize`` items per message, at
    most ``window`` items (default ``jobs * 32``) in flight — memory stays flat however many items there are.
    ``fn``, the items and the results must be picklable; an exception raised by ``fn`` in a worker is re-raised
    here. Without ``fork`` (Windows, macOS spawn) or with ``jobs <= 1`` everything runs in this process.

    Leaner than ``multiprocessing.Pool`` for this one pattern: batches go round-robin to the workers, so results
    come back in order with no reordering; one sender thread writes batches (never blocking the reads, so large
    items cannot deadlock the pipes) and this thread reads results directly — no result or maintenance threads.
    """
    import itertools
    import multiprocessing

    items = iter(items)
    for item in itertools.islice(items, inline):
        yield fn(item)
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for item in items:
            yield fn(item)
        return
    first = next(items, _END)
    if first is _END:
        return
    items = itertools.chain([first], items)
    batches = iter(lambda: list(itertools.islice(items, chunksize)), [])
    depth = max(1, (window or jobs * 32) // (jobs * chunksize))  # batches in flight per worker
    yield from _Workers(fn, jobs, depth).run(batches)


_END = object()


class _Workers:
    """Forked workers for :func:`ordered_map`: worker ``b % jobs`` handles batch ``b``."""

    def __init__(self, fn: Callable[[Any], Any], jobs: int, depth: int):
        import gc
        import multiprocessing

        self.pids: list[int] = []
        self.tasks, self.results = [], []
        gc.freeze()  # objects inherited by the workers stay untouched by their GC: fewer copy-on-write pages
        try:
            for _ in range(jobs):
                task_r, task_w = multiprocessing.Pipe(duplex=False)
                res_r, res_w = multiprocessing.Pipe(duplex=False)
                pid = os.fork()
                if pid == 0:  # worker: never returns
                    task_w.close()
                    res_r.close()
                    for conn in self.tasks + self.results:
                        conn.close()
                    _worker_loop(fn, task_r, res_w)
                task_r.close()
                res_w.close()
                self.pids.append(pid)
                self.tasks.append(task_w)
                self.results.append(res_r)
        except BaseException:
            self.stop()
            raise
        finally:
            gc.unfreeze()
        self.depth = depth

    def run(self, batches: Iterator[list]) -> Iterator[Any]:
        import queue
        import threading

        jobs = len(self.pids)
        slots = [threading.Semaphore(self.depth) for _ in range(jobs)]
        order: "queue.SimpleQueue" = queue.SimpleQueue()
        halt = threading.Event()

        def send() -> None:  # the sender thread: also pulls items (a generator may do I/O)
            try:
                for b, batch in enumerate(batches):
                    k = b % jobs
                    while not slots[k].acquire(timeout=0.05):
                        if halt.is_set():
                            return
                    if halt.is_set():
                        return
                    self.tasks[k].send(batch)
                    order.put(k)
                order.put(_END)
            except BaseException as e:  # an error in the item source: re-raised by the reader, in order
                order.put(("error", e))

        sender = threading.Thread(target=send, name="ordered_map-sender", daemon=True)
        sender.start()
        try:
            while True:
                k = order.get()
                if k is _END:
                    return
                if isinstance(k, tuple):
                    raise k[1]
                try:
                    status, value = self.results[k].recv()
                except EOFError:
                    raise RuntimeError("a worker process died unexpectedly (out of memory?)") from None
                if status != "ok":
                    raise value
                slots[k].release()
                yield from value
        finally:
            halt.set()
            self.stop(sender)

    def stop(self, sender=None) -> None:
        """Kill the workers (finished or abandoned: nothing of theirs is kept), let the sender thread notice
        (its next send fails, or it sees ``halt``), then close the pipes."""
        import signal

        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in self.pids:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        if sender is not None:
            sender.join(timeout=5)
        for conn in self.tasks + self.results:
            try:
                conn.close()
            except OSError:
                pass
        self.pids, self.tasks, self.results = [], [], []


def _worker_loop(fn: Callable[[Any], Any], tasks, results) -> None:
    """Body of a forked worker: apply ``fn`` to each batch until the task pipe closes; exit without running
    the parent's cleanup (its open files' buffers belong to the parent)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    code = 0
    try:
        while True:
            try:
                batch = tasks.recv()
            except EOFError:
                break
            try:
                out = ("ok", [fn(item) for item in batch])
            except BaseException as e:  # re-raised in the parent
                out = ("error", e)
            try:
                results.send(out)
            except (BrokenPipeError, ConnectionResetError):
                break
            except Exception as e:  # an unpicklable exception or result
                results.send(("error", RuntimeError(f"worker could not return its result: {e!r}")))
    except BaseException:
        code = 1
    finally:
        os._exit(code)




def default_jobs() -> int:
    """Worker processes for large imports and validations: the CPUs this process may run on."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n)


def line_problems(err: ValidationError, raw: bytes, file: str, lineno: int) -> list[Problem]:
    """The located problems of an episodes-file line that failed ``Episode.model_validate_json``."""
    record = _peek_id(raw)
    if any(e.get("type") in ("json_invalid", "recursion_loop") for e in err.errors()):
        from .textio import json_text_problem

        return [Problem(file, json_text_problem(raw), line=lineno, record=record,
                        expected="one JSON object per line (UTF-8)")]
    return validation_problems(err, file, lineno, record)


def _peek_id(raw: bytes) -> Optional[str]:
    from .textio import safe_json_loads

    try:
        value = safe_json_loads(raw).get("episode_id")
        return str(value) if value is not None else None
    except Exception:  # garbage line: no id to report
        return None


def open_dataset(path: PathLike) -> Dataset:
    """Open a canonical dataset directory for streaming (``for episode in open_dataset(p): ...``)."""
    return Dataset(path)


class DatasetWriter:
    """Write a dataset atomically: episodes and images go to ``OUT.partial-*`` which is renamed to ``OUT``
    on a clean exit and removed on any exception.

    ``images`` (:data:`IMAGE_MODES`): how :meth:`add_image` stores a source file — ``"link"`` (hard link,
    falling back to a symlink across file systems: zero-copy, the default), ``"symlink"``, ``"copy"``, or
    ``"ref"``: a file inside ``image_root`` is referenced where it is (nothing is placed; the manifest records
    ``image_root``), any other file is linked. Memory stays flat: no set of placed images is kept (a rel path
    already present in the dataset is taken to be the same image).
    """

    def __init__(self, out: PathLike, source: str = "unknown", overwrite: bool = False, images: str = "link",
                 meta: Optional[dict[str, Any]] = None, image_root: Optional[PathLike] = None):
        if images not in IMAGE_MODES:
            raise BridgeError(f"unknown image mode {images!r} (expected {', '.join(IMAGE_MODES)})")
        self.out = Path(out)
        if self.out.exists() and not overwrite and (not self.out.is_dir() or any(self.out.iterdir())):
            raise BridgeError(f"{self.out}: already exists and is not empty (use --overwrite to replace it)")
        self.tmp = self.out.with_name(f"{self.out.name}.partial-{os.getpid()}")
        self.overwrite = overwrite
        self.images_mode = images
        self.image_root = os.path.abspath(image_root) if image_root is not None else None
        self.manifest = Manifest(source=source, meta=meta or {})
        self._fh = None
        self._referenced = False
        self._episodes = self._steps = 0
        self._dirs: set[str] = set()  # image folders created so far (one mkdir each; few: bounded by the layout)

    def __enter__(self) -> "DatasetWriter":
        sweep_stale(self.out)
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        (self.tmp / IMAGES_DIR).mkdir(parents=True)
        self._root = str(self.tmp)
        self._dirs = {os.path.join(self._root, IMAGES_DIR)}
        self._fh = open(self.tmp / EPISODES_FILE, "wb")
        self._episodes = self._steps = 0
        return self

    def add_image(self, src: PathLike, rel: str) -> str:
        """Store the image file ``src`` and return the path a step should hold: in ``ref`` mode its path
        relative to ``image_root`` when it lies inside it, otherwise ``images/<rel>`` (``src`` placed there)."""
        if self.images_mode == "ref" and self.image_root is not None:
            ref = reference_path(self.image_root, src)
            if ref is not None:
                self._referenced = True
                return ref
        rel_path = f"{IMAGES_DIR}/{rel}"
        dst = os.path.join(self._root, rel_path)
        parent = os.path.dirname(dst)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        src = os.path.abspath(src)
        if self.images_mode == "copy":
            if not os.path.lexists(dst):
                shutil.copyfile(src, dst)
            return rel_path
        if self.images_mode != "symlink":
            try:
                os.link(src, dst)
                return rel_path
            except FileExistsError:  # placed before (same rel path, same source)
                return rel_path
            except OSError:  # other file system or no hard links: a symlink is still zero-copy
                pass
        try:
            os.symlink(src, dst)
        except FileExistsError:  # placed before
            pass
        return rel_path

    def add_image_bytes(self, data: bytes, rel: str) -> str:
        """Write encoded image bytes to ``images/<rel>`` and return that path."""
        rel_path = f"{IMAGES_DIR}/{rel}"
        dst = os.path.join(self._root, rel_path)
        parent = os.path.dirname(dst)
        if parent not in self._dirs:
            os.makedirs(parent, exist_ok=True)
            self._dirs.add(parent)
        with open(dst, "wb") as fh:
            fh.write(data)
        return rel_path

    def note_reference(self, image_root: PathLike) -> None:
        """Record that written episodes refer to images relative to ``image_root`` (for writers whose episodes
        were built elsewhere, e.g. in importer worker processes); it goes to the manifest on close."""
        root = os.path.abspath(image_root)
        if self.image_root is not None and self.image_root != root:
            raise BridgeError(f"one dataset has one image root: {self.image_root} and {root} were both used")
        self.image_root, self._referenced = root, True

    def image_dir(self) -> Path:
        """Where generators (e.g. bridge synth) may write image files directly (before the rename)."""
        return self.tmp / IMAGES_DIR

    def write(self, episode: Episode) -> None:
        """Append one episode (its image paths as returned by :meth:`add_image`)."""
        self.write_line(episode.to_json_bytes(), len(episode.steps))

    def write_line(self, line: Union[str, bytes], steps: int) -> None:
        """Append one episode already serialised by :meth:`Episode.to_json_line` / ``to_json_bytes`` (and
        validated by the caller) with ``steps`` steps. The manifest's counts are set on close."""
        self._fh.write(line.encode() if isinstance(line, str) else line)
        self._fh.write(b"\n")
        self._episodes += 1
        self._steps += steps

    def __exit__(self, exc_type, exc, tb) -> None:
        self._fh.close()
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        self.manifest.episodes, self.manifest.steps = self._episodes, self._steps
        if self._referenced:
            self.manifest.image_root = self.image_root
        else:  # self-contained: the oldest format version that describes it, so older releases read it too
            self.manifest.image_root = None
            self.manifest.version = 1
        (self.tmp / MANIFEST_FILE).write_text(self.manifest.model_dump_json(indent=2, exclude_none=True) + "\n",
                                              encoding="utf-8")
        self._swap_in()

    def _swap_in(self) -> None:
        """Move the finished ``tmp`` to ``out`` so that ``out`` is, at every instant, the old dataset, the new one
        or (killed between two renames) absent with the old one intact at ``out.old-PID`` (the error of the next
        open says so): rename the old aside, rename the new in, then delete the old. A writer that lost a race
        with another process leaves the winner's dataset in place and says so."""
        aside = self.out.with_name(f"{self.out.name}.old-{os.getpid()}")
        moved = False
        if self.overwrite and os.path.lexists(self.out):
            try:
                os.replace(self.out, aside)
                moved = True
            except FileNotFoundError:  # another writer moved it aside first
                pass
        try:
            os.rename(self.tmp, self.out)
        except OSError as e:  # a dataset got there first (non-empty directory): another writer's
            shutil.rmtree(self.tmp, ignore_errors=True)
            if moved:
                _remove(aside)
            raise BridgeError(f"{self.out}: another process wrote it at the same time; its dataset was kept "
                              f"({e.strerror or e})") from None
        if moved:
            _remove(aside)


def _remove(path: PathLike) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def sweep_stale(out: PathLike) -> list[str]:
    """Remove the temporaries (``OUT.partial-PID``, ``OUT.old-PID``) that writers killed mid-way left next to
    ``out`` — only those whose process is gone. ``OUT.old-PID`` is kept while ``out`` is missing: it is then the
    previous dataset (killed between the two renames of an overwrite). Returns the paths removed."""
    out = Path(out)
    removed = []
    try:
        siblings = list(out.parent.iterdir()) if out.parent.is_dir() else []
    except OSError:
        return removed
    for p in siblings:
        name, _, pid = p.name.rpartition("-")
        if name not in (f"{out.name}.partial", f"{out.name}.old") or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        if name.endswith(".old") and not os.path.lexists(out):
            continue
        _remove(p)
        removed.append(str(p))
    return removed
