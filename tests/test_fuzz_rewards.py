"""Fuzz, bounded in time (issue 11 "Done when"): every registered reward and preset on fragment soups, mutated
real outputs and 64 KB adversarial strings, against ground truths of many action types, never raises (a raise
would now stop a training run, tests/test_reward_options.py), returns finite numbers, and stays fast; every text
reader (episodes lines, prediction files, recipes, importer JSON) turns random bytes into located errors only."""
from __future__ import annotations

import math
import random
import time

import pytest

from bridge.errors import BridgeError
from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import all_rewards
from bridge.schema import Action

from test_styles_fuzz import ADVERSARIAL, corpus

W, H = 1080, 2400
GTS = [Action(type="click", point=(300.0, 2000.0), bbox=(200.0, 1900.0, 400.0, 2100.0)),
       Action(type="click", point=(5.0, 7.0)),
       Action(type="swipe", point=(540.0, 1800.0), end_point=(540.0, 600.0), direction="up"),
       Action(type="type", text="hello world"), Action(type="open_app", app="Maps"),
       Action(type="status", status="complete"), Action(type="navigate_back")]
FRAMES = {"gui-r1": Frame("pixel"), "qwen25vl": Frame("smart", factor=28, min_pixels=3136, max_pixels=12845056),
          "agentcpm": Frame("rel1000"), None: Frame("rel1000")}
# gui-g1 reads completions with ast.literal_eval, as upstream does: odd escapes in fuzz text only warn
pytestmark = pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
REWARDS = sorted(n for n, r in all_rewards().items() if r.kind != "plugin")


def _gt(action, reward):
    style = all_rewards()[reward].style or "qwen2vl"
    frame = FRAMES.get(all_rewards()[reward].style, Frame("rel1000"))
    return GroundTruth(action=action, width=W, height=H, style=style, frame=frame)


def _expressible(reward):
    """The ground truths the reward's style can express (others are never exported: samples.build_samples)."""
    from bridge.styles import Unsupported, get_style

    style = all_rewards()[reward].style
    out = []
    for a in GTS:
        try:
            if style:
                get_style(style).render_action(a, W, H)
            out.append(_gt(a, reward))
        except Unsupported:
            pass
    return out


def _finite(parts):
    assert isinstance(parts, dict) and "score" in parts
    for k, v in parts.items():
        assert isinstance(v, float) and math.isfinite(v), (k, v)


@pytest.fixture(autouse=True)
def no_judge_network(monkeypatch):
    """The judge rewards (llm-judge, vlm-r1-llm) never reach the network here: no URL, and a transport that
    fails at once (each then takes its documented failure path: on_failure / exact-match fallback)."""
    from bridge.rewards import judge

    def offline(*a, **kw):
        raise RuntimeError("offline test")

    monkeypatch.delenv("BRIDGE_JUDGE_URL", raising=False)
    monkeypatch.setattr(judge, "ask", offline)
    monkeypatch.setattr(judge, "ask_messages", offline)


@pytest.fixture(scope="module")
def strings():
    return corpus(3000, seed=11)


@pytest.mark.parametrize("reward", REWARDS)
def test_reward_survives_fuzz(reward, strings, monkeypatch):
    monkeypatch.delenv("BRIDGE_JUDGE_URL", raising=False)   # llm-judge: no endpoint -> on_failure, no network
    info = all_rewards()[reward]
    gts = _expressible(reward)
    start = time.perf_counter()
    for i, text in enumerate(strings):
        _finite(info(text, gts[i % len(gts)]))
    elapsed = time.perf_counter() - start
    assert elapsed < 20, f"{reward}: {elapsed:.1f}s for {len(strings)} completions"


@pytest.mark.parametrize("reward", REWARDS)
def test_reward_adversarial_64k_is_bounded(reward, monkeypatch):
    monkeypatch.delenv("BRIDGE_JUDGE_URL", raising=False)
    info = all_rewards()[reward]
    gt = _gt(GTS[0], reward)
    for label, text in ADVERSARIAL.items():
        took = {}
        for n in (16384, 65536):   # 4x the input: linear code takes ~4x the time, quadratic ~16x
            start = time.perf_counter()
            _finite(info(text[:n], gt))
            took[n] = time.perf_counter() - start
        assert took[65536] < 5.0, f"{reward} on {label!r}: {took[65536]:.2f}s"
        assert took[65536] < 0.5 or took[65536] < 9 * took[16384], f"{reward} on {label!r} grows faster than " \
            f"linearly: {took[16384]:.3f}s for 16 KB, {took[65536]:.3f}s for 64 KB"


def _random_lines(rng, n):
    pieces = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"1e999", b"9" * 5000, b"\xef\xbb\xbf", b"\xff", b"\xe9",
              b'"episode_id"', b'"steps"', b'"id"', b'"completion"', b"null", b"NaN", b"\\u", b"\x00", b"\n"]
    return [b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40))) for _ in range(n)]


def test_text_readers_turn_random_bytes_into_located_errors(tmp_path):
    from bridge.dataset import Dataset
    from bridge.metrics.predictions import read_predictions
    from bridge.recipe import load_recipe
    from bridge.importers.base import loads

    rng = random.Random(5)
    start = time.perf_counter()
    for k in range(300):
        lines = _random_lines(rng, 5)
        p = tmp_path / "p.jsonl"
        p.write_bytes(b"\n".join(lines))
        try:
            read_predictions(p)
        except BridgeError as e:
            assert all(q.line is not None for q in e.problems), e
        ds = tmp_path / "ds"
        ds.mkdir(exist_ok=True)
        (ds / "manifest.json").write_text('{"format": "gui-bridge/dataset", "version": 1}')
        (ds / "episodes.jsonl").write_bytes(b"\n".join(lines))
        for lineno, ep, problems in Dataset(ds).records():
            assert ep is not None or all(q.line == lineno for q in problems)
        r = tmp_path / "r.yaml"
        r.write_bytes(b"\n".join(lines).replace(b"{", b"{a: ", 1))
        try:
            load_recipe(r)
        except BridgeError:
            pass
        for line in lines:
            try:
                loads(line)
            except ValueError:   # json.JSONDecodeError / UnicodeDecodeError: what importers report, located
                pass
    assert time.perf_counter() - start < 30
