"""Shared run machinery built once on top of the adapter primitives: export (cached by content), smoke
recipes, rendering, launching a backend in its environment, and the run record (docs/recipes.md).

A run directory ``runs/<name>-<backend>-<YYYYmmdd-HHMMSS>/`` holds:

* ``run.json``      — the record: resolved recipe, backend config, versions, command, status, wall time, ...
* ``backend.log``   — everything the backend printed (also streamed to the terminal),
* the rendered config files and reward hook, the backend's own metrics log, ``metrics.jsonl`` (normalised
  rows for ``bridge compare``) and ``output/`` (checkpoints / the trained adapter).

Exports are cached under ``$BRIDGE_HOME/exports/<backend>-<method>-<key>`` where the key hashes the episodes
file(s), the style and its options, the method, the adapter name and version, the smoke limit and the source of
the code that shapes an export (the bridge package, plus a plug-in style's or adapter's own module), so a re-run
with the same data and code reuses the export and changed data or an edited renderer never does
(``bridge run --fresh-export`` rebuilds it regardless).
"""
from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

from . import __version__, tiny
from .backends import get_adapter
from .backends import preflight
from .backends.base import Adapter, ExportResult, LaunchSpec
from .backends.common import make_style, prompt_options
from .backends.metrics import finalize
from .dataset import EPISODES_FILE, Dataset, open_dataset
from .envs import bridge_home, env_python, package_versions, resolve_python
from .errors import BridgeError
from .locks import file_lock
from .recipe import TINY_ARCHS, TINY_PREFIX, Recipe, check_backend, recipe_dump, recipe_overrides
from .progress import iterate
from .samples import ExportReport, build_samples
from .styles import PromptOptions, Style

__all__ = ["RunPlan", "cached_export", "dataset_digest", "execute", "export_dataset", "format_command",
           "make_style", "prepare", "prompt_options", "smoke_recipe", "write_record"]

SMOKE_STEPS = 2
SMOKE_SAMPLES = 16
SMOKE_GENERATIONS = 2
SMOKE_COMPLETION_TOKENS = 24
INTERRUPT_GRACE_S = 30.0     # after forwarding SIGINT, wait this long before SIGTERM
TERMINATE_GRACE_S = 10.0     # then this long before SIGKILL
EXPORT_META = "export.json"


# ---------------------------------------------------------------------------------------------------------------
# exports
# ---------------------------------------------------------------------------------------------------------------

def file_digest(path: Path, h: Optional["hashlib._Hash"] = None) -> str:
    """sha256 of a file, streamed."""
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_digest(root: str | Path) -> str:
    """Content hash of a canonical dataset: its episodes file, plus where its images resolve (exports hold
    absolute image paths: a moved dataset or a re-import from a moved source must not reuse a stale export)."""
    p = Path(root)
    f = p / EPISODES_FILE
    if not f.is_file():
        raise BridgeError(f"{p}: not a canonical dataset (no {EPISODES_FILE})",
                          hint="create one with `bridge import ...` or `bridge synth ...`")
    where = f"{p.absolute()}\0{Dataset(p).image_root}"
    return hashlib.sha256(f"{file_digest(f)}\0{where}".encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def _package_source_digest() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        file_digest(f, h)
    return h.hexdigest()


def code_digest(*objects: object) -> str:
    """sha256 of the source that shapes an export: every module of the bridge package (read once per process),
    plus the defining module of each of ``objects``' classes that lives outside it (a plug-in style or adapter,
    read every time: an edited renderer must never reuse the export of the old one)."""
    h = hashlib.sha256(_package_source_digest().encode())
    root = Path(__file__).resolve().parent
    for obj in objects:
        try:
            src = Path(inspect.getsourcefile(type(obj)) or "").resolve()
        except TypeError:       # a class defined outside any file (built-in, interactive)
            continue
        if src.is_file() and root not in src.parents:
            h.update(str(src).encode() + b"\0")
            file_digest(src, h)
    return h.hexdigest()


def export_key(adapter: Adapter, method: str, train: str, eval_: Optional[str], style: str, options: PromptOptions,
               limit: Optional[int]) -> str:
    """The cache key of one export (see the module docstring)."""
    parts = {"adapter": adapter.name, "adapter_version": adapter.version, "bridge": __version__, "method": method,
             "train": dataset_digest(train), "eval": dataset_digest(eval_) if eval_ else None,
             "style": style, "options": asdict(options), "limit": limit,
             "code": code_digest(adapter, make_style(style, options))}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def export_dataset(adapter: Adapter, dataset: str | Path, style: Style, method: str, out: Path,
                   recipe: Optional[Recipe] = None, limit: Optional[int] = None) -> tuple[ExportResult, ExportReport]:
    """Build samples from ``dataset`` with ``style`` and let ``adapter`` write them to ``out``.

    Returns ``(ExportResult, ExportReport)``. Writes into a temporary sibling renamed into place only on
    success (no partial export is ever left behind); ``out`` must not exist."""
    out = Path(out)
    if out.exists():
        raise BridgeError(f"{out} already exists", hint="choose another --out or remove it")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    report = ExportReport()
    try:
        ds = open_dataset(dataset)
        total = min(ds.manifest.steps, limit or ds.manifest.steps)
        samples: Iterable = iterate(build_samples(ds, style, report), total, f"export {adapter.name}", "step")
        if limit is not None:
            samples = itertools.islice(samples, limit)
        result = adapter.export(samples, tmp, method, recipe)
        result.refused = dict(report.refused)
        if result.samples == 0:
            raise BridgeError(f"{dataset}: no sample to export for style {getattr(style, 'name', style)!r}",
                              hint=report.summary())
        _relocate(result, tmp, out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (out / EXPORT_META).write_text(json.dumps(result.to_dict(), indent=2))
    return result, report


def _relocate(result: ExportResult, old: Path, new: Path) -> None:
    """Point the result's paths at the final directory (files are written under the temporary one)."""
    def move(p: Path) -> Path:
        try:
            return Path(new).absolute() / Path(p).resolve().relative_to(Path(old).resolve())  # adapters may resolve
        except ValueError:
            return Path(p)

    result.out = new
    result.files = {k: move(v) for k, v in result.files.items()}


def cached_export(adapter: Adapter, recipe: Recipe, smoke: bool = False,
                  echo: Callable[[str], None] = print, fresh: bool = False) -> tuple[ExportResult, str, bool]:
    """The export for ``recipe`` on ``adapter``, reused when the same content was exported before (``fresh``:
    rebuilt regardless): ``(export, key, reused)``."""
    options = prompt_options(recipe.data)
    limit = SMOKE_SAMPLES if smoke else None
    key = export_key(adapter, recipe.method, recipe.data.train, recipe.data.eval, recipe.data.style, options, limit)
    root = bridge_home() / "exports" / f"{adapter.name}-{recipe.method}-{key[:16]}"
    # Two runs of one recipe at once: the second waits, then reuses (bridge.locks) instead of losing a rename.
    with file_lock(root.with_name(root.name + ".lock"), f"the export {root.name}", echo=echo):
        if fresh and root.exists():
            echo(f"export: rebuilding {root} (--fresh-export)")
            shutil.rmtree(root)
        return _fill_export(adapter, recipe, smoke, echo, options, limit, key, root)


def _fill_export(adapter: Adapter, recipe: Recipe, smoke: bool, echo: Callable[[str], None],
                 options: PromptOptions, limit: Optional[int], key: str, root: Path) -> tuple[ExportResult, str, bool]:
    """The export entry ``root``: reused when complete, else built beside it and renamed into place.

    Complete-or-absent: everything, ``export.json`` included, is written in ``<root>.build-<pid>`` and the rename is
    the last act, so a crash at any point leaves no entry (and an entry without ``export.json``, from an older
    version, is rebuilt). Called under the entry's lock, so any ``.build-*`` sibling of it is a dead builder's
    leftover and is swept."""
    meta = root / EXPORT_META
    if meta.is_file():
        result = ExportResult.from_dict(json.loads(meta.read_text()))
        if all(Path(p).exists() for p in result.files.values()):
            echo(f"export: reusing {root} ({result.samples} samples)")
            return result, key, True
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    for stale in root.parent.glob(root.name + ".build-*"):
        shutil.rmtree(stale, ignore_errors=True)
    style = make_style(recipe.data.style, options)
    tmp_root = root.with_name(root.name + f".build-{os.getpid()}")
    tmp_root.mkdir()
    try:
        train, report = export_dataset(adapter, recipe.data.train, style, recipe.method, tmp_root / "train",
                                       recipe, limit)
        files = dict(train.files)
        if recipe.data.eval:
            ev, _ = export_dataset(adapter, recipe.data.eval, style, recipe.method, tmp_root / "eval", recipe, limit)
            files["eval"] = ev.files["train"]
        for part in ("train", "eval"):     # each part's own export.json names its final place (bridge check reads it)
            inner = tmp_root / part / EXPORT_META
            if inner.is_file():
                res = ExportResult.from_dict(json.loads(inner.read_text(encoding="utf-8")))
                _relocate(res, tmp_root / part, root / part)
                inner.write_text(json.dumps(res.to_dict(), indent=2), encoding="utf-8")
        train.files = files
        train.meta["smoke"] = smoke
        _relocate(train, tmp_root, root)
        train.out = root
        (tmp_root / EXPORT_META).write_text(json.dumps(train.to_dict(), indent=2))
        tmp_root.rename(root)
    except BaseException:
        shutil.rmtree(tmp_root, ignore_errors=True)
        raise
    refused = ", ".join(f"{k}={v}" for k, v in sorted(report.refused.items()))
    echo(f"export: {train.samples} samples -> {root}" + (f" (refused, style cannot express: {refused})"
                                                          if refused else ""))
    return train, key, False


# ---------------------------------------------------------------------------------------------------------------
# models and smoke recipes
# ---------------------------------------------------------------------------------------------------------------

def resolve_model(recipe: Recipe, echo: Callable[[str], None] = print) -> str:
    """A model reference the backend can load: ``tiny:<arch>`` becomes a built directory (:mod:`bridge.tiny`)."""
    if recipe.is_tiny:
        return str(tiny.cached_model(recipe.model_family(), echo))
    p = Path(recipe.model)
    if p.is_absolute() and not p.exists():
        raise BridgeError(f"model directory not found: {p}", hint="set `model:` to a local directory or a hub id")
    return recipe.model


def smoke_recipe(recipe: Recipe) -> Recipe:
    """The same recipe shrunk to a CPU smoke test: tiny model of the same family (``tiny:<family>``, every family of
    bridge/families.py has one), 2 steps, fp32, one process, small batches and images (that tiny processor's pixel
    limits), few generations."""
    fam = recipe.model_family()
    if fam not in TINY_ARCHS:
        raise BridgeError(f"--smoke: no tiny model for the family of {recipe.model!r} ({fam or 'unknown family'})",
                          hint="tiny families: " + ", ".join(TINY_ARCHS))
    data = recipe.model_dump()
    data["model"] = TINY_PREFIX + fam
    _, _, lo, hi = tiny.PIXELS[fam]   # the tiny processor's own bounds (Qwen3-VL's differ: factor 32)
    data["data"].update(min_pixels=lo, max_pixels=hi)
    t = data["train"]
    # GRPO: per_device_batch counts prompts (x num_generations completions each; bridge.recipe.batch_plan)
    # at most SMOKE_STEPS steps (a recipe asking for fewer keeps its own: the family tests run 1 step)
    steps = min(SMOKE_STEPS, recipe.train.max_steps or SMOKE_STEPS)
    t.update(max_steps=steps, epochs=None, per_device_batch=1 if recipe.method == "grpo" else 2,
             grad_accum=1, precision="fp32",
             gradient_checkpointing=False, logging_steps=1, device="cpu", warmup_ratio=0.0,
             save={"strategy": "end", "steps": None, "total_limit": None})
    data["distributed"].update(nnodes=1, nproc_per_node=1, node_rank=None, deepspeed="none")
    if recipe.method == "grpo":
        g = data["grpo"]
        g.update(num_generations=SMOKE_GENERATIONS, max_completion_length=SMOKE_COMPLETION_TOKENS,
                 max_prompt_length=None)
        g["rollout"].update(engine="hf", tensor_parallel_size=1)
    return Recipe.model_validate(data)


# ---------------------------------------------------------------------------------------------------------------
# the run itself
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class RunPlan:
    """Everything rendered for one run, before launching."""

    recipe: Recipe
    adapter: Adapter
    run_dir: Path
    export: ExportResult
    export_key: str
    configs: dict[str, Path]
    reward_hook: Optional[Path]
    launch: LaunchSpec
    python: str
    smoke: bool
    recipe_file: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)   # command-line key=value settings (bridge.overrides)
    resumed_from: Optional[str] = None   # the checkpoint `bridge run --resume` continues from

    def record(self) -> dict[str, Any]:
        spec = self.launch
        return {
            "name": self.recipe.name, "backend": self.adapter.name, "method": self.recipe.method,
            "status": "prepared", "smoke": self.smoke, "recipe_file": self.recipe_file, "overrides": self.overrides,
            "recipe": recipe_dump(self.recipe), "bridge_version": __version__,
            "export": {**self.export.to_dict(), "key": self.export_key},
            "backend_config": {role: _read_config(p) for role, p in self.configs.items()},
            "config_files": {role: str(p) for role, p in self.configs.items()},
            "reward_hook": str(self.reward_hook) if self.reward_hook else None,
            "python": self.python, "command": list(spec.argv), "env": dict(spec.env), "bin_dir": spec.bin_dir,
            "cwd": str(spec.cwd) if spec.cwd else None,
            "output_dir": str(self.adapter.output_dir(self.run_dir)),
            "metrics_log": _str(self.adapter.metrics_log(self.run_dir)),
            "metrics": str(self.run_dir / "metrics.jsonl"),
            "effective": {**effective_settings(self.recipe, self.export), **self.adapter.effective(self.recipe)},
            "notes": self.notes, "resumed_from": self.resumed_from,
        }


def _str(p: Optional[Path]) -> Optional[str]:
    return str(p) if p is not None else None


def _read_config(path: Path) -> Any:
    """A rendered config as data when it parses (YAML/JSON), else its text."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except Exception:
        return text


def effective_settings(recipe: Recipe, export: ExportResult) -> dict[str, Any]:
    """The settings ``bridge compare`` diffs between runs (one flat dict)."""
    t, ft, d = recipe.train, recipe.finetune, recipe.distributed
    frame = export.meta.get("frame") or {}    # the style's frame when the recipe leaves pixels to the style
    out = {
        "model": recipe.model, "method": recipe.method, "style": recipe.data.style,
        "samples": export.samples, "lr": t.lr, "epochs": t.epochs, "max_steps": t.max_steps,
        "effective_batch": t.per_device_batch * t.grad_accum * d.world_size,
        "precision": t.precision, "finetune": ft.type,
        "lora_rank": ft.rank if ft.type == "lora" else None, "lora_alpha": ft.lora_alpha if ft.type == "lora" else None,
        "lora_targets": ft.target_modules if ft.type == "lora" else None,
        "trains": [k for k, v in ft.train.model_dump().items() if v],
        "min_pixels": recipe.data.min_pixels or frame.get("min_pixels"),
        "max_pixels": recipe.data.max_pixels or frame.get("max_pixels"),
        "nodes_x_procs": f"{d.nnodes}x{d.nproc_per_node}", "deepspeed": d.deepspeed,
    }
    g = recipe.grpo
    if recipe.method == "grpo" and g is not None:
        out.update({"num_generations": g.num_generations, "beta": g.beta, "temperature": g.temperature,
                    "max_completion_length": g.max_completion_length, "loss_type": g.loss_type,
                    "rewards": [f"{r.label}*{r.weight:g}" for r in g.rewards], "rollout": g.rollout.engine})
    return out


def new_run_dir(runs_dir: Path, name: str, backend: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir).resolve() / f"{name}-{backend}-{stamp}"
    run_dir, n = base, 1
    while run_dir.exists():
        n += 1
        run_dir = base.with_name(f"{base.name}-{n}")
    run_dir.mkdir(parents=True)
    return run_dir


def prepare(recipe: Recipe, backend: str, runs_dir: Path, smoke: bool = False, dry_run: bool = False,
            recipe_file: Optional[str] = None, echo: Callable[[str], None] = print,
            fresh_export: bool = False) -> RunPlan:
    """Check, export (cached; ``fresh_export``: rebuilt), render and build the command for one run; nothing is
    launched."""
    adapter = get_adapter(backend)
    overrides = recipe_overrides(recipe)
    if smoke:
        recipe = smoke_recipe(recipe)
        if not adapter.caps().cpu:
            raise BridgeError(f"--smoke: backend {backend!r} cannot train on CPU", hint="run it on a GPU machine")
    check_backend(recipe, adapter, recipe_file or "<recipe>")
    notes: list[str] = []
    override = recipe.backend(backend).python
    try:
        python = resolve_python(backend, override)
    except BridgeError as e:
        if not dry_run:
            raise
        python = str(env_python(backend))
        notes.append(f"environment not ready: {e.message}; {e.hint or ''}".strip())
    model = resolve_model(recipe, echo)
    recipe = recipe.model_copy(update={"model": model})
    export, key, _ = cached_export(adapter, recipe, smoke=smoke, echo=echo, fresh=fresh_export)
    notes += frame_notes(make_style(recipe.data.style, prompt_options(recipe.data)), recipe.data.train)
    run_dir = new_run_dir(runs_dir, recipe.name + ("-smoke" if smoke else ""), backend)
    configs = adapter.render_config(recipe, export, run_dir)
    hook = adapter.reward_hook(recipe, run_dir) if recipe.method == "grpo" else None
    spec = with_bin_dir(adapter.command(recipe, export, run_dir, python), python)
    plan = RunPlan(recipe, adapter, run_dir, export, key, configs, hook, spec, python, smoke, recipe_file, notes,
                   overrides)
    write_record(run_dir, plan.record())
    return plan


def with_bin_dir(spec: LaunchSpec, python: str) -> LaunchSpec:
    """``spec`` with the folder of the environment's interpreter first on PATH (:attr:`LaunchSpec.bin_dir`)."""
    if spec.bin_dir is None and os.path.isabs(python):
        spec.bin_dir = os.path.dirname(python)
    return spec


def frame_notes(style: Style, dataset: str, most: int = 3) -> list[str]:
    """The style's :meth:`~bridge.styles.base.Style.frame_note` for each screenshot size of ``dataset`` that has
    one (the first ``most`` sizes, then a count), for the run record and the terminal."""
    if type(style).frame_note is Style.frame_note:
        return []
    sizes = sorted({(s.width, s.height) for ep in open_dataset(dataset) for s in ep.steps})
    notes = [n for n in (style.frame_note(w, h) for w, h in sizes) if n]
    return notes[:most] + ([f"... and {len(notes) - most} more screenshot sizes whose frames differ"]
                           if len(notes) > most else [])


def resume_plan(run_dir: Path, echo: Callable[[str], None] = print) -> RunPlan:
    """The plan that continues an interrupted or failed run in ``run_dir`` from its last checkpoint, with the
    backend's own resume (:meth:`Adapter.resume`); the same recipe, export, environment and directory."""
    record = _previous_record(run_dir)
    if not record:
        raise BridgeError(f"{run_dir}: not a run directory (no readable run.json)", hint="list runs: bridge runs")
    if record.get("status") in ("ok", "dry-run", "running"):
        raise BridgeError(f"{run_dir}: the run's status is {record.get('status')!r}; only an interrupted or failed "
                          "run resumes")
    adapter = get_adapter(str(record.get("backend")))
    if not adapter.caps().resume:
        adapter.resume(run_dir, {}, run_dir)   # raises: the backend has no resume
    checkpoint = adapter.last_checkpoint(run_dir)
    if checkpoint is None:
        raise BridgeError(f"{run_dir}: backend {adapter.name!r} saved no checkpoint in {adapter.output_dir(run_dir)}",
                          hint="checkpoints are saved every train.save.steps with train.save.strategy: steps")
    recipe = Recipe.model_validate(record["recipe"])
    export = ExportResult.from_dict(record["export"])
    configs = {role: Path(p) for role, p in (record.get("config_files") or {}).items()}
    adapter.resume(run_dir, configs, checkpoint)
    python = str(record.get("python"))
    spec = with_bin_dir(adapter.command(recipe, export, run_dir, python), python)
    echo(f"resuming {run_dir.name} on {adapter.name} from {checkpoint}")
    hook = Path(record["reward_hook"]) if record.get("reward_hook") else None
    return RunPlan(recipe, adapter, Path(run_dir), export, record["export"].get("key", ""), configs, hook, spec,
                   python, bool(record.get("smoke")), record.get("recipe_file"), list(record.get("notes") or []),
                   list(record.get("overrides") or []), str(checkpoint))


def _previous_record(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    """Write run.json atomically (a reader never sees half a record)."""
    tmp = Path(run_dir) / ".run.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    tmp.replace(Path(run_dir) / "run.json")


def launch_env(spec: LaunchSpec) -> dict[str, str]:
    """The backend's process environment: ours, the spec's additions, its environment's bin folder first on PATH."""
    env = {**os.environ, **spec.env}
    if spec.bin_dir:
        env["PATH"] = spec.bin_dir + os.pathsep + env.get("PATH", os.defpath)
    return env


def format_command(spec: LaunchSpec) -> str:
    """The launch command as a copy-pasteable shell line (display only: never executed through a shell)."""
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in spec.env.items())
    if spec.bin_dir:
        env = (f'PATH={shlex.quote(spec.bin_dir)}:"$PATH" ' + env).strip()
    cd = f"cd {shlex.quote(str(spec.cwd))} && " if spec.cwd else ""
    return cd + (env + " " if env else "") + " ".join(shlex.quote(a) for a in spec.argv)


def execute(plan: RunPlan, echo: Callable[[str], None] = print, stream=None) -> dict[str, Any]:
    """Launch the backend, stream its output to ``stream`` (default stdout) and backend.log, and finish the record.

    Ctrl-C (SIGINT) is forwarded to the backend's process group; if it has not exited after
    :data:`INTERRUPT_GRACE_S` it is terminated (then killed). The record's status is ``ok``, ``failed`` or
    ``interrupted``."""
    stream = stream or sys.stdout
    record = plan.record()
    try:
        plan.adapter.preflight(plan.recipe, plan.python)   # the machine first (a GPU), then its environment
        preflight.check(plan.adapter.name, plan.python, plan.adapter.requires(plan.recipe))
    except BridgeError:
        record.update(status="refused")
        write_record(plan.run_dir, record)
        raise
    record["versions"] = {"gui-bridge": __version__,
                          **package_versions(plan.python, list(plan.adapter.packages))}
    spec = plan.launch
    env = launch_env(spec)
    log_path = plan.run_dir / "backend.log"
    t0 = time.time()
    if plan.resumed_from:   # the log goes on after the interrupted part; the first start stays the start
        previous = _previous_record(plan.run_dir)
        record.update(started_at=previous.get("started_at"), resumes=int(previous.get("resumes") or 0) + 1)
    record.update(status="running", backend_log=str(log_path),
                  started_at=record.get("started_at") or time.strftime("%Y-%m-%dT%H:%M:%S"))
    write_record(plan.run_dir, record)
    interrupted = False
    clock: list[float] = []          # arrival of each per-logging-step line, s after launch (one definition)
    proc: Optional[subprocess.Popen] = None

    def forward(signum, frame):
        nonlocal interrupted
        if proc is None:              # before the backend exists: stop here
            raise KeyboardInterrupt
        if interrupted:               # a second Ctrl-C: do not wait for a clean stop
            _signal_group(proc, signal.SIGTERM)
            return
        interrupted = True
        _signal_group(proc, signal.SIGINT)
        threading.Thread(target=_escalate, args=(proc,), daemon=True).start()

    with open(log_path, "a" if plan.resumed_from else "w", encoding="utf-8", errors="replace") as log:
        # Installed before the backend starts: a handled signal is reset to its default in the child, while an
        # ignored one (we run as a background job of a non-interactive shell: `cmd &` ignores SIGINT) would be
        # inherited, and the backend would train on through the Ctrl-C we forward.
        old = signal.signal(signal.SIGINT, forward)
        try:
            try:
                # Own session: the terminal's Ctrl-C reaches only us, and we decide how the backend stops.
                proc = subprocess.Popen(spec.argv, env=env, cwd=str(spec.cwd) if spec.cwd else None,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                record.update(status="failed", error=f"cannot start the backend: {e}", wall_time_s=0.0)
                write_record(plan.run_dir, record)
                raise BridgeError(f"cannot start the backend: {e}") from None
            assert proc.stdout is not None
            for raw in iter(proc.stdout.readline, b""):   # EOF when the backend (and its children) exit
                line = raw.decode("utf-8", errors="replace")
                if plan.adapter.log_line.search(line):
                    clock.append(round(time.time() - t0, 3))
                log.write(line)
                log.flush()
                stream.write(line)
                stream.flush()
            rc = proc.wait()
        finally:
            signal.signal(signal.SIGINT, old)
    wall = time.time() - t0
    status = "interrupted" if interrupted else ("ok" if rc == 0 else "failed")
    record.update(status=status, return_code=rc, wall_time_s=round(wall, 2),
                  finished_at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                  step_clock=step_clock(clock, plan.recipe.train.logging_steps))
    for p in sorted(plan.run_dir.glob("*_resolved.json")):   # what the backend resolved, read back by it
        try:
            record.setdefault("resolved", {})[p.stem] = json.loads(p.read_text())
        except ValueError:
            pass
    # the one metrics path: the backend's own log parser, once -> metrics.jsonl, record["effective"]
    metrics = finalize(plan.run_dir, record).rows
    peak = lambda key: max((r[key] for r in metrics if isinstance(r.get(key), (int, float))), default=None)  # noqa: E731
    record.update(steps_logged=len(metrics), peak_rss_mb=peak("host_mem_mb"), peak_gpu_mem_mb=peak("gpu_mem_mb"))
    write_record(plan.run_dir, record)
    echo(f"run {status} (exit code {rc}, {wall:.1f} s) -> {plan.run_dir}")
    return record


def step_clock(times: list[float], logging_steps: int, skip: int = 1) -> dict[str, Any]:
    """Step time on bridge's clock, the same definition for every backend: the arrival times (s after launch)
    of the backend's per-logging-step lines (:attr:`Adapter.log_line`), and ``step_time_s`` = the time from the
    ``skip``-th of them to the last over the steps in between, so model loading, trainer construction and the first
    ``skip`` (warm-up) logging steps are left out. None until there are ``skip + 1`` lines (``skip`` >= 1)."""
    out: dict[str, Any] = {"logging_steps": logging_steps, "skip": skip, "times_s": times, "step_time_s": None}
    if len(times) > skip >= 1:
        out["step_time_s"] = round((times[-1] - times[skip - 1]) / ((len(times) - skip) * logging_steps), 4)
    return out


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _escalate(proc: subprocess.Popen) -> None:
    """After SIGINT: wait :data:`INTERRUPT_GRACE_S`, then SIGTERM, then SIGKILL the backend's process group."""
    for sig, grace in ((signal.SIGTERM, INTERRUPT_GRACE_S), (signal.SIGKILL, TERMINATE_GRACE_S)):
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            _signal_group(proc, sig)
