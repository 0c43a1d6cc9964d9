"""The GUI environment API on MiniWoB++ (bridge/environments/): real pages in headless Chromium, one shared
pool of two browsers (``miniwob_pool`` in conftest.py). Oracle episodes recorded into the canonical format,
online evaluation of the oracle (>= 90 % per task) and of the random baseline, exact pixel frames, seeds,
invalid actions, a model policy through a style, and no Chromium left behind after SIGKILL or Ctrl-C."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bridge.schema import Action

REPO = Path(__file__).resolve().parents[1]
#: the tasks the issue names plus multi-turn typing ones (enter-text: 3 turns, login-user: 5)
TASKS = ["click-test-2", "click-color", "focus-text", "enter-text", "login-user"]


def bridge(*args, env=None, timeout=180):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_missing_chromium_names_the_debian_packages(tmp_path, monkeypatch):
    from bridge.environments.browser import find_binaries
    from bridge.errors import BridgeError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("BRIDGE_CHROMIUM", raising=False)
    monkeypatch.delenv("BRIDGE_CHROMEDRIVER", raising=False)
    with pytest.raises(BridgeError) as e:
        find_binaries()
    text = str(e.value)
    assert "chromium not found on PATH (Debian package `chromium`)" in text
    assert "chromedriver not found on PATH (Debian package `chromium-driver`)" in text
    r = bridge("gui-env", "check", env={"PATH": str(tmp_path)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Debian package `chromium-driver`" in r.stderr


def test_oracle_succeeds_and_random_does_not(miniwob_pool):
    from bridge.environments.online import evaluate_online
    from bridge.environments.policies import OraclePolicy, RandomPolicy

    report = evaluate_online(miniwob_pool, TASKS, 5, [OraclePolicy()], seed=1000)
    d = report.to_dict()["policies"]
    d.update(evaluate_online(miniwob_pool, ["click-test-2", "enter-text"], 4, [RandomPolicy(0)],
                             seed=1000).to_dict()["policies"])
    for task in TASKS:
        assert d["oracle"][task]["success_rate"] >= 0.9, (task, d["oracle"][task])
    assert d["oracle"]["login-user"]["mean_turns"] == 5   # click, type, click, type, Login
    assert d["random"]["overall"]["success_rate"] < 0.5
    assert d["random"]["enter-text"]["success_rate"] == 0   # clicking cannot type
    assert "oracle success / reward" in report.render()


def test_click_frame_is_exact_screenshot_pixels(miniwob_pool):
    """A click 1 px inside the target button's DOM box succeeds, 1 px outside it does not: the action's pixels
    are the screenshot's pixels, with no offset or scale between them."""
    env = miniwob_pool.envs[0]
    for seed, dx in ((11, -1.0), (11, +1.0)):
        obs, _ = env.reset(seed=seed, options={"task": "click-test"})
        assert (obs.width, obs.height) == (160, 210) and obs.image.size == (160, 210)
        button = next(e for e in obs.elements if e.role == "button")
        x2, y1, y2 = button.bbox[2], button.bbox[1], button.bbox[3]
        _, reward, terminated, _, info = env.step(Action(type="click", point=(x2 + dx, (y1 + y2) / 2)))
        assert (terminated and reward == 1.0) == (dx < 0), (dx, reward, terminated, info)
        # the screenshot shows the button where the DOM says: its border pixels differ from the page outside
        px_in = obs.image.getpixel((int(x2) - 2, int((y1 + y2) / 2)))
        px_out = obs.image.getpixel((int(x2) + 2, int((y1 + y2) / 2)))
        assert px_in != px_out


def test_seeds_reproduce_episodes(miniwob_pool):
    from selenium.webdriver.common.action_chains import ActionChains

    env = miniwob_pool.envs[1]
    a, _ = env.reset(seed=7, options={"task": "click-test-2"})
    b, _ = env.reset(seed=7, options={"task": "click-test-2"})
    c, _ = env.reset(seed=8, options={"task": "click-test-2"})
    assert a.instruction == b.instruction and a.image.tobytes() == b.image.tobytes()
    assert [e.bbox for e in a.elements] == [e.bbox for e in b.elements]
    assert [e.bbox for e in a.elements] != [e.bbox for e in c.elements]
    # the first episode after a page load looks like every later one (click-tab's differed by 2 pixels)
    first, _ = env.reset(seed=1, options={"task": "click-tab"})   # another task: its page loads now
    env.reset(seed=2, options={"task": "click-tab"})
    again, _ = env.reset(seed=1, options={"task": "click-tab"})
    assert first.image.tobytes() == again.image.tobytes()
    # and the pointer is not left over the page, where it could draw an element hovered (click-tab's tabs)
    env.step(Action(type="click", point=(24, 56)))
    env.reset(seed=1, options={"task": "click-tab"})
    driver = env._inst.driver
    driver.execute_script("document.addEventListener('mousemove', e => window.__pointer = [e.clientX, e.clientY])")
    ActionChains(driver, duration=0).move_by_offset(0, 0).perform()   # a mousemove where the pointer rests
    x, y = driver.execute_script("return window.__pointer")
    assert x > 160 or y > 210, (x, y)


def test_actions_without_meaning_are_wasted_turns(miniwob_pool):
    env = miniwob_pool.envs[0]
    env.max_turns = 3
    try:
        env.reset(seed=1, options={"task": "click-test-2"})
        _, r, term, trunc, info = env.step(Action(type="open_app", app="Maps"))
        assert (r, term, trunc) == (0.0, False, False) and "no meaning" in info["invalid_action"]
        _, r, term, trunc, info = env.step(Action(type="click", point=(500.0, 10.0)))
        assert "outside the 160x210 screen" in info["invalid_action"]
        _, r, term, trunc, info = env.step(None)
        assert (term, trunc) == (False, True)   # max_turns reached: truncated
        with pytest.raises(RuntimeError):
            env.step(Action(type="wait"))
    finally:
        env.max_turns = 10


def test_record_oracle_episodes_as_canonical_dataset(miniwob_pool, tmp_path):
    from bridge.environments.record import record_oracle

    out = tmp_path / "mw"
    report = record_oracle(out, miniwob_pool, ["click-test-2", "enter-text"], 2, seed=0)
    assert report.episodes == 4 and report.steps == 2 + 2 * 3 and not report.failed
    r = bridge("validate", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    r = bridge("stats", str(out), "--json")
    stats = json.loads(r.stdout)
    assert stats["episodes"] == 4 and stats["steps"] == 8
    from PIL import Image

    from bridge.dataset import open_dataset

    ds = open_dataset(out)
    eps = {e.episode_id: e for e in ds}
    ep = eps["miniwob-enter-text-0"]
    assert [s.action.type for s in ep.steps] == ["click", "type", "click"]
    assert ep.platform == "web" and ep.app == "enter-text" and ep.meta["raw_reward"] == 1.0
    assert ep.steps[1].action.text == ep.meta["fields"]["target"] and ep.meta["fields"]["target"] in ep.instruction
    for step in ep.steps:
        with Image.open(ds.image_path(step.screenshot)) as im:
            assert im.size == (step.width, step.height) == (160, 210)
        if step.action.type == "click":   # the target box is one of the DOM elements and holds the point
            box, (x, y) = step.action.bbox, step.action.point
            assert box in [e.bbox for e in step.elements]
            assert box[0] <= x <= box[2] and box[1] <= y <= box[3]
    r = bridge("inspect", str(out), "--episode", "miniwob-enter-text-0", "--step", "0",
               "--render", str(tmp_path / "s.png"))
    assert r.returncode == 0, r.stderr


def test_model_policy_plays_through_a_style(miniwob_pool):
    """A model's text goes through the style's parser into the environment: a stand-in model that answers the
    qwen2vl rendering ([0,1000] frame) of the oracle's action wins like the oracle."""
    from bridge.environments.oracles import oracle_action
    from bridge.environments.policies import ModelPolicy
    from bridge.styles import get_style

    style = get_style("qwen2vl")
    seen = {}

    def generate(messages):
        images = [b["image"] for m in messages for b in m["content"] if b["type"] == "image"]
        text = "".join(b["text"] for m in messages for b in m["content"] if b["type"] == "text")
        seen["images"], seen["text"] = images, text
        obs = seen["obs"]
        action = oracle_action(obs.meta["task"], obs.meta["dom"], obs.meta["fields"])
        return style.render_action(action, obs.width, obs.height)

    class Watch(ModelPolicy):
        def act(self, obs, history):
            seen["obs"] = obs
            return super().act(obs, history)

    policy = Watch(style, generate)
    try:
        # one job at a time: ``seen`` is shared by the stand-in and the pool's threads
        results = [r for job in (("enter-text", 3), ("click-test-2", 4)) for r in miniwob_pool.run([job], policy)]
    finally:
        policy.close()
    assert [r.success for r in results] == [True, True]
    assert results[0].turns[1].decision.completion and results[0].turns[1].decision.action.type == "type"
    assert results[1].instruction in seen["text"] and len(seen["images"]) == 1


ORPHAN_SCRIPT = textwrap.dedent("""
    import sys, time
    from bridge.environments import make_env
    from bridge.environments.policies import RandomPolicy
    from bridge.environments.rollout import run_episode
    env = make_env("miniwob", task="click-test-2", max_turns=100000)
    print(env.browser.pgid, env.browser.profile, flush=True)
    while True:   # busy in episodes when the signal comes
        run_episode(env, RandomPolicy(), "click-test-2", 0)
""")


def _gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except OSError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_no_orphan_chromium_after_kill_or_ctrl_c(miniwob_pool, sig):
    """SIGKILL (a crash: no Python cleanup runs) and SIGINT (Ctrl-C) of a process in the middle of episodes
    leave no Chromium process and no profile directory behind."""
    # SIGINT as in a terminal: a background job of a non-interactive shell (`make test &`) starts with it ignored,
    # and an ignored disposition survives exec
    proc = subprocess.Popen([sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        pgid, profile = proc.stdout.readline().split()
        pgid = int(pgid)
        os.killpg(pgid, 0)   # alive now
        time.sleep(0.5)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(pgid), f"chromedriver's process group {pgid} survived {sig.name}"
    deadline = time.monotonic() + 5
    while os.path.exists(profile) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(profile)


def test_eval_cli_online_oracle_and_random(tmp_path):
    r = bridge("eval", "--env", "miniwob", "--tasks", "click-test-2", "--episodes", "3", "--policy", "oracle",
               "--pool", "1", "--json", "--no-progress", "--save-episodes", str(tmp_path / "eps.jsonl"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["policies"]["oracle"]["click-test-2"]["success_rate"] == 1.0
    lines = [json.loads(x) for x in (tmp_path / "eps.jsonl").read_text().splitlines()]
    assert [x["seed"] for x in lines] == [1000, 1001, 1002] and all(x["success"] for x in lines)
    r = bridge("eval", "--env", "miniwob", "--tasks", "click-tset", "--policy", "random")
    assert r.returncode == 2 and "unknown MiniWoB task(s): 'click-tset' (did you mean click-test" in r.stderr
    r = bridge("eval", "--env", "miniwob", "--model", str(tmp_path))
    assert r.returncode == 2 and "need --style" in r.stderr


def test_remote_env_over_http_plays_like_the_local_one(miniwob_pool):
    """Trainers in other virtualenvs reach the pool through EnvServer/RemoteEnv: same observations (pixels
    included), same rewards; a bad action is a located error for the client, not a dead server."""
    from bridge.environments.oracles import oracle_action
    from bridge.environments.server import EnvServer, RemoteEnv

    with EnvServer(miniwob_pool) as server:
        env = RemoteEnv(server.url)
        obs, _ = env.reset(seed=5, options={"task": "click-color"})
        local = miniwob_pool.lease()
        try:
            ref, _ = local.reset(seed=5, options={"task": "click-color"})
            action = oracle_action("click-color", ref.meta["dom"], ref.meta["fields"])
        finally:
            miniwob_pool.release(local)
        assert obs.instruction == ref.instruction and obs.image.tobytes() == ref.image.tobytes()
        _, reward, terminated, truncated, info = env.step(action)
        assert (reward, terminated, truncated) == (1.0, True, False) and info["raw_reward"] == 1.0
        with pytest.raises(RuntimeError, match="no running episode"):
            env.step(action)
        assert miniwob_pool.free == miniwob_pool.size   # the browser went back to the pool
        env.reset(seed=1, options={"task": "click-color"})   # a client that never comes back ...
        assert miniwob_pool.free == miniwob_pool.size - 1
        server.idle_s = 0.0
        server.reclaim()                                      # ... loses its browser to the next reset
        assert miniwob_pool.free == miniwob_pool.size


class _ScriptedEnv:
    """Steps with given (reward, terminated, info) outcomes; records the actions it was sent."""

    def __init__(self, *outcomes):
        self.outcomes, self.sent = list(outcomes), []

    def step(self, action):
        self.sent.append(action)
        reward, terminated, info = self.outcomes.pop(0) if self.outcomes else (0.0, True, {"stopped_by_agent": "x"})
        return None, reward, terminated, False, info


@pytest.mark.parametrize("outcome, max_turns, expected", [
    ((1.0, True, {}), 1, 1.0),                                    # the task ended it: success
    ((-1.0, True, {}), 1, -1.0),                                  # the task ended it: a wrong click
    ((0.0, False, {}), 1, -1.0),                                  # a miss, cut at max turns
    ((0.0, False, {"invalid_action": "no action"}), 1, -1.0),    # an unparsable answer, cut at max turns
    ((0.0, True, {"stopped_by_agent": "impossible"}), 3, -1.0),  # the policy gave up
])
def test_online_grpo_scores_an_unfinished_episode_as_miniwob_times_it_out(outcome, max_turns, expected):
    """An episode the task never ended scores -1, MiniWoB's time-out (core.js), never the 0 reported while it runs:
    with 0, a miss (and an unparsable answer) ranked above a wrong click (-1), and GRPO learnt to click nothing."""
    from bridge.environments.trl_grpo import _advance

    env = _ScriptedEnv(outcome)
    e = {"env": env, "actions": [Action(type="click", point=(1.0, 2.0))], "turn": 0, "done": False}
    _advance(e, max_turns, "/nonexistent", style=None)
    assert e["done"] and e["reward"] == expected and e["finished"] == ("stopped_by_agent" not in outcome[2]
                                                                        and outcome[1])
    if not outcome[1]:                                            # ours to end: the browser is handed back
        assert env.sent[-1].type == "status"


def test_trl_online_grpo_two_steps_on_cpu(miniwob_pool, tiny_model_dir, tmp_path):
    """TRL's GRPOTrainer with the environment's rollout_func (bridge/environments/trl_grpo.py): 2 steps on CPU,
    every completion's reward is its played episode's; a step plays twice as many episodes as the pool has
    browsers (in waves: all at once, each holding a browser, they waited on each other until the lease timeout);
    the trained model is saved for bridge eval, and with --save-steps the policy along the way."""
    from conftest import backend_python

    from bridge.environments.server import EnvServer

    py = backend_python("trl")
    out = tmp_path / "run"
    with EnvServer(miniwob_pool) as server:
        r = subprocess.run([py, "-m", "bridge.environments.trl_grpo", "--env-url", server.url, "--model",
                            str(tiny_model_dir), "--tasks", "click-test-2", "--seeds", "2", "--max-turns", "2",
                            "--max-new-tokens", "12", "--out", str(out), "--max-steps", "2", "--smoke",
                            "--batch-size", str(2 * miniwob_pool.size), "--num-generations", "2",
                            "--top-k", "50", "--save-steps", "1"],
                           capture_output=True, text=True, timeout=900, cwd=REPO,
                           env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
        steps = server.steps
    assert r.returncode == 0, r.stderr[-3000:]
    log = json.loads((out / "log_history.json").read_text())
    rows = [row for row in log if "rewards/env_reward/mean" in row]
    assert len(rows) == 2 and any(float(row["grad_norm"]) > 0 for row in rows)   # the update really happened
    episodes = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2 * 2 * miniwob_pool.size and {e["task"] for e in episodes} == {"click-test-2"}
    for saved in ("model", "checkpoint-1"):   # the final policy; --save-steps 1: the one after step 1 as well
        assert (out / saved / "config.json").is_file() and (out / saved / "processor_config.json").is_file()
    assert all(1 <= e["turns"] <= 2 for e in episodes) and steps >= sum(e["turns"] for e in episodes)


def test_swift_online_grpo_two_steps_on_cpu(miniwob_pool, tiny_model_dir, tmp_path):
    """ms-swift's own GRPO trainer with its gym multi-turn hook (bridge/environments/swift_gym.py): 2 steps on CPU
    with the transformers engine; every completion's env reward is its played episode's, the update happens, a
    second turn's prompt carries the second screenshot (and the trained sample every screen), the trained model is
    saved for bridge eval. Bad input is one line and exit 2, before any training."""
    import socket

    from conftest import backend_python

    from bridge.environments.server import EnvServer

    py = backend_python("swift")
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    common = [py, "-m", "bridge.environments.swift_gym", "--model", str(tiny_model_dir), "--seeds", "2",
              "--max-turns", "2", "--max-new-tokens", "12", "--out", str(out)]

    def run(*extra, timeout=120):
        return subprocess.run(common + list(extra), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)

    with socket.socket() as s:   # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    batch = miniwob_pool.size    # ms-swift resets a whole rollout at once: at most one episode per browser
    with EnvServer(miniwob_pool) as server:
        bad = [run("--env-url", server.url, "--tasks", "no-such-task"),
               run("--env-url", server.url, "--tasks", "click-test-2", "--batch-size", str(2 * batch)),
               run("--env-url", dead, "--tasks", "click-test-2")]
        r = run("--env-url", server.url, "--tasks", "click-test-2", "--max-steps", "2", "--smoke", "--batch-size",
                str(batch), "--num-generations", "2", "--top-k", "50", timeout=900)
        steps = server.steps
    for b, what in zip(bad, ("no-such-task", "--batch-size", "cannot reach")):
        assert b.returncode == 2 and "Traceback" not in b.stderr and what in b.stderr, b.stderr[-2000:]
        assert len(b.stderr.strip().splitlines()) == 1, b.stderr
    assert r.returncode == 0, r.stderr[-3000:]
    log = json.loads((out / "log_history.json").read_text())
    rows = [row for row in log if "rewards/env_reward/mean" in row]
    assert len(rows) == 2 and any(float(row["grad_norm"]) > 0 for row in rows)   # the update really happened
    episodes = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2 * batch and {e["task"] for e in episodes} == {"click-test-2"}
    for k, row in enumerate(rows):   # each step's logged env reward is the mean of its episodes' rewards
        played = episodes[k * batch:(k + 1) * batch]
        assert row["rewards/env_reward/mean"] == pytest.approx(sum(e["reward"] for e in played) / batch)
    assert all(1 <= e["turns"] <= 2 for e in episodes) and steps >= sum(e["turns"] for e in episodes)
    # turn k's prompt shows k screenshots (one <image> each); some episode reached its second turn
    assert all(e["images"] == e["placeholders"] == e["turns"] for e in episodes), episodes
    assert any(e["turns"] == 2 for e in episodes), episodes
    assert (out / "model" / "config.json").is_file() and (out / "model" / "processor_config.json").is_file()


def test_a_browser_that_dies_is_reported_then_replaced(miniwob_pool):
    """Chromium killed under a running episode: that step is a located error (no traceback), the next reset
    starts a fresh browser and plays on."""
    from bridge.environments import make_env
    from bridge.environments.oracles import oracle_action
    from bridge.errors import BridgeError

    with make_env("miniwob", task="click-test") as env:
        env.reset(seed=0)
        dead = env.browser.pgid
        os.killpg(dead, signal.SIGKILL)
        with pytest.raises(BridgeError, match=r"MiniWoB task click-test \(seed 0\), turn 1: the browser failed"):
            env.step(Action(type="click", point=(80.0, 150.0)))
        obs, _ = env.reset(seed=1)
        assert env.browser.pgid != dead and _gone(dead)
        _, reward, terminated, _, _ = env.step(oracle_action("click-test", obs.meta["dom"], obs.meta["fields"]))
        assert (reward, terminated) == (1.0, True)


def test_time_limit_replaces_the_tasks_clock(miniwob_pool):
    """``time_limit_s`` is MiniWoB's episode clock: past it the task ends the episode with -1 ('timed out'),
    which the online report counts."""
    from bridge.environments import make_env
    from bridge.environments.online import TaskStats
    from bridge.environments.policies import RandomPolicy
    from bridge.environments.rollout import run_episode

    with make_env("miniwob", task="enter-text", time_limit_s=0.5) as env:
        env.reset(seed=0)
        time.sleep(1.0)
        _, reward, terminated, _, info = env.step(Action(type="wait"))
        assert (reward, terminated, info["reason"]) == (-1.0, True, "timed out")
        slow = RandomPolicy()
        slow.act = lambda obs, history: (time.sleep(0.3), RandomPolicy.act(slow, obs, history))[1]
        stats = TaskStats()
        result = run_episode(env, slow, "enter-text", 1)
        stats.add(result)
        # the clock ran out while the policy thought: the next click is not performed (it would start a new
        # episode on MiniWoB's start cover) and the episode ends with the timeout
        assert result.reward == -1.0 and "not_performed" in result.turns[-1].info
        assert stats.timed_out == 1 and stats.to_dict()["timed_out"] == 1 and stats.invalid == 0


def test_serve_stops_on_sigint_even_when_started_ignoring_it_and_a_taken_port_is_a_clear_error():
    """`bridge gui-env serve` runs "until Ctrl-C": started as a background job of a script (SIGINT inherited as
    ignored) it still stops on SIGINT, browsers closed; a second server on its port is refused with exit 2 and
    the fix, not an OSError traceback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", "gui-env", "serve", "--pool", "1", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert "serving miniwob" in proc.stderr.readline()
        second = bridge("gui-env", "serve", "--pool", "1", "--port", str(port))
        assert second.returncode == 2 and "Traceback" not in second.stderr, second.stderr
        assert f"cannot serve at 127.0.0.1:{port}" in second.stderr and "--port" in second.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()
