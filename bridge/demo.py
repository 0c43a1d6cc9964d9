"""``bridge demo``: the whole loop on one CPU machine, offline, in minutes — and it shows learning.

A learnable synthetic task (:mod:`bridge.learnable`: click the red button of a 2x2 grid, swipe the way an
arrow points, type, back, finish; 112x112 screens) -> tiny random Qwen2.5-VL -> TRL SFT in two stages (the first
stage's model is the deliberately under-trained start of GRPO) -> TRL GRPO with bridge rewards on the 4 click
screens -> the *blind
baseline* (the same SFT on the same episodes with blanked screens) -> ``bridge eval`` of every model on held-out
episodes -> report (HTML + PNG) that says in words what improved, draws held-out predictions on their screens and
warns when GRPO had no learning signal.

Everything that imports torch runs in the TRL environment (``bridge env install trl``); the core install only
orchestrates. Nothing is downloaded. The output directory holds the data, the recipes (re-runnable with
``bridge run``), the runs, the exported models, the eval reports, ``demo.json`` and ``report.html``.
"""
from __future__ import annotations

import html
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

from .errors import BridgeError
from .learnable import click_chance, make_click_set, make_grid_dataset

ARCH = "qwen2_5_vl"              # the family of compact's frame (UI-TARS-1.5 is a Qwen2.5-VL): no mismatch to opt into
STYLE = "compact"               # UI-TARS's action grammar, one-line prompt: few tokens per step on CPU
PROFILE = "androidcontrol"      # type + point within the (1.2x) target box, swipe direction, text
TRAIN_EPISODES, EVAL_EPISODES = 1024, 64
#: demo sizes: chosen so that the whole demo stays under 10 minutes on 2 CPU cores (docs/demo.md)
SFT1_STEPS, SFT2_STEPS, GRPO_STEPS = 80, 220, 16
GRID = 2                        # 4 target positions: learnt within the budget (docs/demo.md)
COLOURS = ("red",)               # one target colour: grounded in ~100 steps, four colours take ~200 (docs/demo.md)
CLICK_CHANCE = click_chance(GRID)
BATCH = 8
MAX_NEW_TOKENS = 32
PIXELS = {"min_pixels": 3136, "max_pixels": 12544}   # 112x112 screens stay 112x112: 16 image tokens


@dataclass
class DemoResult:
    out: Path
    report: Path
    png: Path
    runs: list[Path] = field(default_factory=list)
    evals: dict[str, dict[str, Any]] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
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


def _data(train: Path) -> dict[str, Any]:
    return {"train": str(train), "style": STYLE, "history": 0, **PIXELS}


def sft_recipe(train: Path, model: str, steps: int = SFT1_STEPS, name: str = "demo-sft") -> dict[str, Any]:
    # Full fine-tuning of every part at a constant, high rate: the tiny model learns where to click in a few
    # hundred CPU steps (docs/demo.md has the measurements behind these numbers).
    return {"name": name, "model": model, "data": _data(train), "method": "sft",
            "finetune": {"type": "full", "train": {"language_model": True, "vision_tower": True, "projector": True}},
            "train": {"lr": 3e-3, "max_steps": steps, "per_device_batch": BATCH, "grad_accum": 1,
                      "scheduler": "constant", "weight_decay": 0.0, "precision": "fp32", "device": "cpu",
                      "logging_steps": 5, "seed": 0}}


def grpo_recipe(train: Path, model: str) -> dict[str, Any]:
    # ``train``: the click set (every distinct click screen once), so each step scores the same 4 prompts and the
    # mean reward follows the policy; lr 1e-3: 1e-4 moved it too little in 16 steps, 3e-3 collapses (docs/demo.md)
    return {"name": "demo-grpo", "model": model, "data": _data(train), "method": "grpo",
            "finetune": {"type": "full", "train": {"language_model": True, "vision_tower": True, "projector": True}},
            "train": {"lr": 1e-3, "max_steps": GRPO_STEPS, "per_device_batch": 4, "grad_accum": 1,  # 4 prompts x 8
                      "scheduler": "constant", "weight_decay": 0.0, "precision": "fp32", "device": "cpu",
                      "logging_steps": 1, "seed": 0},
            "grpo": {"num_generations": 8, "beta": 0.0, "temperature": 1.0, "max_completion_length": MAX_NEW_TOKENS,
                     "rewards": [{"name": "action_match"},                    # step success, as the eval judges it
                                 {"name": "format", "weight": 0.2},           # parsable action at all
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


def _export(run_dir: Path, dest: Path, python: str, echo: Callable[[str], None], tag: str) -> Path:
    from .export import export_run

    dest.parent.mkdir(parents=True, exist_ok=True)
    export_run(run_dir, dest, merge_lora=True, python=python, echo=lambda s: echo(f"{tag}: {s}"))
    shutil.copytree(dest, run_dir / "export")       # where evaluate_run looks
    return dest


def no_signal_share(rows: list[dict[str, Any]]) -> Optional[float]:
    """Share of logged GRPO steps whose groups all had equal rewards (no advantage, no learning signal):
    TRL's ``frac_reward_zero_std`` when logged, else ``reward_std == 0``. None without reward rows."""
    flags = []
    for row in rows:
        if row.get("frac_reward_zero_std") is not None:
            flags.append(float(row["frac_reward_zero_std"]) >= 1.0)
        elif row.get("reward_std") is not None:
            flags.append(float(row["reward_std"]) == 0.0)
    return sum(flags) / len(flags) if flags else None


def _rewards(rows: list[dict[str, Any]]) -> list[float]:
    return [float(r["reward"]) for r in rows if r.get("reward") is not None]


def reward_trend(rewards: list[float]) -> str:
    """The mean reward of the first half of the steps against the last half, judged against its own noise: a change
    under two standard errors of the difference is reported as no clear change (each step's mean is over a few
    prompts of different kinds, so one step's reward mostly says which prompts it drew)."""
    k = max(1, len(rewards) // 2)
    first, last = rewards[:k], rewards[-k:]
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    var = lambda xs: sum((x - mean(xs)) ** 2 for x in xs) / max(1, len(xs) - 1)  # noqa: E731
    se = (var(first) / len(first) + var(last) / len(last)) ** 0.5
    a, b = mean(first), mean(last)
    verdict = ("rose" if b - a > 2 * se else "fell" if a - b > 2 * se else "no clear change") if se > 0 else (
        "rose" if b > a else "fell" if a > b else "no change")
    return f"mean reward {a:.2f} over its first {k} step(s) -> {b:.2f} over its last {k} ({verdict}; ±{2 * se:.2f})"


def findings(evals: dict[str, dict[str, Any]], grpo_rows: list[dict[str, Any]]) -> list[str]:
    """What the demo shows, in words (printed and at the top of the report)."""
    m = {k: v.get("metrics") or {} for k, v in evals.items()}
    pct = lambda v: "n/a" if v is None else f"{100 * v:.0f} %"   # noqa: E731
    out = [f"SFT lifted held-out step success from {pct(m['sft-early'].get('step_success'))} (after "
           f"{SFT1_STEPS} steps) to {pct(m['sft'].get('step_success'))} (after {SFT1_STEPS + SFT2_STEPS}); "
           f"parse failures {pct(m['sft'].get('parse_failure_rate'))}.",
           f"Click accuracy (point in the target box, {GRID * GRID} possible positions, chance "
           f"{pct(CLICK_CHANCE)}): {pct(m['sft'].get('grounding_accuracy'))} with screens, "
           f"{pct(m['blind'].get('grounding_accuracy'))} for the blind baseline (the same training on blanked "
           f"screens) — the model reads the pixels."]
    r = _rewards(grpo_rows)
    if r:
        hits = [float(x["reward/action_match"]) for x in grpo_rows if x.get("reward/action_match") is not None]
        k = max(1, len(hits) // 2)
        hit = (f"; its completions' click success {pct(sum(hits[:k]) / k)} -> {pct(sum(hits[-k:]) / k)}"
               if hits else "")
        out.append(f"GRPO from the {SFT1_STEPS}-step SFT model on the {GRID * GRID * len(COLOURS)} click screens: "
                   f"{reward_trend(r)}{hit}; held-out step success {pct(m['sft-early'].get('step_success'))} -> "
                   f"{pct(m['grpo'].get('step_success'))}, clicks {pct(m['sft-early'].get('grounding_accuracy'))} "
                   f"-> {pct(m['grpo'].get('grounding_accuracy'))}.")
    share = no_signal_share(grpo_rows)
    if share is not None and share > 0.5:
        out.append(f"WARNING: GRPO had no learning signal in {100 * share:.0f} % of its steps (every completion "
                   f"of a group scored the same, so every advantage was 0).")
    return out


def draw_predictions(dataset: Path, predictions: Path, out: Path, style: str = STYLE, n: int = 8) -> Path:
    """A strip of held-out screens: target box (green) and predicted point (red cross), first ``n`` click steps."""
    from PIL import Image, ImageDraw

    from .dataset import open_dataset
    from .metrics.predictions import read_predictions
    from .styles import PromptOptions, get_style

    preds = read_predictions(predictions)
    st = get_style(style, PromptOptions(history=0, **PIXELS))
    ds = open_dataset(dataset)
    tiles = []
    for ep in ds:
        step = ep.steps[0]
        if step.action.type != "click" or len(tiles) >= n:
            continue
        img = Image.open(ds.image_path(step.screenshot)).convert("RGB").resize((step.width * 2, step.height * 2))
        d = ImageDraw.Draw(img)
        d.rectangle([2 * v for v in step.action.bbox], outline=(0, 160, 0), width=3)
        parsed = st.parse_action(preds.get(f"{ep.episode_id}/0", ""), step.width, step.height)
        if parsed.ok and parsed.action.point is not None:
            x, y = (2 * v for v in parsed.action.point)
            d.line([x - 7, y - 7, x + 7, y + 7], fill=(220, 0, 0), width=3)
            d.line([x - 7, y + 7, x + 7, y - 7], fill=(220, 0, 0), width=3)
        tiles.append(img)
    strip = Image.new("RGB", (max(1, sum(t.width for t in tiles) + 4 * len(tiles)), max([t.height for t in tiles] + [1])),
                      (255, 255, 255))
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width + 4
    strip.save(out)
    return out


def run_demo(out: Optional[Path] = None, echo: Callable[[str], None] = print,
             status: Optional[Callable[[str, bool], None]] = None) -> DemoResult:
    """Run the demo into ``out`` (default ``./bridge-demo-<time>``; must be absent or empty). See the module
    docstring for what it writes."""
    import base64

    from . import tiny
    from .bench import evaluate_run
    from .compare import html_report, load_run, plot_png
    from .runs import write_record

    t0 = time.time()
    python = trl_python()                              # before anything is written
    out = Path(out) if out else Path(f"bridge-demo-{time.strftime('%Y%m%d-%H%M%S')}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BridgeError(f"{out} already exists and is not empty", hint="choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    out = out.resolve()
    show = status or (lambda line, new: echo(line) if new else None)
    step = lambda i, s: echo(f"[{i}/7] {s}")  # noqa: E731

    step(1, f"learnable synthetic screens: {TRAIN_EPISODES} to train (and the same blanked), {EVAL_EPISODES} "
            f"held out, the {GRID * GRID * len(COLOURS)} click screens GRPO trains on")
    train = make_grid_dataset(out / "data" / "train", episodes=TRAIN_EPISODES, seed=0, grid=GRID, colours=COLOURS)
    blind = make_grid_dataset(out / "data" / "train-blind", episodes=TRAIN_EPISODES, seed=0, blind=True, grid=GRID,
                              colours=COLOURS)
    held = make_grid_dataset(out / "data" / "eval", episodes=EVAL_EPISODES, seed=1, split="test", grid=GRID,
                             colours=COLOURS)
    clicks = make_click_set(out / "data" / "grpo-clicks", grid=GRID, colours=COLOURS)

    step(2, f"tiny random {ARCH} model, offline")
    tiny.cached_model(ARCH, echo, python=python)   # built in the TRL environment (it has the model stack)
    runs, models = out / "runs", out / "models"
    recipes = out / "recipes"

    step(3, f"TRL SFT stage 1: {SFT1_STEPS} steps (this model is GRPO's deliberately under-trained start)")
    p = _write_recipe(recipes / "sft-early.yaml", sft_recipe(train, f"tiny:{ARCH}", SFT1_STEPS, "demo-sft-early"),
                      "demo step 3: full SFT of the tiny model, stage 1")
    early_dir, early_rec, early = _train(p, runs, "sft-early", echo, show)
    early_model = _export(early_dir, models / "sft-early", python, echo, "sft-early")

    step(4, f"TRL SFT stage 2: {SFT2_STEPS} more steps from stage 1")
    p = _write_recipe(recipes / "sft.yaml", sft_recipe(train, str(early_model), SFT2_STEPS, "demo-sft"),
                      "demo step 4: full SFT, stage 2 (continues from stage 1's model)")
    sft_dir, sft_rec, sft = _train(p, runs, "sft", echo, show)
    _export(sft_dir, models / "sft", python, echo, "sft")

    step(5, f"blind baseline: the same {SFT1_STEPS + SFT2_STEPS} SFT steps on the same episodes, screens blanked")
    p = _write_recipe(recipes / "sft-blind.yaml",
                      sft_recipe(blind, f"tiny:{ARCH}", SFT1_STEPS + SFT2_STEPS, "demo-sft-blind"),
                      "demo step 5: the blind baseline (same SFT, blank screens)")
    blind_dir, blind_rec, blind_recipe = _train(p, runs, "blind", echo, show)
    _export(blind_dir, models / "sft-blind", python, echo, "blind")

    step(6, f"TRL GRPO from the stage-1 model on the click screens with bridge rewards (action_match + format + "
            f"gaussian_point), {GRPO_STEPS} steps")
    p = _write_recipe(recipes / "grpo.yaml", grpo_recipe(clicks, str(early_model)),
                      "demo step 6: GRPO from the under-trained SFT model with bridge rewards")
    grpo_dir, grpo_rec, grpo = _train(p, runs, "grpo", echo, show)
    _export(grpo_dir, models / "grpo", python, echo, "grpo")

    step(7, f"bridge eval of every model on the held-out episodes ({PROFILE} profile), report")
    result = DemoResult(out, out / "report.html", out / "report.png", [early_dir, sft_dir, blind_dir, grpo_dir])
    for name, run_dir, record, recipe in (("sft-early", early_dir, early_rec, early), ("sft", sft_dir, sft_rec, sft),
                                          ("blind", blind_dir, blind_rec, blind_recipe),
                                          ("grpo", grpo_dir, grpo_rec, grpo)):
        ev = evaluate_run(record, run_dir, recipe, PROFILE, smoke=False, echo=lambda s, n=name: echo(f"{n}: {s}"),
                          dataset=str(held), max_new_tokens=MAX_NEW_TOKENS,
                          save_predictions=out / f"predictions_{name}.jsonl", batch_size=16)
        record["eval"] = ev
        write_record(run_dir, record)
        if "error" in ev:
            raise BridgeError(f"{name}: {ev['error']}")
        result.evals[name] = ev
        (out / f"eval_{name}.json").write_text(json.dumps(ev, indent=2) + "\n", encoding="utf-8")

    views = [load_run(d) for d in result.runs]
    result.findings = findings(result.evals, views[-1].metrics)
    for line in result.findings:
        echo(line)
    strips = {name: draw_predictions(held, out / f"predictions_{name}.jsonl", out / f"predictions_{name}.png")
              for name in ("sft", "blind")}
    plot_png(views, result.png)
    intro = ("<h2>What the demo shows</h2><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in result.findings)
             + "</ul><h2>Held-out predictions</h2><p>Target box green, predicted point red.</p>"
             + "".join(f"<h3>{html.escape(name)}</h3><img alt='{name} predictions' src='data:image/png;base64,"
                       f"{base64.b64encode(path.read_bytes()).decode()}'>" for name, path in strips.items()))
    html_report(views, result.report, result.png, title="demo: SFT, blind baseline and GRPO with TRL on a tiny model",
                intro_html=intro)
    result.seconds = time.time() - t0
    (out / "demo.json").write_text(json.dumps(
        {"seconds": round(result.seconds, 1), "runs": [str(p) for p in result.runs], "report": str(result.report),
         "findings": result.findings, "click_chance": CLICK_CHANCE,
         "evals": {k: v.get("metrics") for k, v in result.evals.items()}}, indent=2) + "\n",
        encoding="utf-8")
    return result
