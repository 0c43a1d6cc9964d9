"""MiniWoB++ learning bench: the tiny model's *online* success after SFT on oracle episodes and after online GRPO
in the live environment, beside the random policy and the oracle on the same seeds (issue 13 item 5).

    python bench/miniwob_learning.py                    # ~25 min on 2 cores (+~2 min per --grpo-save-steps point)
    python bench/miniwob_learning.py --grpo-steps 4 --episodes 10 --out /tmp/mw   # a quick look

1. ``bridge synth --env miniwob``: --train-episodes oracle episodes per task (seeds 0..), real rendered screens.
2. ``bridge run``: TRL SFT of the tiny random Qwen2.5-VL on them (style compact, full fine-tuning; the recipe
   is written next to the results).
3. ``bridge eval --env miniwob``: the SFT model plays --episodes episodes per task (seeds 1000.., disjoint from
   the training seeds, up to --max-turns turns), beside the random policy and the oracle.
4. ``bridge gui-env serve`` + ``python -m bridge.environments.trl_grpo`` in the TRL environment (or, with
   ``--grpo-backend swift``, ``bridge.environments.swift_gym`` in ms-swift's): online GRPO from the SFT model,
   rewarded by the environment (one turn per episode: exact GRPO), --grpo-steps steps.
5. ``bridge eval --env miniwob`` of the GRPO model on the same seeds (and of its --grpo-save-steps checkpoints).

Each model is evaluated greedy and sampled at --sampled-temperature (the policy GRPO trains). Diagnostics: how
many different first answers each greedy model gives per task (1 = one click for every screen), the best
screen-blind click's share of the training targets, the best click per instruction's (what reading the
instruction alone reaches), and the sampled policy's success in GRPO's own episodes
(bench/results/miniwob_grounding.md reads them). ``--tasks`` defaults to three tasks whose layouts the
instruction decides; ``--tasks grounding`` runs the four whose targets sit anywhere.

Writes ``--out``.json and ``--out``.md (machine, load, date, the recipe, per-task success per policy, the GRPO
reward per step). Work files go under ``--work``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.demo import reward_trend  # noqa: E402
from bridge.envs import env_python  # noqa: E402

# One-step tasks whose target's place the instruction decides (fixed layouts: "Tab #2", the dialog's "Cancel", the
# 3rd input): what the tiny model can learn. It does not ground targets that sit anywhere on the screen
# (click-test, click-test-2, click-color, focus-text: bench/results/miniwob_grounding.md).
TASKS = "click-tab,click-dialog-2,focus-text-2"
GROUNDING_TASKS = "click-test,click-test-2,click-color,focus-text"
GRPO = {"trl": "trl_grpo", "swift": "swift_gym"}   # --grpo-backend -> bridge/environments/ module
PIXELS = {"min_pixels": 3136, "max_pixels": 28000}         # 160x210 screens -> 140x168: 30 image tokens


def sft_recipe(data: Path, steps: int) -> dict:
    return {"name": "miniwob-sft", "model": "tiny:qwen2_5_vl",
            "data": {"train": str(data), "style": "compact", "history": 0, **PIXELS}, "method": "sft",
            "finetune": {"type": "full", "train": {"language_model": True, "vision_tower": True, "projector": True}},
            "train": {"lr": 3e-3, "max_steps": steps, "per_device_batch": 8, "grad_accum": 1, "scheduler": "cosine",
                      "weight_decay": 0.0, "precision": "fp32", "device": "cpu", "logging_steps": 10, "seed": 0}}


def bridge(*args: str) -> str:
    p = subprocess.run([sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    if p.returncode:
        raise SystemExit(f"bridge {' '.join(args)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout + p.stderr


def online_eval(model: Path, ns, out: Path, temperature: float = 0.0, baselines: bool = True) -> dict:
    p = subprocess.run([sys.executable, "-m", "bridge.cli", "eval", "--env", "miniwob", "--tasks", ns.tasks,
                        "--episodes", str(ns.episodes), "--model", str(model), "--style", "compact",
                        "--max-new-tokens", "32", "--max-turns", str(ns.max_turns), "--device", "cpu", "--json",
                        "--no-progress", "--save-episodes", str(out.with_suffix(".jsonl")),
                        "--temperature", str(temperature), "--baselines" if baselines else "--no-baselines"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if p.returncode:
        raise SystemExit(f"bridge eval --env miniwob failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out.write_text(p.stdout, encoding="utf-8")                     # the --json report
    return json.loads(p.stdout)


def training_success(episodes: Path, tasks: list[str]) -> dict:
    """Success of the *sampled* policy in GRPO's own episodes, per task: first half of the run vs second half
    (nearly every screen is new to the policy when it plays it)."""
    rows = [json.loads(x) for x in episodes.read_text().splitlines() if x.strip()]
    half = len(rows) // 2
    rate = lambda rs, t: (sum(r["reward"] > 0 for r in rs if r["task"] == t)  # noqa: E731
                          / max(1, sum(r["task"] == t for r in rs)))
    return {t: [rate(rows[:half], t), rate(rows[half:], t)] for t in tasks}


def distinct_answers(report: Path, tasks: list[str]) -> dict:
    """Per task, how many different first answers the model gave over its episodes (the saved ``--save-episodes``
    lines): 1 = the same click on every screen, a prior of where targets tend to be, not a reading of the screen."""
    rows = [json.loads(x) for x in report.with_suffix(".jsonl").read_text().splitlines() if x.strip()]
    firsts = {t: {r["turns"][0].get("completion") for r in rows
                  if r["policy"] == "model" and r["task"] == t and r["turns"]} for t in tasks}
    return {t: len(v) for t, v in firsts.items()}


def blind_ceiling(data: Path, tasks: list[str], by_instruction: bool = False) -> dict:
    """Per task, the one click that lies in most of the training episodes' target boxes (DOM boxes, every 2 px
    of the screen each step states) and that share: what a policy that never looks at the screen can reach on
    those screens. ``by_instruction``: one such click per distinct instruction — what reading the instruction
    alone reaches (an upper bound that flatters tasks with few screens per instruction: ``instructions`` says
    how many there were)."""
    boxes: dict = {t: {} for t in tasks}
    size = {}
    for line in (data / "episodes.jsonl").read_text().splitlines():
        ep = json.loads(line)
        step = ep["steps"][0]
        if ep.get("app") in boxes and step["action"].get("bbox"):
            key = ep["instruction"] if by_instruction else ""
            boxes[ep["app"]].setdefault(key, []).append(step["action"]["bbox"])
            size[ep["app"]] = max(size.get(ep["app"], (0, 0)), (step["width"], step["height"]))
    out = {}
    for t, groups in boxes.items():
        if not groups:
            continue
        grid = [(x, y) for x in range(0, size[t][0] + 1, 2) for y in range(0, size[t][1] + 1, 2)]
        hits, point = 0, None
        for bs in groups.values():
            count = lambda p: sum(b[0] <= p[0] <= b[2] and b[1] <= p[1] <= b[3] for b in bs)  # noqa: E731,B023
            point = max(grid, key=count)
            hits += count(point)
        share = hits / sum(len(bs) for bs in groups.values())
        out[t] = {"share": share, "instructions": len(groups)} if by_instruction else {"point": list(point),
                                                                                         "share": share}
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=TASKS, help=f"comma-separated MiniWoB tasks (default {TASKS}; 'grounding': "
                                                    f"{GROUNDING_TASKS})")
    ap.add_argument("--train-episodes", type=int, default=150, help="oracle episodes per task for SFT")
    ap.add_argument("--sft-steps", type=int, default=400)
    ap.add_argument("--grpo-backend", choices=("trl", "swift"), default="trl",
                    help="online GRPO through TRL's rollout_func (bridge/environments/trl_grpo.py) or ms-swift's gym "
                         "multi-turn scheduler (bridge/environments/swift_gym.py)")
    ap.add_argument("--grpo-steps", type=int, default=30)
    ap.add_argument("--grpo-batch", type=int, default=0,
                    help="completions per GRPO step, 8 per first screen (default: 32 with TRL; 8 with ms-swift, which "
                         "plays a step's episodes at once, one browser each)")
    ap.add_argument("--grpo-lr", type=float, default=2e-4)
    ap.add_argument("--grpo-seeds", type=int, default=16,
                    help="GRPO prompt set: the first screens of seeds 0..N-1 per task (4 of them a step); 1 = a "
                         "fixed set of one screen per task, all played by every step: its reward rises, and the "
                         "policy learns those screens rather than the task (bench/results/miniwob_grpo_fixed_set.md)")
    ap.add_argument("--grpo-unfinished-reward", type=float, default=-1.0,
                    help="GRPO reward of an episode the task did not end (MiniWoB's time-out: -1; 0 = the rule "
                         "before 2026-12-06, which ranked a miss above a wrong click)")
    ap.add_argument("--grpo-top-k", type=int, default=0,
                    help="GRPO sampling: the k likeliest tokens only (0 = the whole vocabulary)")
    ap.add_argument("--grpo-save-steps", type=int, default=0,
                    help="also evaluate GRPO's policy every N steps (the learning curve; ~2 min per point)")
    ap.add_argument("--sampled-temperature", type=float, default=1.0,
                    help="also evaluate SFT and GRPO sampling at this temperature, as GRPO plays (0 = greedy only)")
    ap.add_argument("--sft-model", type=Path, help="reuse the SFT model of an earlier run (skips steps 1-2)")
    ap.add_argument("--episodes", type=int, default=50, help="online eval episodes per task")
    ap.add_argument("--max-turns", type=int, default=3, help="online eval: turns per episode")
    ap.add_argument("--work", type=Path, default=Path("/tmp/miniwob-learning"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "miniwob_learning")
    ns = ap.parse_args(argv)
    if ns.tasks == "grounding":
        ns.tasks = GROUNDING_TASKS
    t0, load_before = time.time(), os.getloadavg()
    work = ns.work
    work.mkdir(parents=True, exist_ok=True)

    data = work / "data"
    recipe = sft_recipe(data, ns.sft_steps)
    if ns.sft_model:
        sft_model = ns.sft_model
    else:
        if not (data / "manifest.json").exists():
            bridge("synth", str(data), "--env", "miniwob", "--tasks", ns.tasks, "--episodes",
                   str(ns.train_episodes), "--pool", "2")
        (work / "sft.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False), encoding="utf-8")
        log = bridge("run", str(work / "sft.yaml"), "--runs-dir", str(work / "runs"))
        done = re.findall(r"^run ok \(exit code.*-> (.+)$", log, re.M)   # bridge run's last word: the run dir
        if not done:
            raise SystemExit(f"no 'run ok ... -> DIR' line in bridge run's output:\n{log[-3000:]}")
        sft_model = Path(done[-1].strip()) / "output"
    sft = online_eval(sft_model, ns, work / "eval_sft.json")
    T = ns.sampled_temperature
    sft_sampled = online_eval(sft_model, ns, work / "eval_sft_sampled.json", T, baselines=False) if T else None

    port = free_port()
    batch = ns.grpo_batch or (32 if ns.grpo_backend == "trl" else 8)
    pool = 2 if ns.grpo_backend == "trl" else batch   # ms-swift resets a whole step's episodes before its first turn
    server = subprocess.Popen([sys.executable, "-m", "bridge.cli", "gui-env", "serve", "--pool", str(pool), "--port",
                               str(port), "--time-limit", "60"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        server.stderr.readline()                                   # "serving ... at URL": ready
        grpo_out = work / "grpo"
        p = subprocess.run([str(env_python(ns.grpo_backend)), "-m", f"bridge.environments.{GRPO[ns.grpo_backend]}",
                            "--env-url",
                            f"http://127.0.0.1:{port}", "--model", str(sft_model), "--style", "compact", "--tasks",
                            ns.tasks, "--seeds", str(ns.grpo_seeds), "--max-turns", "1", "--out", str(grpo_out), "--max-steps",
                            str(ns.grpo_steps), "--num-generations", "8", "--batch-size", str(batch), "--lr",
                            str(ns.grpo_lr), "--max-new-tokens", "32", "--unfinished-reward",
                            str(ns.grpo_unfinished_reward), "--top-k", str(ns.grpo_top_k),
                            "--save-steps", str(ns.grpo_save_steps)],
                           cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"})
        if p.returncode:
            raise SystemExit(f"online GRPO failed:\n{p.stderr[-3000:]}")
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    history = json.loads((grpo_out / "log_history.json").read_text())
    rewards = [float(r["rewards/env_reward/mean"]) for r in history if "rewards/env_reward/mean" in r]
    grpo = online_eval(grpo_out / "model", ns, work / "eval_grpo.json", baselines=False)
    grpo_sampled = (online_eval(grpo_out / "model", ns, work / "eval_grpo_sampled.json", T, baselines=False)
                    if T else None)

    tasks = [t for t in ns.tasks.split(",") if t]
    overall = lambda report: report["policies"]["model"]["overall"]["success_rate"]  # noqa: E731
    curve = [{"step": 0, "greedy": overall(sft), "sampled": overall(sft_sampled) if T else None}]
    steps = sorted(int(d.name.split("-")[1]) for d in grpo_out.glob("checkpoint-*"))
    for step in steps:
        if step < ns.grpo_steps:          # the last checkpoint is the final model, evaluated above
            ck = grpo_out / f"checkpoint-{step}"
            curve.append({"step": step, "greedy": overall(online_eval(ck, ns, work / f"eval_{step}.json",
                                                                      baselines=False)),
                          "sampled": overall(online_eval(ck, ns, work / f"eval_{step}_sampled.json", T,
                                                         baselines=False)) if T else None})
    curve.append({"step": ns.grpo_steps, "greedy": overall(grpo), "sampled": overall(grpo_sampled) if T else None})
    table = {"random": sft["policies"]["random"], "oracle": sft["policies"]["oracle"],
             "SFT": sft["policies"]["model"], "SFT + online GRPO": grpo["policies"]["model"]}
    if T:
        table[f"SFT, sampled (T={T:g})"] = sft_sampled["policies"]["model"]
        table[f"SFT + online GRPO, sampled (T={T:g})"] = grpo_sampled["policies"]["model"]
    trained = training_success(grpo_out / "episodes.jsonl", tasks)
    recorded = (data / "episodes.jsonl").exists()
    blind = blind_ceiling(data, tasks) if recorded else {}
    reading = blind_ceiling(data, tasks, by_instruction=True) if recorded else {}
    distinct = {"SFT": distinct_answers(work / "eval_sft.json", tasks),
                "SFT + online GRPO": distinct_answers(work / "eval_grpo.json", tasks)}
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {platform.platform()}",
              "load_avg_before": load_before, "load_avg_after": os.getloadavg(), "seconds": round(time.time() - t0),
              "args": {k: str(v) for k, v in vars(ns).items()}, "sft_recipe": recipe, "grpo_rewards": rewards,
              "grpo_trend": reward_trend(rewards) if rewards else None, "curve": curve,
              "training_success_first_vs_second_half": trained, "distinct_greedy_first_answers": distinct,
              "blind_click_share_of_training_targets": blind,
              "best_click_per_instruction_share_of_training_targets": reading,
              "success": {name: {t: pol[t]["success_rate"] for t in [*tasks, "overall"]} for name, pol in table.items()}}
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    k = max(1, len(rewards) // 3)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    lines = [f"# MiniWoB++ learning bench ({result['date']})", "",
             f"Machine: {result['machine']}; load average before {load_before[0]:.2f}, after "
             f"{result['load_avg_after'][0]:.2f}; {result['seconds']} s in all. Command: `python "
             f"bench/miniwob_learning.py {' '.join(sys.argv[1:] if argv is None else argv)}`.", "",
             f"Tiny random Qwen2.5-VL (`tiny:qwen2_5_vl`), style compact, screens 160×210 at pixels "
             f"{PIXELS['min_pixels']}..{PIXELS['max_pixels']}. SFT: {ns.sft_steps} TRL steps (batch 8, lr 3e-3 cosine) "
             f"on {ns.train_episodes} oracle episodes per task (seeds 0..)"
             f"{f' — reused from {ns.sft_model}' if ns.sft_model else ''}. Online GRPO from the SFT model: "
             f"{ns.grpo_steps} {ns.grpo_backend} steps of {batch // 8} episodes' first screens × 8 completions (prompt set: seeds "
             f"0..{ns.grpo_seeds - 1} of each task), each completion played in the "
             f"live task (one turn) and rewarded by MiniWoB (raw reward, -1..1; an episode the task did not end: "
             f"{ns.grpo_unfinished_reward:g}), lr {ns.grpo_lr}"
             f"{f', sampling top_k {ns.grpo_top_k}' if ns.grpo_top_k else ''}. Online eval: "
             f"{ns.episodes} episodes per task, seeds 1000.. (never trained on), up to {ns.max_turns} turns, greedy"
             f"{f' and sampled at temperature {T:g} from the whole vocabulary (the policy GRPO trains)' if T else ''}.",
             "", "| policy | " + " | ".join(tasks) + " | all |", "|---|" + "---|" * (len(tasks) + 1)]
    for name, succ in result["success"].items():
        lines.append(f"| {name} | " + " | ".join(f"{100 * succ[t]:.0f} %" for t in [*tasks, "overall"]) + " |")
    if rewards:
        lines += ["", f"GRPO mean episode reward per step: {' '.join(f'{r:.2f}' for r in rewards)} (first {k} steps "
                      f"{mean(rewards[:k]):.2f}, last {k} {mean(rewards[-k:]):.2f}); {result['grpo_trend']} "
                      "(first half vs last half, two standard errors)."]
    lines += ["", f"Different first answers over the {ns.episodes} greedy episodes of each task (1 = the same click "
                  "on every screen): " + "; ".join(f"{name} " + ", ".join(f"{t} {n}" for t, n in d.items())
                                                   for name, d in distinct.items()) + "."]
    if blind:
        lines += ["", "The best screen-blind click (one point per task, the most training target boxes): "
                      + ", ".join(f"{t} {100 * b['share']:.0f} % at {tuple(b['point'])}" for t, b in blind.items())
                      + " of the training screens' targets."]
    if reading:
        lines += ["", "The best click per instruction (one point per distinct instruction, the most of its training "
                      "target boxes): " + ", ".join(f"{t} {100 * b['share']:.0f} % ({b['instructions']} instructions)"
                                                   for t, b in reading.items())
                  + " — what reading the instruction alone reaches on the training screens."]
    lines += ["", "GRPO's sampled policy in its own training episodes (success, first half of the run → second "
                  "half): " + ", ".join(f"{t} {100 * a:.0f} % → {100 * b:.0f} %" for t, (a, b) in trained.items())
              + "."]
    if len(curve) > 2:
        lines += ["", "| GRPO step | greedy | " + (f"sampled (T={T:g}) |" if T else ""),
                  "|---|---|" + ("---|" if T else "")]
        lines += [f"| {c['step']} | {100 * c['greedy']:.0f} % | "
                  + (f"{100 * c['sampled']:.0f} % |" if T else "") for c in curve]
    ns.out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
