"""MiniWoB++ environment throughput: browser start, reset and step latency of one instance, then steps/s and
episodes/s of pools of 1, 2 and 4 browsers on this machine's cores — and, with --model, the split of a model
turn between generation and the environment step (is the rollout the bottleneck of a GRPO step?).

    python bench/env_bench.py                          # -> bench/results/env_bench.txt
    python bench/env_bench.py --model DIR --out -      # + a tiny model's turn split, printed only

Episodes are played by the random policy (a click at a random pixel: most turns do not end the episode, so
steps and resets both count) over click-test-2, click-button and enter-text with at most 5 turns, seeds 0...
Memory: proportional set size of one browser's process group (chromedriver + Chromium), after its runs.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TASKS = ["click-test-2", "click-button", "enter-text"]


class Timed:
    """Wraps an environment: wall time of each reset and step."""

    def __init__(self, env):
        self.env, self.resets, self.steps = env, [], []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, *a, **k):
        t = time.perf_counter()
        out = self.env.reset(*a, **k)
        self.resets.append(time.perf_counter() - t)
        return out

    def step(self, *a, **k):
        t = time.perf_counter()
        out = self.env.step(*a, **k)
        self.steps.append(time.perf_counter() - t)
        return out


def single(episodes: int) -> dict:
    from bridge.environments.miniwob import MiniWoBEnv
    from bridge.environments.policies import RandomPolicy
    from bridge.environments.rollout import run_episode

    t = time.perf_counter()
    env = Timed(MiniWoBEnv(max_turns=5))
    start = time.perf_counter() - t
    try:
        for task in TASKS:   # page loads are not part of the steady state
            env.reset(seed=0, options={"task": task})
        env.resets.clear()
        t = time.perf_counter()
        for k in range(episodes):
            run_episode(env, RandomPolicy(), TASKS[k % 3], k)   # task switch each episode: page load inside reset
        wall = time.perf_counter() - t
        rss = group_pss_mb(env.browser.pgid)
    finally:
        env.close()
    return {"start_s": start, "reset_ms": 1000 * statistics.median(env.resets),
            "step_ms": 1000 * statistics.median(env.steps), "steps": len(env.steps), "episodes": episodes,
            "wall": wall, "rss_mb": rss}


def group_pss_mb(pgid: int) -> float:
    """Proportional set size (shared pages split between their users) of every process in group ``pgid``."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[2]) != pgid:
                    continue
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return total / 1024


def pooled(size: int, episodes: int) -> dict:
    from bridge.environments import make_pool
    from bridge.environments.policies import RandomPolicy

    t = time.perf_counter()
    pool = make_pool("miniwob", size=size, max_turns=5)
    start = time.perf_counter() - t
    try:
        list(pool.run([(task, 0) for task in TASKS for _ in range(size)], RandomPolicy()))   # warm pages
        t = time.perf_counter()
        results = list(pool.run([(TASKS[k % 3], k) for k in range(episodes)], RandomPolicy()))
        wall = time.perf_counter() - t
    finally:
        pool.close()
    steps = sum(len(r.turns) for r in results)
    return {"size": size, "start_s": start, "episodes": episodes, "steps": steps, "wall": wall}


def model_split(model_dir: str, turns: int) -> dict:
    """Per turn of a local model: prompt + generation seconds vs environment step seconds (qwen2vl style)."""
    from bridge.environments.miniwob import MiniWoBEnv
    from bridge.environments.policies import ModelPolicy, local_generator
    from bridge.evaluate import load_processor, processor_pixels
    from bridge.styles import get_style
    from bridge.styles.base import PromptOptions

    processor = load_processor(model_dir)
    lo, hi = processor_pixels(processor)
    style = get_style("qwen2vl", PromptOptions(min_pixels=lo, max_pixels=hi))
    policy = ModelPolicy(style, local_generator(model_dir, device="cpu", max_new_tokens=32, processor=processor))
    env = MiniWoBEnv(task="click-test-2", max_turns=turns)
    gen, step = [], []
    try:
        obs, _ = env.reset(seed=0)
        history = []
        from bridge.environments.rollout import Turn

        while True:
            t = time.perf_counter()
            d = policy.act(obs, history)
            gen.append(time.perf_counter() - t)
            t = time.perf_counter()
            nxt, r, term, trunc, info = env.step(d.action)
            step.append(time.perf_counter() - t)
            history.append(Turn(obs, d, r, info))
            obs = nxt
            if term or trunc:
                break
    finally:
        env.close()
        policy.close()
    return {"turns": len(gen), "generate_s": statistics.median(gen), "step_s": statistics.median(step)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=60, help="episodes per measurement")
    ap.add_argument("--pools", default="1,2,4")
    ap.add_argument("--model", help="a local model directory: also measure a model turn's split")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "env_bench.txt"),
                    help="result file ('-' to only print)")
    args = ap.parse_args()
    import selenium

    import miniwob

    one = single(args.episodes)
    rows = [pooled(int(n), args.episodes) for n in args.pools.split(",")]
    load = os.getloadavg()
    lines = [f"# bench/env_bench.py --episodes {args.episodes} --pools {args.pools}"
             + (f" --model {args.model}" if args.model else ""),
             f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s), load average "
             f"{load[0]:.1f} at the end (a shared machine: orders of magnitude); miniwob {miniwob.__version__}, "
             f"selenium {selenium.__version__}, {_chromium_version()}",
             f"# random policy, tasks {', '.join(TASKS)} in turn, max 5 turns per episode",
             "",
             "one instance",
             f"  browser start        {one['start_s']:.2f} s",
             f"  reset (median)       {one['reset_ms']:.0f} ms   (task page switch included every episode)",
             f"  step (median)        {one['step_ms']:.0f} ms   (click + DOM + screenshot)",
             f"  throughput           {one['steps'] / one['wall']:.1f} steps/s, {one['episodes'] / one['wall']:.2f} "
             f"episodes/s ({one['steps']} steps, {one['episodes']} episodes, {one['wall']:.1f} s)",
             f"  memory               {one['rss_mb']:.0f} MB PSS (chromedriver + its Chromium processes)",
             "",
             f"{'pool':>4s} {'start_s':>8s} {'episodes':>8s} {'steps':>6s} {'seconds':>8s} {'steps_per_s':>11s} "
             f"{'episodes_per_s':>14s}"]
    lines += [f"{r['size']:>4d} {r['start_s']:>8.2f} {r['episodes']:>8d} {r['steps']:>6d} {r['wall']:>8.1f} "
              f"{r['steps'] / r['wall']:>11.1f} {r['episodes'] / r['wall']:>14.2f}" for r in rows]
    if args.model:
        s = model_split(args.model, 5)
        lines += ["", f"model turn split ({os.path.basename(os.path.normpath(args.model))}, qwen2vl style, CPU, "
                      f"{s['turns']} turns, medians)",
                  f"  prompt + generate    {s['generate_s']:.2f} s",
                  f"  environment step     {s['step_s']:.2f} s"]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out != "-":
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)


def _chromium_version() -> str:
    import subprocess

    from bridge.environments.browser import find_binaries

    try:
        out = subprocess.run([find_binaries()[0], "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.strip().split(" built")[0]
    except (OSError, subprocess.SubprocessError):
        return "chromium ?"


if __name__ == "__main__":
    main()
