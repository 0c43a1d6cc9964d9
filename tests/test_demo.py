"""`bridge demo` end to end in the TRL environment: learnable screens -> tiny model -> TRL SFT (2 stages) -> blind
baseline -> TRL GRPO with bridge rewards -> bridge eval -> report, offline (any network use would hit a dead proxy),
under 10 minutes — and it must show learning (docs/demo.md). And without the TRL environment: the exact command to
install it, nothing written."""
from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge import tiny
from PIL import Image

from bridge import demo, envs


def test_without_the_trl_env_names_the_command(tmp_path):
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "empty-home")}
    p = subprocess.run([sys.executable, "-m", "bridge.cli", "demo", "--out", str(tmp_path / "demo")],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "bridge env install trl" in p.stderr and "not installed" in p.stderr
    assert not (tmp_path / "demo").exists()


@pytest.mark.backend("trl")
@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    st = envs.status("trl")
    if st.state != "ok":
        msg = f"the TRL environment is {st.state} ({st.path}); install it with `bridge env install trl`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    out = tmp_path / "demo"
    # a fresh cache holding only the TRL environment (linked): the tiny model and every export start from nothing
    home = tmp_path / "home"
    (home / "envs").mkdir(parents=True)
    (home / "envs" / "trl").symlink_to(st.path, target_is_directory=True)
    dead = "http://127.0.0.1:9"                       # no hub, no server: any request fails at once
    env = {**os.environ, "BRIDGE_HOME": str(home), "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead,
           "https_proxy": dead, "NO_PROXY": "", "no_proxy": ""}
    t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([sys.executable, "-m", "bridge.cli", "demo", "--out", str(out)], capture_output=True,
                       text=True, env=env, timeout=1800)
    seconds, r1 = time.time() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    assert p.returncode == 0, p.stderr[-4000:]
    # "under 10 minutes on 2 CPU cores": the CPU work of the whole process tree fits in 2 cores x 10 minutes;
    # the wall clock is held to it too when the machine was not shared with other work meanwhile
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    assert cpu / 2 < 600, f"the demo used {cpu:.0f} CPU-seconds ({seconds:.0f} s wall)"
    if os.getloadavg()[0] < 2.5:
        assert seconds < 600, f"the demo took {seconds:.0f} s on an unshared machine"
    check_demo(out, p.stdout, p.stderr)
    assert (home / "tiny" / tiny.cache_name(demo.ARCH) / "config.json").is_file()   # built by the demo, in the TRL env


def check_demo(out: Path, stdout: str, stderr: str) -> None:
    """What a finished demo directory must hold, and the learning it must show (also usable on a demo run by hand):
    SFT held-out step success >= 80 % with <= 5 % parse failures; click accuracy >= 60 % among 4 positions while
    the blind baseline stays <= chance + 10 points; GRPO (on the fixed click screens) had a learning signal, its
    reward rose beyond its noise and its held-out clicks beat its start's."""
    from bridge import demo
    from bridge.compare import load_run
    from bridge.recipe import load_recipe

    report = Path(stdout.strip().splitlines()[-1].removeprefix("report: "))
    assert report == (out / "report.html").resolve() and report.is_file()
    for i in range(1, 8):
        assert f"[{i}/7]" in stderr
    runs = {v.record["recipe"]["name"]: v for v in map(load_run, (out / "runs").iterdir())}
    assert set(runs) == {"demo-sft-early", "demo-sft", "demo-sft-blind", "demo-grpo"}
    for name in ("demo-sft-early", "demo-sft-blind"):
        xs, ys = runs[name].series("loss")
        assert all(math.isfinite(y) for y in ys) and ys[-1] < ys[0] - 1.0     # the SFT loss falls
    early = str((out / "models" / "sft-early").resolve())
    assert runs["demo-grpo"].record["recipe"]["model"] == early == runs["demo-sft"].record["recipe"]["model"]
    rows = runs["demo-grpo"].metrics
    assert [r["step"] for r in rows] == list(range(1, demo.GRPO_STEPS + 1))
    assert {"reward", "reward/action_match", "reward/format", "reward/gaussian_point"} <= set(rows[0])
    evals = {n: json.loads((out / f"eval_{n}.json").read_text()) for n in ("sft-early", "sft", "blind", "grpo")}
    for ev in evals.values():
        assert ev["profile"] == "androidcontrol" and ev["counts"]["steps"] == demo.EVAL_EPISODES
    m = {n: ev["metrics"] for n, ev in evals.items()}
    assert m["sft"]["step_success"] >= 0.8 and m["sft"]["parse_failure_rate"] <= 0.05, m["sft"]
    assert m["sft"]["grounding_accuracy"] >= 0.6, m["sft"]
    assert m["blind"]["grounding_accuracy"] <= demo.CLICK_CHANCE + 0.10, m["blind"]
    # GRPO had a learning signal (groups with unequal rewards, non-zero gradients) and its reward rose beyond two
    # standard errors (3 of 3 seeds, a format-only control flat: docs/demo.md), as the demo says
    rewards = [r["reward"] for r in rows]
    assert (demo.no_signal_share(rows) or 0) <= 0.5 and all(r["grad_norm"] > 0 for r in rows), rows
    trend = demo.reward_trend(rewards)
    assert "(rose;" in trend and trend in stdout + stderr, trend
    assert m["grpo"]["grounding_accuracy"] > m["sft-early"]["grounding_accuracy"], m
    assert runs["demo-grpo"].record["recipe"]["data"]["train"] == str((out / "data" / "grpo-clicks").resolve())
    assert load_recipe(str(out / "recipes" / "sft.yaml")).train.max_steps == demo.SFT2_STEPS   # re-runnable
    page = report.read_text()
    assert "What the demo shows" in page and "blind baseline" in page and page.count("data:image/png;base64,") >= 3
    assert len(Image.open(out / "report.png").convert("L").getcolors(1 << 16) or []) > 20


def test_reward_trend_judges_the_change_against_its_noise():
    from bridge.demo import reward_trend

    assert "(rose; ±0.02)" in reward_trend([0.1, 0.12, 0.11, 0.1, 0.5, 0.52, 0.49, 0.5])
    assert "(fell;" in reward_trend([0.5, 0.52, 0.49, 0.5, 0.1, 0.12, 0.11, 0.1])
    # the demo's GRPO of 2026-12-05 on mixed prompts: a drop of 0.31 inside a noise of ±0.36 is no finding
    assert "no clear change" in reward_trend([0.84, 0.52, 0.49, 1.14, 0.18, 0.56, 0.43, 0.61])
    # and on the fixed click screens (seed 0, the demo since): 1.03 -> 1.22 against ±0.18
    assert "(rose; ±0.18)" in reward_trend([0.712, 0.935, 1.221, 0.928, 1.161, 1.055, 1.068, 1.128,
                                            1.168, 1.194, 1.108, 0.876, 1.397, 1.212, 1.446, 1.396])


def test_no_signal_share_reads_trl_rows():
    from bridge.demo import no_signal_share

    assert no_signal_share([{"frac_reward_zero_std": 1.0}, {"frac_reward_zero_std": 0.5}]) == 0.5
    assert no_signal_share([{"reward_std": 0.0}, {"reward_std": 0.0}, {"reward_std": 0.3}]) == 2 / 3
    assert no_signal_share([{"loss": 1.0}]) is None
