"""Reward throughput: completions scored per second for each preset (and a generic composite) on generated
completions, with the peak RSS of the process that scored them (one subprocess per preset, so peaks do not
accumulate).

    python bench/rewards_bench.py                    # 100k completions per preset → bench/results/rewards_bench.txt
    python bench/rewards_bench.py --n 2000 --out -   # quick look, printed only

Completions are written in each preset's own format and mix right, near, wrong-type, far, malformed and
adversarial answers (long thoughts, truncated JSON); ground truths cycle over 64 screens and actions, each
scored as a GRPO group would be (the same ground truth for consecutive completions). ``llm-judge`` is not
benchmarked: its cost is the endpoint's.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time

PRESETS = ["gui-r1", "ui-r1", "gui-g1", "se-gui", "agentcpm", "vlm-r1-format", "vlm-r1-iou", "generic"]
GENERIC_SPEC = [{"name": "format", "weight": 0.2}, {"name": "action_match", "weight": 0.8},
                {"name": "point_in_box"}, {"name": "text_f1"}]
GROUP = 8   # completions per ground truth, as a GRPO group


def ground_truths(rng: random.Random, n: int = 64):
    from bridge.frames import resized
    from bridge.groundtruth import GroundTruth
    from bridge.schema import Action

    out = []
    for i in range(n):
        w, h = rng.choice([(1080, 2400), (1440, 3200), (720, 1280), (1920, 1080)])
        x1, y1 = rng.uniform(0, w - 200), rng.uniform(0, h - 200)
        box = (x1, y1, x1 + rng.uniform(20, 200), y1 + rng.uniform(20, 200))
        action = [Action(type="click", point=((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), bbox=box),
                  Action(type="type", text=rng.choice(["hello world", "settings", "wifi password 123"])),
                  Action(type="scroll", direction=rng.choice(["up", "down", "left", "right"])),
                  Action(type="navigate_back")][i % 4 if i % 2 else 0]
        out.append(GroundTruth(action=action, width=w, height=h, style="gui-r1",
                               frame=resized(28, 3136, 12845056)))
    return out


def _noise(rng, k=200):
    return "".join(rng.choice("abcdefgh {}[]'\",:0123456789\n") for _ in range(rng.randrange(k)))


def completion(preset: str, gt, rng: random.Random) -> str:
    """One completion in ``preset``'s format: right (40 %), jittered, wrong or malformed."""
    mw, mh = gt.frame.model_size(gt.width, gt.height)
    a = gt.action
    px, py = ((a.point[0] * mw / gt.width, a.point[1] * mh / gt.height) if a.point else (mw / 2, mh / 2))
    roll = rng.random()
    if roll > 0.4:
        px, py = px + rng.gauss(0, 80), py + rng.gauss(0, 80)
    px, py = max(0, int(px)), max(0, int(py))
    think = "<think>" + "reasoning " * rng.randrange(1, 40) + "</think>\n"
    if roll > 0.9:
        return think + _noise(rng) + "<answer>[{'action'"          # truncated / malformed
    if preset in ("gui-r1", "ui-r1", "generic"):
        name = {"click": "click", "type": "type", "scroll": "scroll", "navigate_back": "press_back"}[a.type]
        text = a.text or ({"up": "down", "down": "up", "left": "right", "right": "left"}.get(a.direction or "")) \
            or "no input text"
        key = "coordinate" if preset == "ui-r1" else "point"
        return think + f"<answer>[{{'action': '{name}', '{key}': [{px}, {py}], 'input_text': '{text}'}}]</answer>"
    if preset in ("gui-g1", "vlm-r1-iou"):
        box = [px - 30, py - 20, px + 30, py + 20]
        body = json.dumps([{"bbox_2d": box, "label": "target"}])
        return (think + f"<answer>{body}</answer>") if preset == "vlm-r1-iou" else f"```json\n{body}\n```"
    if preset == "se-gui":
        return ('<tool_call>\n' + json.dumps({"name": "computer_use", "arguments": {"action": "left_click",
                                                                                   "coordinate": [px, py]}})
                + "\n</tool_call>")
    if preset == "agentcpm":
        rx, ry = round(px / mw * 1000), round(py / mh * 1000)
        act = {"click": {"POINT": [rx, ry]}, "type": {"TYPE": a.text or ""},
               "scroll": {"POINT": [500, 500], "to": a.direction or "up"},
               "navigate_back": {"PRESS": "BACK"}}[a.type]
        return json.dumps({"thought": "reasoning " * rng.randrange(1, 20), **act}, separators=(",", ":"))
    return think + "<answer>x</answer>"


def run_one(preset: str, n: int, seed: int) -> dict:
    from bridge.rewards import build_scorer
    from bridge.rewards.hooks import score_batch

    rng = random.Random(seed)
    gts = ground_truths(rng)
    spec = GENERIC_SPEC if preset == "generic" else [{"preset": preset}]
    style = {"agentcpm": "agentcpm", "se-gui": "qwen25vl", "gui-g1": "qwen25vl", "vlm-r1-iou": "qwen25vl"}.get(preset)
    if style:
        gts = [type(g)(g.action, g.width, g.height, style, g.frame) for g in gts]
    jobs = []
    for i in range(n):
        gt = gts[(i // GROUP) % len(gts)]
        jobs.append((completion(preset, gt, rng), gt.to_json()))
    scorer = build_scorer(spec)
    t0 = time.perf_counter()
    for start in range(0, n, GROUP):          # as a trainer calls a hook: one batch per group, JSON ground truth
        chunk = jobs[start:start + GROUP]
        score_batch([c for c, _ in chunk], [g for _, g in chunk], scorer)
    dt = time.perf_counter() - t0
    return {"preset": preset, "n": n, "seconds": round(dt, 3), "per_s": round(n / dt),
            "us_each": round(dt / n * 1e6, 1), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _best(fn, repeat: int) -> tuple[float, list]:
    """(fastest of ``repeat`` runs of ``fn`` in seconds, its result)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def _versus(n: int, t_pub: float, v_pub: list, ours_in: list, preset: str, repeat: int) -> dict:
    """Ours on the same completions, scored as every trainer hook does (score_batch per group of 8, JSON ground
    truth), timed like the published run; the row with the ratio and how many verdicts agree."""
    from bridge.rewards import build_scorer
    from bridge.rewards.hooks import score_batch

    scorer = build_scorer([{"preset": preset}])

    def ours():
        out = []
        for s in range(0, n, GROUP):
            chunk = ours_in[s:s + GROUP]
            out += score_batch([c for c, _ in chunk], [g for _, g in chunk], scorer)
        return out

    t_ours, v_ours = _best(ours, repeat)
    same = sum(abs(a - b) < 1e-9 for a, b in zip(v_pub, v_ours))
    return {"n": n, "published_us": round(t_pub / n * 1e6, 2), "ours_us": round(t_ours / n * 1e6, 2),
            "ratio": round(t_pub / t_ours, 2), "same_verdicts": same}


def vs_published(n: int, seed: int, repeat: int = 3) -> dict:
    """gui-r1 against GUI-R1's own ``r1gui`` in this process, on the same completions and ground-truth records:
    the anchor is the literal restatement of the published file in tests/test_rewards_gui_r1.py with its ``eval``
    of the answer put back (the test uses ast.literal_eval to stay safe; here the completions are our own), fed
    the JSON record as GUI-R1's verl reward loop feeds it. Ours goes through bridge.rewards.hooks.score_batch as
    every trainer hook does (JSON canonical ground truth, groups of 8). Best of ``repeat``; verdicts compared."""
    import ast

    from bridge.rewards.presets.gui_r1 import ground_truth_record

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import test_rewards_gui_r1 as published

    rng = random.Random(seed)
    gts = ground_truths(rng)
    records = {id(g): json.dumps(dict(ground_truth_record(g))) for g in gts}
    jobs = [(completion("gui-r1", g, rng), g) for i in range(n) for g in [gts[(i // GROUP) % len(gts)]]]
    theirs_in = [(c, records[id(g)]) for c, g in jobs]
    ours_in = [(c, g.to_json()) for c, g in jobs]

    def theirs():
        return [published.ref_score(c, t)["overall"] for c, t in theirs_in]

    original, published.ast.literal_eval = published.ast.literal_eval, eval   # as published: eval(answer)
    try:
        t_pub, v_pub = _best(theirs, repeat)
    finally:
        published.ast.literal_eval = original
    assert ast.literal_eval is original
    return _versus(n, t_pub, v_pub, ours_in, "gui-r1", repeat)


def vs_vlmr1(n: int, seed: int, repeat: int = 3) -> dict:
    """vlm-r1-iou against VLM-R1's own REC rewards, ``format_reward_rec`` + ``iou_reward`` of
    ``vlm_modules/qwen_module.py`` imported from the user's checkout (run in the VLM-R1 environment with the
    checkout's ``src`` on the path: :func:`main`), called as its trainer calls them (chat-format completions, the
    ``<answer>`` solution, ``image_grid_thw`` and ``image_path`` per completion; it opens each image for its size).
    Ours as every hook scores (score_batch, JSON ground truth, groups of 8). Best of ``repeat``; verdicts compared."""
    import tempfile

    from PIL import Image

    from open_r1.vlm_modules.qwen_module import Qwen2VLModule

    rng = random.Random(seed)
    gts = [type(g)(g.action, g.width, g.height, "qwen25vl", g.frame) for g in ground_truths(rng)
           if g.action.bbox is not None]
    jobs = [(completion("vlm-r1-iou", g, rng), g) for i in range(n) for g in [gts[(i // GROUP) % len(gts)]]]
    tmp = tempfile.mkdtemp(prefix="vlmr1-bench-")
    images = {}
    for g in gts:
        if (g.width, g.height) not in images:
            images[g.width, g.height] = os.path.join(tmp, f"{g.width}x{g.height}.png")
            Image.new("RGB", (g.width, g.height)).save(images[g.width, g.height])

    def grid(g):
        mw, mh = g.frame.model_size(g.width, g.height)
        return [1, int(mh) // 14, int(mw) // 14]

    theirs_in = {"completions": [[{"content": c}] for c, _ in jobs],
                 "solution": [f"<answer>{json.dumps(list(g.action.bbox))}</answer>" for _, g in jobs],
                 "image_grid_thw": [grid(g) for _, g in jobs], "image_path": [[images[g.width, g.height]] for _, g in jobs]}
    ours_in = [(c, g.to_json()) for c, g in jobs]

    def theirs():
        out = []
        for s in range(0, n, GROUP):   # one call per group, as its trainer calls each reward function per batch
            chunk = {k: v[s:s + GROUP] for k, v in theirs_in.items()}
            f = Qwen2VLModule.format_reward_rec(chunk["completions"])
            i = Qwen2VLModule.iou_reward(**chunk)
            out += [a + b for a, b in zip(f, i)]
        return out

    try:
        t_pub, v_pub = _best(theirs, repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _versus(n, t_pub, v_pub, ours_in, "vlm-r1-iou", repeat)


def vlmr1_rows(args) -> list[str]:
    """The vlm-r1-iou row against VLM-R1's own code, run in the VLM-R1 environment (its checkout's src on the path)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    from bridge.envs import env_checkout, status

    st = status("vlmr1")
    checkout = env_checkout("vlmr1")
    if st.state != "ok" or not checkout:
        return [f"# vlm-r1-iou vs VLM-R1's own code: not measured (the vlmr1 environment is {st.state})"]
    from bridge.backends.vlmr1.checkout import project_dir

    src = os.path.join(str(project_dir(checkout)), "src")
    proc = subprocess.run([str(st.python), os.path.abspath(__file__), "--vs-vlmr1", "--n", str(args.n), "--seed",
                           str(args.seed)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([root, src])})
    v = json.loads(proc.stdout.strip().splitlines()[-1])
    return [f"# vlm-r1-iou vs VLM-R1's own format_reward_rec + iou_reward (vlm_modules/qwen_module.py of {checkout}),",
            "# imported in its environment, same process, same completions, best of 3; per group as its trainer calls",
            f"{'completions':>11s} {'published_us':>12s} {'ours_us':>8s} {'ratio':>6s} {'same_verdicts':>13s}",
            f"{v['n']:>11d} {v['published_us']:>12.2f} {v['ours_us']:>8.2f} {v['ratio']:>5.2f}x "
            f"{v['same_verdicts']:>13d}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="completions per preset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", help="(internal) run one preset in this process and print its JSON row")
    ap.add_argument("--vs-published", action="store_true", help="(internal) gui-r1 vs GUI-R1's r1gui, one process")
    ap.add_argument("--vs-vlmr1", action="store_true", help="(internal, in the VLM-R1 environment) vlm-r1-iou vs "
                    "VLM-R1's own format_reward_rec + iou_reward, one process")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "rewards_bench.txt"),
                    help="result file ('-' to only print)")
    args = ap.parse_args()
    if args.preset:
        print(json.dumps(run_one(args.preset, args.n, args.seed)))
        return
    if args.vs_published:
        print(json.dumps(vs_published(min(args.n, 20_000), args.seed)))
        return
    if args.vs_vlmr1:
        print(json.dumps(vs_vlmr1(min(args.n, 20_000), args.seed)))
        return
    rows = []
    for preset in PRESETS:
        proc = subprocess.run([sys.executable, __file__, "--preset", preset, "--n", str(args.n), "--seed",
                               str(args.seed)], capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{preset:14s} {rows[-1]['per_s']:>9,d}/s", file=sys.stderr)
    lines = [f"# bench/rewards_bench.py --n {args.n} --seed {args.seed}   "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, load average at the end "
             f"(1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
             f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU(s); one process per "
             f"preset, scored in groups of {GROUP} through bridge.rewards.hooks.score_batch (JSON ground truth)",
             f"# generic = {json.dumps(GENERIC_SPEC)} parsed with the gui-r1 style",
             "# peak_rss_mb is the whole scoring process, including the generated completions held in memory",
             f"{'preset':14s} {'completions':>11s} {'seconds':>8s} {'per_s':>9s} {'us_each':>8s} {'peak_rss_mb':>11s}"]
    lines += [f"{r['preset']:14s} {r['n']:>11d} {r['seconds']:>8.2f} {r['per_s']:>9d} {r['us_each']:>8.1f} "
              f"{r['peak_rss_mb']:>11.1f}" for r in rows]
    proc = subprocess.run([sys.executable, __file__, "--vs-published", "--n", str(args.n), "--seed", str(args.seed)],
                          capture_output=True, text=True, check=True)
    v = json.loads(proc.stdout.strip().splitlines()[-1])
    lines += ["", "# gui-r1 vs the published r1gui (ritzz-ai/GUI-R1 verl/utils/reward_score/r1gui.py as restated in "
              "tests/test_rewards_gui_r1.py, its eval put back),",
              "# same process, same completions, best of 3; ours through score_batch (JSON ground truth)",
              f"{'completions':>11s} {'published_us':>12s} {'ours_us':>8s} {'ratio':>6s} {'same_verdicts':>13s}",
              f"{v['n']:>11d} {v['published_us']:>12.2f} {v['ours_us']:>8.2f} {v['ratio']:>5.2f}x "
              f"{v['same_verdicts']:>13d}"]
    lines += ["", *vlmr1_rows(args)]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out != "-":
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
