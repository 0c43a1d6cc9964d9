"""Train bench: s/step at steady state, tokens/s and peak RSS of each CPU backend on one recipe, against the floor
— a bare PyTorch forward + backward + AdamW loop of the same model on a batch of the same data with the same
optimiser settings and the same launch variables (bench/bare_loop.py), measured in the same invocation: with the
LM head at label positions only (the anchor) and, beside it, with logits at every position.

    python bench/train_bench.py                                   # bench/recipes/train_bench_sft.yaml, 3 backends
    python bench/train_bench.py --recipe recipes/demo_sft.yaml --backends trl --steps 12 --skip 4 --repeat 3

Each backend is started through `bridge run RECIPE --backend B` on a copy of the recipe with ``max_steps=--steps``,
``logging_steps=1`` and no checkpoint saving; the step time is the mean of the steps after ``--skip`` on bridge's
clock (``run.json["step_clock"]``: the arrival of each step's log line, the same definition for every backend). Peak RSS is the
largest process of the run's tree (``wait4``). Tokens/s = the bare batch's non-padding tokens / s/step (the
backends draw different samples of the same recipe per step, so this is the floor batch's rate). With
``--repeat`` > 1 each figure is the best of the repeats. Results: --out (JSON) and the same name .md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.backends.common import cpu_env  # noqa: E402
from bridge.envs import env_python  # noqa: E402
from bridge.recipe import load_recipe  # noqa: E402
from bridge.runs import step_clock  # noqa: E402

DEFAULT_RECIPE = ROOT / "bench" / "recipes" / "train_bench_sft.yaml"


def bench_recipe(src: Path, steps: int, out_dir: Path) -> Path:
    """A copy of ``src`` with absolute paths, ``max_steps``/``logging_steps`` set and checkpoint saving off."""
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    base = src.resolve().parent
    for key in ("train", "eval"):
        v = (data.get("data") or {}).get(key)
        if v and not os.path.isabs(os.path.expanduser(v)):
            data["data"][key] = str((base / v).resolve())
    m = data.get("model", "")
    if m.startswith(("./", "../")):
        data["model"] = str((base / m).resolve())
    t = data.setdefault("train", {})
    t.update({"max_steps": steps, "logging_steps": 1, "save": {"strategy": "no"}})
    t.pop("num_epochs", None)
    path = out_dir / src.name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run_tree(argv: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run ``argv``; (exit code, stdout+stderr, peak RSS MB of its largest process, descendants included)."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, out, ru.ru_maxrss / 1024


def run_dir_of(out: str) -> Path:
    m = re.findall(r"^run dir: (.+)$|^run \w+ \(exit code.*-> (.+)$", out, re.M)
    m = [a or b for a, b in m]
    if not m:
        raise SystemExit(f"no 'run dir:' line in bridge's output:\n{out[-3000:]}")
    return Path(m[-1].strip())


def bridge(args: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    return run_tree([sys.executable, "-m", "bridge.cli", *args], env)


def report(ns, rows, floor, launch, load_before, final: bool) -> str:
    """Write --out (JSON) and its .md after every backend, so an interrupted bench keeps what it measured."""
    tokens = floor["tokens_per_step"]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
              "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "recipe": str(ns.recipe),
              "steps": ns.steps, "skip": ns.skip, "repeat": ns.repeat, "launch_env": launch,
              "batch": floor["batch"], "seq_len": floor["seq_len"], "tokens_per_step": tokens,
              "floor_threads": floor["threads"], "rows": rows, "complete": final}
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = ["| backend | s/step | tokens/s | peak RSS MB | ratio to bare loop | notes |", "|---|---|---|---|---|---|"]
    for r in rows:
        f = (lambda v, fmt: fmt.format(v) if v is not None else "—")
        table.append(f"| {r['backend']} | {f(r['s_per_step'], '{:.2f}')} | {f(r['tokens_per_s'], '{:.0f}')} | "
                     f"{f(r['peak_rss_mb'], '{:.0f}')} | {f(r['ratio'], '{:.2f}x')} | {'; '.join(r.get('notes', []))} |")
    head = (f"Train bench {result['date']} on {result['machine']}\nrecipe {ns.recipe}, batch {result['batch']}, "
            f"{tokens} tokens/step (seq {result['seq_len']}), {ns.steps} steps, first {ns.skip} skipped, best of "
            f"{ns.repeat}; load average before {load_before[0]:.2f}, after {result['load_avg_after'][0]:.2f}\n"
            f"launch variables: {launch}\n" + ("" if final else "PARTIAL: the bench was still running\n"))
    text = head + "\n" + "\n".join(table) + "\n"
    ns.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=DEFAULT_RECIPE)
    ap.add_argument("--backends", default="trl,llamafactory,swift")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--skip", type=int, default=3, help="first steps left out (warm-up)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train_bench.json")
    ns = ap.parse_args(argv)

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    work = Path(tempfile.mkdtemp(prefix="train-bench-"))
    recipe = bench_recipe(ns.recipe, ns.steps, work)
    launch = cpu_env(load_recipe(recipe))          # what every backend gets (adapters' command()); the floor too
    load_before = os.getloadavg()
    rc, out, _ = bridge(["run", str(recipe), "--backend", "trl", "--dry-run", "--runs-dir", str(work / "runs")], env)
    if rc:
        raise SystemExit(out)
    config = run_dir_of(out) / "trl_config.yaml"

    def bare_loop(head: str) -> list[dict]:
        runs = []
        for _ in range(ns.repeat):
            rc, out, rss = run_tree([str(env_python("trl")), str(ROOT / "bench" / "bare_loop.py"), "--config",
                                     str(config), "--steps", str(ns.steps), "--skip", str(ns.skip), "--head", head],
                                    {**env, **launch})
            if rc:
                raise SystemExit(f"bare loop failed:\n{out[-3000:]}")
            runs.append({**json.loads(out.strip().splitlines()[-1]), "peak_rss_mb": rss})
        return runs

    # the floor (the anchor of every ratio): the LM head at label positions only, the least work any trainer must
    # do; beside it the naive loop (logits at every position: model(**batch).loss), what a trainer without a
    # label-only head pays (docs/performance.md)
    bare, naive = bare_loop("labels"), bare_loop("full")
    floor = min(bare, key=lambda r: r["s_per_step"])
    tokens = floor["tokens_per_step"]
    rows = []
    for name, runs in (("bare loop (anchor: LM head at label positions)", bare),
                       ("bare loop, logits at every position", naive)):
        best = min(r["s_per_step"] for r in runs)
        rows.append({"backend": name, "s_per_step": best, "tokens_per_s": tokens / best,
                     "peak_rss_mb": min(r["peak_rss_mb"] for r in runs), "ratio": best / floor["s_per_step"],
                     "repeats": [r["s_per_step"] for r in runs]})
    report(ns, rows, floor, launch, load_before, final=False)
    for b in [x for x in ns.backends.split(",") if x]:
        times, rss_all, notes = [], [], []
        for _ in range(ns.repeat):
            rc, out, rss = bridge(["run", str(recipe), "--backend", b, "--runs-dir", str(work / "runs")], env)
            if rc:
                notes.append(f"exit {rc}: {out.strip().splitlines()[-1] if out.strip() else ''}")
                continue
            record = json.loads((run_dir_of(out) / "run.json").read_text(encoding="utf-8"))
            clock = step_clock(record["step_clock"]["times_s"], 1, skip=ns.skip)   # logging_steps is 1 here
            if clock["step_time_s"] is None:
                notes.append("no step lines after the warm-up in the backend's output")
                continue
            times.append(clock["step_time_s"])
            rss_all.append(rss)
        best = min(times) if times else None
        rows.append({"backend": b, "s_per_step": best, "tokens_per_s": tokens / best if best else None,
                     "peak_rss_mb": min(rss_all) if rss_all else None,
                     "ratio": best / floor["s_per_step"] if best else None, "repeats": times, "notes": notes})
        report(ns, rows, floor, launch, load_before, final=False)
    print(report(ns, rows, floor, launch, load_before, final=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
