"""Parity bench: the same recipe, the same result on every backend (issue 17 item 4; docs/backends.md).

    python bench/parity_bench.py                       # SFT on trl, llamafactory, swift: 300 steps each (~20 min)
    python bench/parity_bench.py --steps 20 --backends trl,swift --out /tmp/parity   # a quick look

Trains bench/recipes/parity_sft.yaml (``bridge demo``'s learnable SFT recipe, loss logged every step) on each
backend in turn through the ``bridge run`` machinery (one training at a time), exports each trained model and
scores it with ``bridge eval`` (androidcontrol profile) on the same held-out episodes, always in the TRL
environment (so the eval is a function of the trained weights only: the environments pin different transformers
versions). Then compares (bridge/parity.py): the per-step loss of the first ``--loss-steps`` steps (relative
tolerance ``--rtol``) and the held-out step success (within 5 points). With ``--grpo``, also a few GRPO steps
on TRL and ms-swift from the same SFT model (TRL's), compared the same way on held-out metrics, and per step on
mean reward (reported; sampling draws differ between backends, see the results file).

Writes ``--out``.json and ``--out``.md (machine, load average, date, per-backend table, the per-step losses of
the first steps and the maximum deviation). Run directories, models and predictions go under ``--work``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.bench import Monitor, _Sink, evaluate_run  # noqa: E402
from bridge.demo import COLOURS, EVAL_EPISODES, GRID, MAX_NEW_TOKENS, PROFILE, TRAIN_EPISODES, grpo_recipe  # noqa: E402
from bridge.envs import env_python  # noqa: E402
from bridge.learnable import click_chance, make_grid_dataset  # noqa: E402
from bridge.parity import EVAL_POINTS, LOSS_RTOL, compare_evals, compare_losses, loss_curve  # noqa: E402
from bridge.recipe import load_recipe  # noqa: E402
from bridge.runs import execute, prepare, write_record  # noqa: E402

RECIPE = ROOT / "bench" / "recipes" / "parity_sft.yaml"
SFT_BACKENDS = ("trl", "llamafactory", "swift")
GRPO_BACKENDS = ("trl", "swift")


def data(work: Path) -> tuple[Path, Path]:
    """The learnable grid task of ``bridge demo`` (same sizes, same seeds): train (seed 0) and held out (seed 1)."""
    d = work / "data"
    train, held = d / "train", d / "eval"
    if not (train / "manifest.json").exists():
        make_grid_dataset(train, episodes=TRAIN_EPISODES, seed=0, grid=GRID, colours=COLOURS)
    if not (held / "manifest.json").exists():
        make_grid_dataset(held, episodes=EVAL_EPISODES, seed=1, split="test", grid=GRID, colours=COLOURS)
    return train, held


def write_recipe(src: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(src, sort_keys=False), encoding="utf-8")
    return path


def sft_recipe(train: Path, steps: int, work: Path) -> Path:
    """bench/recipes/parity_sft.yaml with the data paths of this bench and ``max_steps`` = ``steps``. The held-out
    set is scored afterwards by bridge eval, not during training (no in-trainer eval)."""
    r = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    r["data"]["train"] = str(train)
    r["data"].pop("eval", None)
    r["train"]["max_steps"] = steps
    return write_recipe(r, work / "recipes" / f"parity-sft-{steps}.yaml")


def train_one(recipe_path: Path, backend: str, runs: Path, log) -> tuple[Path, dict[str, Any], Any]:
    recipe = load_recipe(str(recipe_path))
    plan = prepare(recipe, backend, runs, recipe_file=str(recipe_path), echo=lambda s: log(f"{backend}: {s}"))
    mon = Monitor(backend, plan.run_dir, recipe.train.max_steps, lambda line, new: log(line) if new else None)
    mon.start()
    t0 = time.time()
    try:
        record = execute(plan, echo=lambda s: log(f"{backend}: {s}"), stream=_Sink(False))
    finally:
        mon.stop()
    record["bench"] = {"peak_rss_mb": round(mon.peak_mb, 1), "wall_s": round(time.time() - t0, 1)}
    write_record(plan.run_dir, record)
    return plan.run_dir, record, recipe


def evaluate(record: dict[str, Any], run_dir: Path, recipe: Any, held: Path, work: Path, tag: str, log) -> dict:
    rec = {**record, "python": str(env_python("trl"))}     # one eval environment for every backend's model
    return evaluate_run(rec, run_dir, recipe, PROFILE, smoke=False, echo=lambda s: log(f"{tag}: {s}"),
                        dataset=str(held), max_new_tokens=MAX_NEW_TOKENS, batch_size=16,
                        save_predictions=work / f"predictions_{tag}.jsonl")


def machine() -> dict[str, Any]:
    return {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "python": platform.python_version()}


def versions(v) -> str:
    v = v or {}
    return ", ".join(f"{k} {v[k]}" for k in ("trl", "llamafactory", "ms-swift", "transformers") if k in v)


def load(v) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


def pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [f"# Parity bench — the same recipe, the same result ({res['date']})", "",
             f"Machine: {m['host']}, {m['cpus']} CPUs, {m['platform']}; load average (1/5/15 min) before {load(res['load_before'])}, "
             f"after {load(res['load_after'])}; {res['wall_s']:.0f} s in all. Command: `{res['command']}`.", "",
             f"Recipe: {res['recipe']} ({res['sft_steps']} SFT steps, batch 8, lr 3e-3 cosine, seed 0, full "
             f"fine-tuning of tiny:qwen2_5_vl, style compact); held out: {EVAL_EPISODES} episodes (seed 1), "
             f"`bridge eval` {PROFILE} profile, every model scored in the TRL environment. Click chance "
             f"{100 * click_chance(GRID):.0f} %.", "",
             "## SFT: held-out results per backend", "",
             "| backend | step success | click accuracy (point in box) | parse failures | final loss | train wall s "
             "| peak RSS MB | versions |", "|---|---|---|---|---|---|---|---|"]
    for b, row in res["sft"]["runs"].items():
        met = row.get("metrics") or {}
        lines.append(f"| {b} | {pct(met.get('step_success'))} | {pct(met.get('grounding_accuracy'))} | "
                     f"{pct(met.get('parse_failure_rate'))} | {row.get('final_loss', float('nan')):.4g} | "
                     f"{row.get('wall_s')} | {row.get('peak_rss_mb')} | {versions(row.get('versions'))} |")
    if "losses" not in res["sft"]:
        return "\n".join(lines + ["", "PARTIAL: fewer than two backends trained so far."]) + "\n"
    ev, lo = res["sft"]["evals"], res["sft"]["losses"]
    lines += ["", f"Held-out spread across backends: " + ", ".join(f"{k} {v:.1f} points" for k, v in
                                                                   ev["spread"].items())
              + f" (gate: step success within {ev['points']:g} points) -> **{'PASS' if ev['ok'] else 'FAIL'}**"]
    lines += [f"- {p}" for p in ev["problems"]]
    w = lo.get("worst") or {}
    lines += ["", f"## SFT: per-step loss, first {lo['steps']} steps (reference {lo['reference']})", "",
              f"Max deviation over the first {lo['steps']} steps: {lo['max_abs_dev']:.3g} absolute, "
              f"{lo['max_rel_dev']:.3g} relative"
              + (f" ({w['backend']}, step {w['step']})" if w else "")
              + f"; tolerance: relative {lo['rtol']:g} -> **{'PASS' if lo['ok'] else 'FAIL'}**", ""]
    names = list(res["sft"]["runs"])
    lines += ["| step | " + " | ".join(names) + " | max abs dev |", "|---" * (len(names) + 2) + "|"]
    for row in lo["per_step"]:
        lines.append(f"| {row['step']} | " + " | ".join("-" if row.get(n) is None else f"{row[n]:.6f}"
                                                        for n in names) + f" | {row['max_abs_dev']:.2e} |")
    full = res["sft"].get("losses_all")
    if full:
        lines += ["", f"Over all {full['steps']} steps: max deviation {full['max_abs_dev']:.3g} absolute, "
                      f"{full['max_rel_dev']:.3g} relative (at {full['worst'].get('backend')} step "
                      f"{full['worst'].get('step')}); first step above the tolerance: "
                      f"{res['sft'].get('first_divergent_step') or 'none'}."]
    f = res.get("fault")
    if f:
        names = [n for n in f["per_step"][0] if n not in ("step", "max_abs_dev")]
        lines += ["", f"## Planted fault: TRL fed coordinates in the wrong frame", "",
                  f"The same episodes exported through the frame {tuple(f['frame'])} (clicks halved: the frame of "
                  f"a 56x56 image while the model sees 112x112), {f['steps']} TRL steps, compared with the clean "
                  f"curves above: max relative deviation {f['max_rel_dev']:.3g} -> the check "
                  f"**{'PASSED — it cannot see the fault!' if f['ok'] else 'FAILS, as it must'}** "
                  f"({len(f['problems'])} step(s) beyond {f['rtol']:g}).", "",
                  "| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for row in f["per_step"]:
            lines.append(f"| {row['step']} | " + " | ".join("-" if row.get(n) is None else f"{row[n]:.6f}"
                                                            for n in names) + " |")
    if res.get("grpo"):
        g = res["grpo"]
        lines += ["", "## GRPO (from the same SFT model)", "", "| backend | mean reward first half | last half | "
                  "step success | click accuracy |", "|---|---|---|---|---|"]
        for b, row in g["runs"].items():
            met = row.get("metrics") or {}
            lines.append(f"| {b} | {row.get('reward_first')} | {row.get('reward_last')} | "
                         f"{pct(met.get('step_success'))} | {pct(met.get('grounding_accuracy'))} |")
        if g.get("evals"):
            lines += ["", "Held-out spread: " + ", ".join(f"{k} {v:.1f} points" for k, v in
                                                         g["evals"]["spread"].items())]
        if g.get("rewards"):
            lines += ["", "Per-step mean reward: " + "; ".join(f"{b}: " + ", ".join(f"{v:.3f}" for v in r)
                                                               for b, r in g["rewards"].items())]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in res.get("notes", [])]
    return "\n".join(lines) + "\n"


def save(res: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2, default=str) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(res), encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--loss-steps", type=int, default=20, help="first steps compared one by one")
    ap.add_argument("--rtol", type=float, default=LOSS_RTOL)
    ap.add_argument("--backends", default=",".join(SFT_BACKENDS))
    ap.add_argument("--fault-steps", type=int, default=10, metavar="STEPS",
                    help="plant the frame fault (bridge/parity.py WRONG_FRAME) in a TRL run of this many steps and "
                         "show the loss check failing (0: skip)")
    ap.add_argument("--grpo", type=int, default=0, metavar="STEPS", help="also GRPO this many steps (trl, swift)")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / f"parity-bench-{time.strftime('%Y%m%d-%H%M%S')}")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "parity_bench")
    a = ap.parse_args(argv)
    t0 = time.time()
    work = a.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = lambda s: print(f"[{time.time() - t0:6.0f} s] {s}", flush=True)  # noqa: E731
    train, held = data(work)
    rp = sft_recipe(train, a.steps, work)
    res: dict[str, Any] = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                           "machine": machine(), "load_before": os.getloadavg(), "command": " ".join(sys.argv),
                           "recipe": str(RECIPE.relative_to(ROOT)), "sft_steps": a.steps, "work": str(work),
                           "sft": {"runs": {}}, "notes": []}
    backends = a.backends.split(",")
    runs: dict[str, tuple[Path, dict, Any]] = {}
    curves: dict[str, list] = {}
    for b in backends:
        log(f"SFT {b}: {a.steps} steps")
        run_dir, record, recipe = train_one(rp, b, work / "runs", log)
        runs[b] = (run_dir, record, recipe)
        row = {"run_dir": str(run_dir), "status": record.get("status"), **record.get("bench", {}),
               "versions": record.get("versions")}
        curves[b] = loss_curve(b, run_dir)
        row["final_loss"] = curves[b][-1][1] if curves[b] else None
        if record.get("status") == "ok":
            ev = evaluate(record, run_dir, recipe, held, work, f"sft-{b}", log)
            row.update(metrics=ev.get("metrics"), eval_error=ev.get("error"))
            log(f"SFT {b}: {ev.get('metrics') or ev.get('error')}")
        res["sft"]["runs"][b] = row
        res["sft"]["curves"] = curves
        res.update(load_after=os.getloadavg(), wall_s=time.time() - t0)
        if len(curves) >= 2:
            _compare(res, curves, a)
        save(res, a.out)
    if a.fault_steps and len(curves) >= 2:
        _fault(res, curves, rp, a, work, log)
        save(res, a.out)
    if a.grpo and "trl" in runs:
        _grpo(res, runs["trl"], a, work, held, log)
    res.update(load_after=os.getloadavg(), wall_s=time.time() - t0)
    save(res, a.out)
    log(f"wrote {a.out.with_suffix('.json')} and .md")
    ok = res["sft"].get("losses", {}).get("ok") and res["sft"].get("evals", {}).get("ok")
    return 0 if ok else 1


def _compare(res: dict[str, Any], curves: dict[str, list], a) -> None:
    s = res["sft"]
    s["losses"] = compare_losses(curves, min(a.loss_steps, a.steps), a.rtol)
    full = compare_losses(curves, a.steps, a.rtol)
    s["losses_all"] = {k: full[k] for k in ("steps", "max_abs_dev", "max_rel_dev", "worst")}
    bad = [r["step"] for r in full["per_step"] if any(
        r.get(n) is not None and r.get(full["reference"]) is not None
        and abs(r[n] - r[full["reference"]]) / abs(r[full["reference"]]) > a.rtol for n in curves)]
    s["first_divergent_step"] = bad[0] if bad else None
    s["evals"] = compare_evals({b: r.get("metrics") or {} for b, r in s["runs"].items()})


def _fault(res: dict[str, Any], curves: dict[str, list], rp: Path, a, work: Path, log) -> None:
    """TRL trained on the same episodes exported through the wrong frame; compared with the clean curves."""
    import bridge.runs
    from bridge.parity import WRONG_FRAME, wrong_frame_export

    r = yaml.safe_load(rp.read_text(encoding="utf-8"))
    r["train"]["max_steps"] = a.fault_steps
    r["train"]["save"] = {"strategy": "no"}
    fp = write_recipe(r, work / "recipes" / f"parity-sft-fault-{a.fault_steps}.yaml")
    clean = bridge.runs.cached_export
    bridge.runs.cached_export = wrong_frame_export(work / "fault-export")
    try:
        log(f"planted fault: TRL on coordinates in the wrong frame {WRONG_FRAME}, {a.fault_steps} steps")
        run_dir, record, _ = train_one(fp, "trl", work / "runs-fault", log)
    finally:
        bridge.runs.cached_export = clean
    refs = {b: c for b, c in curves.items() if b != "trl"} or {"trl": curves["trl"]}
    rep = compare_losses({**refs, "trl (wrong frame)": loss_curve("trl", run_dir)}, a.fault_steps, a.rtol)
    res["fault"] = {"frame": WRONG_FRAME, "run_dir": str(run_dir), "status": record.get("status"), **rep}
    log(f"planted fault: check {'PASSED (it should not have)' if rep['ok'] else 'failed as it must'}: "
        f"max relative deviation {rep['max_rel_dev']:.3g}")


def _grpo(res: dict[str, Any], sft: tuple[Path, dict, Any], a, work: Path, held: Path, log) -> None:
    """GRPO on TRL and ms-swift from TRL's SFT model (the same init for both)."""
    from bridge.demo import no_signal_share

    model = sft[0] / "export"
    r = grpo_recipe(Path(res["work"]) / "data" / "train", str(model))
    r["train"]["max_steps"] = a.grpo
    rp = write_recipe(r, work / "recipes" / f"parity-grpo-{a.grpo}.yaml")
    g = res["grpo"] = {"steps": a.grpo, "init": str(model), "runs": {}, "rewards": {}}
    for b in GRPO_BACKENDS:
        log(f"GRPO {b}: {a.grpo} steps")
        run_dir, record, recipe = train_one(rp, b, work / "runs", log)
        from bridge.backends.metrics import parse_run
        rows = [x for x in parse_run(b, run_dir).rows if x.get("reward") is not None]
        rew = [float(x["reward"]) for x in rows]
        k = max(1, len(rew) // 2)
        row = {"run_dir": str(run_dir), "status": record.get("status"), **record.get("bench", {}),
               "reward_first": round(sum(rew[:k]) / k, 3) if rew else None,
               "reward_last": round(sum(rew[-k:]) / k, 3) if rew else None,
               "no_signal_share": no_signal_share(rows)}
        g["rewards"][b] = rew
        if record.get("status") == "ok":
            ev = evaluate(record, run_dir, recipe, held, work, f"grpo-{b}", log)
            row.update(metrics=ev.get("metrics"), eval_error=ev.get("error"))
            log(f"GRPO {b}: {ev.get('metrics') or ev.get('error')}")
        g["runs"][b] = row
        save(res, a.out)
    if len(g["runs"]) >= 2:
        g["evals"] = compare_evals({b: x.get("metrics") or {} for b, x in g["runs"].items()}, gated=())


if __name__ == "__main__":
    sys.exit(main())
