"""Where a dataset may read images from: one path policy for every command that opens or sends a screenshot
(``validate``, ``inspect --render``, ``eval --model/--endpoint``, the exporters behind ``convert``/``run``).

A dataset is untrusted input: its records name image paths, its manifest names an ``image_root``, and its
directory may hold symlinks. The policy (documented in docs/format.md §1):

* a path under the dataset directory stays there — *resolved*, not lexically: every symlink met inside the
  dataset (the file itself, or a folder on the way) must lead back into the dataset or into a *declared* root;
* the declared roots are the manifest's ``image_root`` and the folder the dataset was imported from
  (``meta.source_path``, where ``bridge import --images link|symlink`` points its links). They are the user's
  own trees, taken as they are (their own links, e.g. a Hugging Face cache's blobs, are not second-guessed);
  a declared root that is a file-system root (``image_root: "/"``) is refused, as it would let a record name
  any file;
* any other path (absolute, ``..``, or a link leading elsewhere) is refused with the reason.

Lexical checks of the stored strings stay in :func:`bridge.validate.path_problem` (they give the better message
for ``../`` and absolute paths); this module adds what a string cannot tell: where the file system leads.
"""
from __future__ import annotations

import os
from typing import Optional

from .errors import BridgeError, Problem

_MAX_HOPS = 40  # symlinks followed per path before giving up (the kernel's own limit, ELOOP)


def is_fs_root(path: str) -> bool:
    """True for ``/`` (or a drive root): a directory whose parent is itself."""
    real = os.path.realpath(path)
    return os.path.dirname(real) == real


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root if root.endswith(os.sep) else root + os.sep)


class ImagePolicy:
    """The image path policy of one dataset. ``problem(path)`` says why an absolute image path (as
    ``Dataset.image_resolver()`` returns it) may not be read, or None; :meth:`check` raises instead."""

    def __init__(self, root, image_root=None, source_path=None):
        self.root = os.path.abspath(root)
        self.root_real = os.path.realpath(root)
        trusted = []
        for declared in (image_root, source_path):
            if declared and os.path.isabs(str(declared)) and not is_fs_root(str(declared)):
                for form in (os.path.abspath(declared), os.path.realpath(declared)):
                    if form not in trusted:
                        trusted.append(form)
        self.trusted = tuple(trusted)
        self._dirs: dict[str, Optional[str]] = {}  # folder inside the dataset -> problem (None: fine)

    @classmethod
    def of(cls, dataset) -> "ImagePolicy":
        """The policy of a :class:`~bridge.dataset.Dataset`."""
        meta = dataset.manifest.meta or {}
        source = meta.get("source_path") if isinstance(meta.get("source_path"), str) else None
        return cls(dataset.root, dataset.image_root, source)

    def _declared(self, path: str) -> bool:
        return any(_inside(path, t) for t in self.trusted)

    def problem(self, path: str, _hops: int = 0) -> Optional[str]:
        p = os.path.abspath(path)
        in_dataset = _inside(p, self.root) or _inside(p, self.root_real)
        if not in_dataset:
            return None if self._declared(p) else (
                f"resolves outside the dataset and its image root ({p})" if _hops else
                f"outside the dataset and its image root ({p})")
        return self.problem_inside(p, _hops)

    def problem_inside(self, p: str, _hops: int = 0) -> Optional[str]:
        """:meth:`problem` for a path already known to lie lexically inside the dataset (``root`` joined with a
        relative path without ``..``, as :func:`bridge.validate.path_problem` admits): the hot path of
        ``bridge validate`` — a dict lookup and one ``readlink`` per image."""
        folder = os.path.dirname(p)
        why = self._dirs.get(folder, "")
        if why == "":
            real = os.path.realpath(folder)
            why = None if (_inside(real, self.root_real) or self._declared(real)) else \
                f"a folder on its way is a symlink leading outside the dataset (to {real})"
            if len(self._dirs) > 4096:  # bounded: datasets may have a folder per episode
                self._dirs.clear()
            self._dirs[folder] = why
        if why:
            return why
        try:
            target = os.readlink(p)
        except OSError:  # not a symlink (or missing: whoever opens it reports that)
            return None
        if _hops >= _MAX_HOPS:
            return "too many levels of symbolic links"
        nxt = os.path.normpath(os.path.join(folder, target))
        why = self.problem(nxt, _hops + 1)
        if why and not why.startswith("symlink"):
            why = f"symlink {why}" if why.startswith("resolves") else f"symlink: {why}"
        return why

    def check(self, path: str, *, file: Optional[str] = None, record: Optional[str] = None,
              field: Optional[str] = None) -> str:
        """``path`` made absolute, or a located :class:`BridgeError` when the policy refuses it."""
        why = self.problem(path)
        if why:
            where = file or self.root
            raise BridgeError(f"{where}: image path refused by the dataset path policy",
                              [Problem(where, f"image path refused: {why}", record=record, field=field,
                                       expected="an image inside the dataset or its image root", found=path)],
                              hint="images are read only from the dataset, its manifest's image_root and the "
                                   "folder it was imported from (docs/format.md §1)")
        return os.path.abspath(path)


def check_dataset_images(dataset, episodes=None) -> ImagePolicy:
    """Every image path of ``episodes`` (default: all of ``dataset``) checked against the dataset's policy
    before anything is loaded or sent; the first refused path raises a located :class:`BridgeError`."""
    policy, resolve, file = ImagePolicy.of(dataset), dataset.image_resolver(), str(dataset.episodes_path)
    for ep in dataset if episodes is None else episodes:
        for i, st in enumerate(ep.steps):
            for where, rel in (("screenshot", st.screenshot),
                               *((f"extra_images[{k}]", r) for k, r in enumerate(st.extra_images))):
                policy.check(resolve(rel), file=file, record=ep.episode_id, field=f"steps[{i}].{where}")
    return policy
