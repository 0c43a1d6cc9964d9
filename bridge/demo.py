"""``bridge demo``: the whole loop on one CPU machine, offline, in minutes — the project's embedded default.

synthetic GUI episodes -> tiny random Qwen2-VL -> TRL SFT (LoRA) -> merged model -> TRL GRPO from it with
bridge rewards -> merged model -> ``bridge eval`` of both on held-out episodes -> compare report (HTML + PNG).

Everything that imports torch runs in the TRL environment (``bridge env install trl``): the tiny model is built
there, training and export run there, and so does the evaluation; the core install only orchestrates. Nothing
is downloaded (no hub, no server). The output directory holds the data, the two recipes (re-runnable with
``bridge run``), the runs, the exported models, the eval reports and ``report.html``.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from . import tiny
from .errors import BridgeError

ARCH = "qwen2_vl"
STYLE = "gui-r1"
PROFILE = "gui-r1"
TRAIN_EPISODES, EVAL_EPISODES = 8, 2
#: demo sizes: chosen so that the whole demo stays well under 10 minutes on 2 CPU cores
SFT_STEPS, GRPO_STEPS = 16, 4
MAX_NEW_TOKENS = 32


@dataclass
class DemoResult:
    out: Path
    report: Path
    png: Path
    runs: list[Path] = field(default_factory=list)
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def trl_python() -> str:
    """The TRL environment's interpreter, or a BridgeError with the exact command that installs it."""
    from .envs import install_command, status

    st = status("trl")
    if st.state != "ok":
        what = "is not installed" if st.state == "missing" else "is out of date"
        raise BridgeError(f"the demo trains with TRL in its own environment, which {what} ({st.path})",
                          hint=f"run: {install_command('trl')}   (once; then `bridge demo` again)")
    return str(st.python)


def sft_recipe(train: Path, model: str) -> dict[str, Any]:
    return {"name": "demo-sft", "model": model,
            "data": {"train": str(train), "style": STYLE, "history": 2},
            "method": "sft",
            # full fine-tuning of the language model at a high rate: a random model's loss visibly falls in
            # a few CPU steps (LoRA on a random base barely moves it)
            "finetune": {"type": "full", "train": {"language_model": True, "vision_tower": False, "projector": False}},
            "train": {"lr": 5e-3, "max_steps": SFT_STEPS, "per_device_batch": 2, "grad_accum": 1,
                      "scheduler": "cosine", "precision": "fp32", "device": "cpu", "logging_steps": 1, "seed": 0}}


def grpo_recipe(train: Path, model: str) -> dict[str, Any]:
    return {"name": "demo-grpo", "model": model,
            "data": {"train": str(train), "style": STYLE, "history": 2},
            "method": "grpo",
            "finetune": {"type": "lora", "rank": 16, "alpha": 32, "dropout": 0.0},
            "train": {"lr": 5e-4, "max_steps": GRPO_STEPS, "per_device_batch": 1, "grad_accum": 1,   # 1 prompt x 4
                      "precision": "fp32", "device": "cpu", "logging_steps": 1, "seed": 0},
            "grpo": {"num_generations": 4, "beta": 0.0, "temperature": 1.0, "max_completion_length": MAX_NEW_TOKENS,
                     "rewards": [{"preset": "gui-r1"},                       # 0.8 accuracy + 0.2 format, as published
                                 {"name": "format", "weight": 0.5},          # parsable action at all
                                 {"name": "gaussian_point", "weight": 0.5}],  # dense: distance to the target box
                     "rollout": {"engine": "hf"}}}


def _write_recipe(path: Path, data: dict[str, Any], title: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {title}\n# Written by `bridge demo`; re-run with: bridge run {path}\n"
                    + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _train(recipe_path: Path, runs: Path, tag: str, echo: Callable[[str], None],
           status: Callable[[str, bool], None]) -> tuple[Path, dict[str, Any], Any]:
    from .bench import Monitor, _Sink
    from .recipe import load_recipe
    from .runs import execute, prepare, write_record

    recipe = load_recipe(str(recipe_path))
    plan = prepare(recipe, "trl", runs, recipe_file=str(recipe_path), echo=lambda s: echo(f"{tag}: {s}"))
    mon = Monitor("trl", plan.run_dir, recipe.train.max_steps, lambda line, new: status(f"{tag}: {line[5:]}", new))
    mon.start()
    try:
        record = execute(plan, echo=lambda s: echo(f"{tag}: {s}"), stream=_Sink(False))
    finally:
        mon.stop()
    record["bench"] = {"peak_rss_mb": round(mon.peak_mb, 1)}   # the process tree's, as bridge bench measures it
    write_record(plan.run_dir, record)
    if record["status"] != "ok":
        raise BridgeError(f"{tag}: TRL {record['status']} (exit code {record.get('return_code')})",
                          hint=f"see {plan.run_dir / 'backend.log'}")
    return plan.run_dir, record, recipe


def run_demo(out: Optional[Path] = None, echo: Callable[[str], None] = print,
             status: Optional[Callable[[str, bool], None]] = None) -> DemoResult:
    """Run the demo into ``out`` (default ``./bridge-demo-<time>``; must be absent or empty). See the module
    docstring for what it writes."""
    from .bench import evaluate_run
    from .compare import html_report, load_run, plot_png
    from .export import export_run
    from .runs import write_record
    from .synth import make_dataset

    t0 = time.time()
    python = trl_python()                              # before anything is written
    out = Path(out) if out else Path(f"bridge-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BridgeError(f"{out} already exists and is not empty", hint="choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    show = status or (lambda line, new: echo(line) if new else None)
    step = lambda i, s: echo(f"[{i}/6] {s}")  # noqa: E731

    step(1, f"synthetic GUI episodes: {TRAIN_EPISODES} to train, {EVAL_EPISODES} held out")
    train = make_dataset(out / "data" / "train", episodes=TRAIN_EPISODES, seed=0, platform="mixed")
    held = make_dataset(out / "data" / "eval", episodes=EVAL_EPISODES, seed=1, platform="mixed", split="test")

    step(2, f"tiny random {ARCH} model, offline")
    tiny.cached_model(ARCH, echo, python=python)   # built in the TRL environment (it has the model stack)

    step(3, f"TRL SFT (language model, full fine-tuning), {SFT_STEPS} steps on CPU")
    sft_path = _write_recipe(out / "recipes" / "sft.yaml", sft_recipe(train, f"tiny:{ARCH}"),
                             "demo step 3: LoRA SFT of the tiny model on the synthetic episodes")
    runs = out / "runs"
    sft_dir, sft_rec, sft = _train(sft_path, runs, "sft", echo, show)
    sft_model = out / "models" / "sft"
    sft_model.parent.mkdir(parents=True, exist_ok=True)
    export_run(sft_dir, sft_model, merge_lora=True, python=python, echo=lambda s: echo(f"sft: {s}"))
    echo(f"sft: model -> {sft_model}")

    step(4, f"TRL GRPO (LoRA) from the SFT model with bridge rewards (gui-r1 + format + gaussian_point), "
            f"{GRPO_STEPS} steps")
    grpo_path = _write_recipe(out / "recipes" / "grpo.yaml", grpo_recipe(train, str(sft_model)),
                              "demo step 4: GRPO from the SFT model with bridge rewards")
    grpo_dir, grpo_rec, grpo = _train(grpo_path, runs, "grpo", echo, show)

    step(5, f"bridge eval of both models on the held-out episodes ({PROFILE} profile)")
    result = DemoResult(out, out / "report.html", out / "report.png", [sft_dir, grpo_dir])
    for name, run_dir, record, recipe in (("sft", sft_dir, sft_rec, sft), ("grpo", grpo_dir, grpo_rec, grpo)):
        if name == "sft":   # reuse the merged SFT model the GRPO run started from
            shutil.copytree(sft_model, run_dir / "export")
        ev = evaluate_run(record, run_dir, recipe, PROFILE, smoke=False, echo=lambda s, n=name: echo(f"{n}: {s}"),
                          dataset=str(held), max_new_tokens=MAX_NEW_TOKENS)
        record["eval"] = ev
        write_record(run_dir, record)
        if "error" in ev:
            raise BridgeError(f"{name}: {ev['error']}")
        result.evals[name] = ev
        (out / f"eval_{name}.json").write_text(json.dumps(ev, indent=2) + "\n", encoding="utf-8")
    shutil.copytree(grpo_dir / "export", out / "models" / "grpo")

    step(6, "compare report")
    views = [load_run(d) for d in result.runs]
    plot_png(views, result.png)
    html_report(views, result.report, result.png, title="demo: SFT then GRPO with TRL on a tiny model")
    result.seconds = time.time() - t0
    (out / "demo.json").write_text(json.dumps(
        {"seconds": round(result.seconds, 1), "runs": [str(p) for p in result.runs], "report": str(result.report),
         "evals": {k: v.get("metrics") for k, v in result.evals.items()}}, indent=2) + "\n",
        encoding="utf-8")
    return result
