"""Shared, session-scoped test fixtures. Each is built lazily — only when a test asks for it — and once per
test session, in a pytest temporary directory. Treat them as READ-ONLY: copy before modifying.

``synth_dataset`` -> Path
    A canonical dataset made by ``bridge.synth.make_dataset(episodes=6, seed=0, platform="mixed")``:
    6 episodes (android, desktop, android, ...; 33 steps, phone 270x540 and desktop 640x400 PNGs) that together
    use every action type of ``bridge.schema.ACTION_TYPES`` and both ``complete`` and ``impossible`` statuses.
    Point actions carry the target's exact ``bbox`` and ``point`` = its centre; every step has ``elements``,
    ``thought``, ``low_instruction`` and (from the second step on) the previous screenshot in ``extra_images``.
    Builds in well under a second.

``tiny_model_dir`` -> Path
    ``bridge.tiny.build_tiny_model(arch="qwen2_vl", seed=0)``: a random Qwen2VLForConditionalGeneration (hidden 64,
    2 layers, 2-block ViT), BPE tokenizer trained from scratch with the real Qwen special-token ids
    (``<|image_pad|>`` = 151655, ...), vocab_size 151936, Qwen2-VL chat template, Qwen2VLProcessor with
    min_pixels 3136 / max_pixels 12544 (``bridge.tiny.MIN_PIXELS``/``MAX_PIXELS``: a 270x540 screenshot -> 10 image
    tokens, 640x400 -> 15), video_preprocessor_config.json and generation_config.json. ~40 MB, ~4 s to build.
    Loads with ``AutoProcessor`` + ``AutoModelForImageTextToText``; skipped when torch/transformers are missing.

``tiny_model_25_dir`` -> Path
    The same for ``arch="qwen2_5_vl"`` (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor).

``tiny_model_3_dir`` -> Path
    The same for ``arch="qwen3_vl"`` (Qwen3VLForConditionalGeneration, Qwen3VLProcessor): 16-pixel patches, so
    smart-resize factor 32 with min_pixels 4096 / max_pixels 16384 (``bridge.tiny.PIXELS``; 270x540 -> 10 image
    tokens); added tokens up to ``</think>`` = 151668; no default system prompt in the chat template.

``miniwob_pool`` -> bridge.environments.rollout.EnvPool
    Two MiniWoB++ environments (two headless Chromium browsers, ``max_turns=10``, raw reward), started once per
    session (~2 s) and closed at its end; any task runs on them (``pool.run([(task, seed), ...], policy)``).
    Skipped when Debian's chromium / chromium-driver or the ``miniwob`` package is missing (``make browser``,
    ``make dev``) — failed instead under ``BRIDGE_REQUIRE_BACKENDS=1``.

Backend environments: :func:`backend_python` returns the interpreter of an installed backend environment
(``bridge env install NAME``). When it is missing the test is skipped with the fix command — except under
``BRIDGE_REQUIRE_BACKENDS=1`` (what ``make test`` and CI set), where a missing environment or model stack FAILS:
a green CI must mean the trainers really ran.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_BACKENDS = os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip locally; fail when the run promised real backends (BRIDGE_REQUIRE_BACKENDS=1)."""
    if REQUIRE_BACKENDS:
        pytest.fail(f"{reason} (BRIDGE_REQUIRE_BACKENDS=1)")
    pytest.skip(reason)


def backend_python(name: str) -> str:
    """Interpreter of backend environment ``name``; skip (or fail, see above) when it is not installed."""
    from bridge.envs import env_python

    py = env_python(name)
    if not Path(py).exists():
        skip_or_fail(f"backend environment {name!r} is not installed: run `bridge env install {name}`")
    return str(py)


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    from bridge.synth import make_dataset

    return make_dataset(tmp_path_factory.mktemp("synth") / "dataset", episodes=6, seed=0, platform="mixed")


def _tiny(tmp_path_factory, arch: str) -> Path:
    for module in ("torch", "transformers"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail(f"{module} is not installed in this environment (make dev installs it)")
    from bridge.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / arch, arch=arch, seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "qwen2_vl")


@pytest.fixture(scope="session")
def tiny_model_25_dir(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "qwen2_5_vl")


@pytest.fixture(scope="session")
def tiny_model_3_dir(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "qwen3_vl")


@pytest.fixture(scope="session")
def miniwob_pool():
    from bridge.environments import make_pool
    from bridge.environments.browser import find_binaries
    from bridge.errors import BridgeError

    try:
        import miniwob  # noqa: F401

        find_binaries()
    except (ImportError, BridgeError) as e:
        skip_or_fail(f"MiniWoB++ cannot run here: {e}")
    pool = make_pool("miniwob", size=2, max_turns=10)
    yield pool
    pool.close()
