"""``bridge check``: run a backend's OWN data loading and template encoding on our export, in its environment.

The resize policy (one for every backend, docs/backends.md): each image reaches the model as the grid
``bridge.frames.smart_resize(h, w, factor, min_pixels, max_pixels)`` of its ORIGINAL size, with the recipe's
pixel bounds (or, when the recipe sets none, the bounds of the model's own processor config). Adapters configure
their backend so that its own resize code yields exactly that grid; ``bridge check`` proves it per image.

Protocol for a backend-side check script — ``check.py`` in the backend's package (it runs with the backend
environment's interpreter, by file path; gui-bridge is installed in every backend environment, so the script shares
its prelude, :mod:`bridge.backends.inenv`):

* invoked as ``<python> <script> <request.json>``; the request (see :func:`write_request`) holds ``export``
  (:meth:`ExportResult.to_dict`), ``config`` (role -> rendered config path), ``model`` (local directory),
  ``limit`` (max samples to report in detail, None = all) and ``workdir`` (scratch directory);
* it prints ONE report line ``BRIDGE_CHECK <json>`` (anything else it prints is log) with:
  ``backend``, ``versions`` {dist: version}, ``samples_in`` (rows in the export), ``loaded`` (rows the backend
  kept after its own loading + encoding), ``dropped`` [{index, id, reason}], ``samples`` [{index, id, images
  [paths as the backend resolved them], image_tokens [per image, counted in input_ids], placeholders (images
  announced in the text), input_len, target_tokens}], ``first`` {prompt, target} (decoded; prompt = tokens with
  label -100, target = tokens with a label) and ``errors`` [str].

The bridge side (:func:`evaluate`) compares the report with what the export and the resize policy expect.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .. import tiny
from ..envs import resolve_python
from ..errors import BridgeError
from ..frames import Pixels
from ..images import ImageError, image_size
from ..recipe import Recipe
from . import available_adapters, get_adapter
from .base import ExportResult
from .common import policy_pixels
from .inenv import REPORT_PREFIX

EXPORT_MANIFEST = "export.json"   # written by bridge.runs.export_dataset (bridge convert / run)


def script_path(backend: str) -> Path:
    """The backend-side script of ``backend`` (``check.py`` in its package)."""
    p = get_adapter(backend).check_script()
    if p is None:
        raise BridgeError(f"backend {backend!r} has no check script (check.py in its package)",
                          hint="backends with checks: " + ", ".join(available()))
    return p


def available() -> list[str]:
    """Backends that ship a check script, in registry order."""
    return [n for n, a in available_adapters().items() if a.check_script() is not None]


def local_model(model: str) -> str:
    """A local directory for ``model``: itself, or for ``tiny:<arch>`` the cached build
    (:func:`bridge.tiny.cached_model`)."""
    if model.startswith("tiny:"):
        return str(tiny.cached_model(model.split(":", 1)[1]))
    if not Path(model).is_dir():
        raise BridgeError(f"model {model!r} is not a local directory; bridge check loads its tokenizer and "
                          "processor without any hub access", hint="pass --model /path/to/model")
    return str(Path(model).resolve())


# ---------------------------------------------------------------------------------------------------------
# Export manifest (export.json next to the data)
# ---------------------------------------------------------------------------------------------------------

def write_manifest(export: ExportResult) -> Path:
    """Record an :class:`~bridge.backends.base.ExportResult` as ``export.json`` in its directory (what
    bridge.runs does after an export; for callers that use an adapter's export() directly)."""
    path = Path(export.out) / EXPORT_MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(export.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_manifest(export_dir: str | os.PathLike) -> ExportResult:
    """The :class:`ExportResult` recorded in ``export_dir`` (BridgeError when it is not a bridge export)."""
    path = Path(export_dir) / EXPORT_MANIFEST
    try:
        return ExportResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise BridgeError(f"{export_dir}: not a bridge export (no {EXPORT_MANIFEST})",
                          hint="create one with: bridge convert DATASET --backend B --style S --out DIR") from None
    except (ValueError, KeyError) as e:
        raise BridgeError(f"{path}: unreadable export manifest ({e})") from None


# ---------------------------------------------------------------------------------------------------------
# Running a check script and judging its report
# ---------------------------------------------------------------------------------------------------------

def write_request(path: Path, export: ExportResult, config: dict[str, Path], model: str, limit: Optional[int],
                  workdir: Path, extra: Optional[dict[str, Any]] = None) -> Path:
    req = {"export": export.to_dict(), "config": {k: str(v) for k, v in config.items()}, "model": model,
           "limit": limit, "workdir": str(workdir), **(extra or {})}
    path.write_text(json.dumps(req, indent=2), encoding="utf-8")
    return path


def run_script(python: str, script: Path, request: Path, env: Optional[dict[str, str]] = None,
               log: Optional[Path] = None, timeout: float = 1800) -> dict[str, Any]:
    """Run a check script; return its report. Its other output goes to ``log`` (kept for the user)."""
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.run([python, str(script), str(request)], capture_output=True, text=True, env=full_env,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BridgeError(f"the {script.stem} script did not finish in {timeout:.0f} s") from None
    if log is not None:
        log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(REPORT_PREFIX):
            return json.loads(line[len(REPORT_PREFIX):])
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
    raise BridgeError(f"the {script.stem} script failed (exit {proc.returncode}) without a report",
                      hint=(f"log: {log}\n" if log else "") + tail)


@dataclass
class Verdict:
    """The judged report: ``ok`` iff nothing was dropped and every count matched."""

    report: dict[str, Any]
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def summary(self) -> str:
        r = self.report
        lines = [f"backend {r.get('backend')}: {r.get('loaded')} / {r.get('samples_in')} samples loaded, "
                 f"{len(r.get('dropped', []))} dropped"]
        toks = [t for s in r.get("samples", []) for t in s.get("image_tokens", [])]
        if toks:
            lines.append(f"image tokens per image: min {min(toks)}, max {max(toks)} "
                         f"({len(toks)} images in {len(r.get('samples', []))} samples)")
        first = r.get("first") or {}
        if first:
            lines.append("first sample prompt (decoded, image pads collapsed):")
            lines.append("  " + collapse_pads(first.get("prompt", "")).replace("\n", "\n  "))
            lines.append("first sample target (trained tokens):")
            lines.append("  " + first.get("target", "").replace("\n", "\n  "))
        for d in r.get("dropped", [])[:20]:
            lines.append(f"DROPPED #{d.get('index')} {d.get('id')}: {d.get('reason')}")
        lines += [f"MISMATCH {m}" for m in self.mismatches[:50]]
        if len(self.mismatches) > 50:
            lines.append(f"... and {len(self.mismatches) - 50} more mismatches")
        lines.append("OK" if self.ok else "FAILED")
        return "\n".join(lines)


def collapse_pads(text: str) -> str:
    """Decoded text with each run of ``<|image_pad|>`` shown once with its count: ``<|image_pad|>x10``."""
    return re.sub(r"(?:<\|image_pad\|>)+", lambda m: f"<|image_pad|>x{m.group(0).count('<|image_pad|>')}", text)


def evaluate(report: dict[str, Any], export: ExportResult, pixels: Optional[Pixels]) -> Verdict:
    """Compare a script's report with the export (sample count) and the resize policy (tokens per image)."""
    v = Verdict(report)
    for e in report.get("errors", []):
        v.mismatches.append(f"backend error: {e}")
    if report.get("samples_in") != export.samples:
        v.mismatches.append(f"the backend read {report.get('samples_in')} rows, the export wrote {export.samples}")
    if report.get("dropped"):
        v.mismatches.append(f"{len(report['dropped'])} sample(s) dropped by the backend")
    if report.get("loaded") != export.samples:
        v.mismatches.append(f"{report.get('loaded')} samples survived the backend's loading, expected {export.samples}")
    sizes: dict[str, tuple[int, int]] = {}
    for s in report.get("samples", []):
        where = f"sample #{s.get('index')} {s.get('id')}"
        images, toks = s.get("images", []), s.get("image_tokens", [])
        if s.get("placeholders") is not None and s["placeholders"] != len(images):
            v.mismatches.append(f"{where}: {s['placeholders']} image placeholders for {len(images)} images")
        if len(toks) != len(images):
            v.mismatches.append(f"{where}: {len(toks)} image token runs in input_ids for {len(images)} images")
            continue
        if pixels is None:
            continue
        for path, got in zip(images, toks):
            if path not in sizes:
                try:
                    sizes[path] = image_size(path)
                except ImageError as e:
                    v.mismatches.append(f"{where}: cannot read {path}: {e}")
                    continue
            w, h = sizes[path]
            want = pixels.tokens(w, h)
            if got != want:
                gh, gw = pixels.grid(w, h)
                v.mismatches.append(f"{where}: {path} ({w}x{h}) gave {got} image tokens, the resize policy expects "
                                    f"{want} ({gw}x{gh} px at factor {pixels.factor}, pixels "
                                    f"[{pixels.min_pixels}, {pixels.max_pixels}])")
    return v


_TORCHRUN_VARS = ("NNODES", "NPROC_PER_NODE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "FORCE_TORCHRUN")


def check_recipe(export: ExportResult, model: Optional[str] = None, recipe: Optional[Recipe] = None) -> Recipe:
    """The recipe a check renders with: the given one (its model replaced by ``model`` if given), else a
    minimal one from the export manifest (model, style, and the pixel bounds the export was made with)."""
    if recipe is not None:
        if model:
            recipe = recipe.model_copy(update={"model": model})
        return recipe
    model = model or export.meta.get("model")
    if not model:
        raise BridgeError("this export does not name a model (it was made without a recipe)",
                          hint="pass --model DIR (or --recipe RECIPE.yaml)")
    px = export.meta.get("pixels") or {}
    return Recipe.model_validate({
        "name": "check", "model": model,
        "data": {"train": str(export.out), "style": export.meta.get("style") or "unknown",
                 "min_pixels": px.get("min_pixels"), "max_pixels": px.get("max_pixels")}})


def run_check(backend: Optional[str], export_dir: str | os.PathLike, model: Optional[str] = None,
              recipe: Optional[Recipe] = None, limit: Optional[int] = None,
              workdir: Optional[Path] = None) -> Verdict:
    """Render ``backend``'s config for the export, run its check script in its environment, judge the report.

    ``backend`` None = the backend the export was made for. Raises BridgeError for a missing environment,
    manifest or model; a failed check is a :class:`Verdict` with mismatches (never an exception)."""
    export = read_manifest(export_dir)
    backend = backend or export.meta.get("backend")
    if not backend:
        raise BridgeError(f"{export_dir}: the manifest does not say which backend it is for; pass --backend")
    if export.meta.get("backend") and export.meta["backend"] != backend:
        raise BridgeError(f"{export_dir} is a {export.meta['backend']} export, not {backend}",
                          hint=f"convert the dataset for {backend} first (bridge convert ... --backend {backend})")
    adapter = get_adapter(backend)
    script = script_path(backend)
    recipe = check_recipe(export, model, recipe)
    python = resolve_python(backend, recipe.backend(backend).python)
    local = local_model(recipe.model)
    recipe = recipe.model_copy(update={"model": local})
    pixels = policy_pixels(recipe, export)
    own_tmp = workdir is None
    work = Path(tempfile.mkdtemp(prefix=f"bridge-check-{backend}-")) if own_tmp else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        config = adapter.render_config(recipe, export, work)
        env = {k: v for k, v in adapter.command(recipe, export, work, python).env.items() if k not in _TORCHRUN_VARS}
        request = write_request(work / "check_request.json", export, config, local, limit, work)
        report = run_script(python, script, request, env=env, log=work / "check.log")
        verdict = evaluate(report, export, pixels)
        verdict.report.setdefault("pixels", pixels.to_dict())
        return verdict
    finally:
        if own_tmp:
            shutil.rmtree(work, ignore_errors=True)
