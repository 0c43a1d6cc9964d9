"""``bridge bench``: one recipe on several backends in turn, measured the same way, then compared.

Every backend goes through the ``bridge run`` machinery (:func:`bridge.runs.prepare` / :func:`bridge.runs.execute`)
into one bench directory, so each run directory is an ordinary run (``bridge compare`` and ``bridge export`` work
on it). On top, the bench measures what the backends do not report the same way:

* wall time of the backend process, and the **peak resident memory of its whole process tree** (the sum over
  the tree sampled from ``/proc`` twice a second — workers and dataloader processes included — or a single
  process's own high-water mark ``VmHWM`` when that is larger) -> ``run.json["bench"]``;
* when the recipe has ``data.eval``: the trained model is exported (LoRA merged, :mod:`bridge.export`) and scored
  with ``bridge eval --model`` in the backend's environment -> ``run.json["eval"]``.

Progress (current step, loss, elapsed time, memory) is shown while each backend runs, read from the backend's own
log as it grows. The bench directory ends with ``report.html`` (+ ``report.png``) and ``bench.json``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .backends import get_adapter
from .backends.metrics import parse_run
from .compare import config_diff, html_report, load_run, plot_png
from .envs import resolve_python
from .errors import BridgeError, Problem
from .export import export_run
from .recipe import check_backend, load_recipe
from .runs import SMOKE_COMPLETION_TOKENS, execute, prepare, smoke_recipe, write_record

SAMPLE_S = 0.5
SMOKE_EVAL_EPISODES = 2


# -- process-tree memory ------------------------------------------------------------------------------------------

def _ppid_map() -> dict[int, int]:
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: fields after the last ')' are fixed
        rest = stat[stat.rfind(b")") + 2:].split()
        out[int(entry.name)] = int(rest[1])
    return out


def tree_memory(root: int) -> tuple[float, dict[int, float]]:
    """(resident MB summed over every descendant of process ``root`` — ``root`` excluded —, and each
    descendant's own peak resident MB, ``VmHWM``, which catches spikes between two samples)."""
    parents = _ppid_map()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    todo, total, hwm = list(children.get(root, [])), 0.0, {}
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        except OSError:
            continue
        kb = lambda key: int(fields.get(key, b"0 kB").split()[0])  # noqa: E731
        total += kb(b"VmRSS") / 1024
        hwm[pid] = kb(b"VmHWM") / 1024
    return total, hwm


def tree_rss_mb(root: int) -> float:
    """Resident memory (MB) of every descendant of process ``root`` (``root`` itself excluded)."""
    return tree_memory(root)[0]


class Monitor(threading.Thread):
    """While a backend runs: sample the process tree's RSS (peak kept) and report progress from its log."""

    def __init__(self, backend: str, run_dir: Path, total_steps: Optional[int], show: Callable[[str, bool], None]):
        super().__init__(daemon=True)
        self.backend, self.run_dir, self.total, self.show = backend, run_dir, total_steps, show
        self.peak_mb = 0.0
        self._hwm: dict[int, float] = {}
        self.t0 = time.time()
        self._halt = threading.Event()
        self._last = ""

    def run(self) -> None:
        n = 0
        while not self._halt.wait(SAMPLE_S):
            self.sample()
            n += 1
            if n % 4:
                continue
            try:
                rows = [r for r in parse_run(self.backend, self.run_dir).rows if "loss" in r or "reward" in r]
            except Exception:   # a log being written: try again at the next tick
                rows = []
            step = f"step {rows[-1]['step']}" + (f"/{self.total}" if self.total else "") if rows else "starting"
            last = rows[-1] if rows else {}
            value = (f", loss {last['loss']:.4g}" if "loss" in last else "") + (
                f", reward {last['reward']:.4g}" if "reward" in last else "")
            line = f"{self.backend}: {step}{value}, {time.time() - self.t0:.0f} s, RSS peak {self.peak_mb:.0f} MB"
            self.show(line, line.split(",")[0] != self._last.split(",")[0])
            self._last = line

    def sample(self) -> None:
        """Peak = the largest tree sum sampled, or a single process's own high-water mark if larger."""
        if not sys.platform.startswith("linux"):
            return
        total, hwm = tree_memory(os.getpid())
        for pid, mb in hwm.items():
            self._hwm[pid] = max(self._hwm.get(pid, 0.0), mb)
        self.peak_mb = max(self.peak_mb, total, max(self._hwm.values(), default=0.0))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


class _Sink:
    """Where the backend's own output goes during a bench: its backend.log (written by execute) and, verbose,
    stderr."""

    def __init__(self, verbose: bool):
        self.verbose = verbose

    def write(self, s: str) -> int:
        if self.verbose:
            sys.stderr.write(s)
        return len(s)

    def flush(self) -> None:
        if self.verbose:
            sys.stderr.flush()


# -- the bench ----------------------------------------------------------------------------------------------------

@dataclass
class BenchResult:
    out: Path
    runs: list[Path] = field(default_factory=list)
    report: Optional[Path] = None
    png: Optional[Path] = None
    interrupted: bool = False
    summaries: list[dict[str, Any]] = field(default_factory=list)
    not_run: dict[str, str] = field(default_factory=dict)   # backend -> why it did not run


def check_backends(recipe: Any, backends: list[str], smoke: bool, recipe_file: str) -> None:
    """Every reason a backend cannot run this recipe, all at once, before anything runs."""
    problems: list[Problem] = []
    seen = set()
    for b in backends:
        if b in seen:
            problems.append(Problem("--backends", f"{b} is listed twice"))
            continue
        seen.add(b)
        try:
            adapter = get_adapter(b)
            r = smoke_recipe(recipe) if smoke else recipe
            if smoke and not adapter.caps().cpu:
                problems.append(Problem("--backends", f"{b}: cannot train on CPU (--smoke)"))
                continue
            check_backend(r, adapter, recipe_file)
            resolve_python(b, recipe.backend(b).python)
        except BridgeError as e:
            problems.extend(e.problems or [Problem("--backends", f"{b}: {e.message}" + (f" ({e.hint})" if e.hint
                                                                                          else ""))])
    if problems:
        raise BridgeError(f"bench: {len(problems)} problem(s) before anything ran", problems=problems)


def evaluate_run(record: dict[str, Any], run_dir: Path, recipe: Any, profile: str, smoke: bool,
                 echo: Callable[[str], None], dataset: Optional[str] = None, limit: Optional[int] = None,
                 max_new_tokens: Optional[int] = None, save_predictions: Optional[Path] = None,
                 batch_size: Optional[int] = None) -> dict[str, Any]:
    """Export the run's model (LoRA merged, into ``run_dir/export``) and score it on ``dataset`` (default the
    recipe's ``data.eval``) with ``bridge eval --model`` in the backend's environment, prompts and image grid as
    the recipe builds them. Returns ``{"profile", "dataset", "metrics", "counts", "model"}`` or
    ``{"error": ...}``; ``save_predictions`` keeps every completion (JSONL)."""
    model_dir = run_dir / "export"
    try:
        if not model_dir.exists():
            export_run(run_dir, model_dir, merge_lora=True, echo=echo)
    except BridgeError as e:
        return {"error": f"export failed: {e.message}"}
    d = recipe.data
    dataset = str(dataset or d.eval)
    if smoke:
        limit = limit or SMOKE_EVAL_EPISODES
        max_new_tokens = max_new_tokens or SMOKE_COMPLETION_TOKENS
    elif max_new_tokens is None and recipe.method == "grpo" and recipe.grpo is not None:
        max_new_tokens = recipe.grpo.max_completion_length
    argv = [str(record.get("python") or sys.executable), "-m", "bridge.cli", "eval", dataset,
            "--style", d.style, "--profile", profile, "--model", str(model_dir), "--json", "--no-progress",
            "--history", str(d.history), "--think" if d.think else "--no-think",
            "--prev-image" if d.prev_image else "--no-prev-image", "--device", "cpu" if smoke else "auto"]
    if d.min_pixels:
        argv += ["--min-pixels", str(d.min_pixels)]
    if d.max_pixels:
        argv += ["--max-pixels", str(d.max_pixels)]
    if save_predictions:
        argv += ["--save-predictions", str(save_predictions)]
    if batch_size:
        argv += ["--batch-size", str(batch_size)]
    if limit:
        argv += ["--limit", str(limit)]
    if max_new_tokens:
        argv += ["--max-new-tokens", str(max_new_tokens)]
    echo(f"eval: {dataset} ({profile} profile)")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": "bridge eval failed: " + " ".join(proc.stderr.strip().splitlines()[-3:])}
    try:
        rep = json.loads(proc.stdout)
    except ValueError:
        return {"error": "bridge eval printed no JSON report"}
    return {"profile": rep.get("profile"), "dataset": dataset, "metrics": rep.get("metrics"),
            "counts": rep.get("counts"), "model": str(model_dir)}


def bench(recipe_path: str | Path, backends: list[str], out: Optional[Path] = None, smoke: bool = False,
          profile: str = "gui-r1", verbose: bool = False, echo: Callable[[str], None] = print,
          status: Optional[Callable[[str, bool], None]] = None, overrides: tuple[str, ...] = ()) -> BenchResult:
    """Run the recipe on each backend in turn (see the module docstring) and write the comparison.
    ``overrides``: dotted ``key=value`` settings applied to the recipe (:mod:`bridge.overrides`).

    ``status(line, new)`` shows progress (``new``: the step changed); default: ``echo`` on new lines only."""
    if not backends:
        raise BridgeError("--backends: name at least one backend")
    recipe = load_recipe(str(recipe_path), overrides)
    recipe_file = str(Path(recipe_path).resolve())
    check_backends(recipe, backends, smoke, recipe_file)
    out = Path(out) if out else Path("runs") / f"bench-{recipe.name}{'-smoke' if smoke else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    if out.exists() and any(out.iterdir()):
        raise BridgeError(f"{out} already exists and is not empty", hint="choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    show = status or (lambda line, new: echo(line) if new else None)
    result = BenchResult(out)

    total = smoke_recipe(recipe).train.max_steps if smoke else recipe.train.max_steps
    for i, b in enumerate(backends, 1):
        tag = f"[{i}/{len(backends)}] {b}"
        echo(f"{tag}: preparing")
        pre = lambda s, tag=tag: echo(f"{tag}: {s}")  # noqa: E731
        try:
            plan = prepare(recipe, b, out, smoke=smoke, recipe_file=recipe_file, echo=pre)
        except BridgeError as e:
            echo(f"{tag}: cannot prepare: {e.message}")
            result.not_run[b] = e.message
            continue
        result.runs.append(plan.run_dir)
        mon = Monitor(b, plan.run_dir, total, show)
        mon.start()
        t0 = time.time()
        try:
            record = execute(plan, echo=pre, stream=_Sink(verbose))
        except BridgeError as e:
            echo(f"{tag}: {e.message}")
            record = json.loads((plan.run_dir / "run.json").read_text())
        finally:
            mon.stop()
        record["bench"] = {"peak_rss_mb": round(mon.peak_mb, 1), "wall_s": round(time.time() - t0, 2),
                           "order": i, "bench_dir": str(out)}
        write_record(plan.run_dir, record)
        if record.get("status") == "interrupted":
            result.interrupted = True
            echo(f"{tag}: interrupted; the remaining backends are not run")
            break
        if record.get("status") == "ok" and recipe.data.eval:
            record["eval"] = evaluate_run(record, plan.run_dir, recipe, profile, smoke, pre)
            if "error" in record["eval"]:
                echo(f"{tag}: {record['eval']['error']}")
            write_record(plan.run_dir, record)
    views = [load_run(p) for p in result.runs]
    if views:
        result.png = plot_png(views, out / "report.png")
        result.report = html_report(views, out / "report.html", result.png, title=f"bench: {recipe.name}"
                                    + (" (smoke)" if smoke else ""))
    result.summaries = [v.summary() for v in views]
    (out / "bench.json").write_text(json.dumps(
        {"recipe": recipe_file, "backends": backends, "smoke": smoke, "interrupted": result.interrupted,
         "runs": result.summaries, "not_run": result.not_run, "config_diff": config_diff(views)}, indent=2, default=str) + "\n",
        encoding="utf-8")
    return result
