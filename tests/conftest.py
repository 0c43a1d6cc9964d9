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

``tiny_models`` -> (family -> Path)
    The three above by family name (``tiny_models("qwen3_vl")``); each family is built once per session and shared
    with the fixtures above (bridge.backends.testing.tiny_model).

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

from pathlib import Path

import pytest

# shared with the importable conformance suite (one definition): skip_or_fail, backend_python, the synthetic dataset
from bridge.backends.testing import (REQUIRE_BACKENDS, backend_python, skip_or_fail, synth_dataset,  # noqa: F401,E402
                                     tiny_models)
from bridge.backends.testing import tiny_model as _tiny  # noqa: E402


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


CAPTURED_MODEL = "/root/.cache/gui-bridge/tiny/qwen2_vl-seed0"


def captured_run(src: Path, dest: Path) -> Path:
    """A copy of a captured backend run (tests/fixtures/logs/...) whose model path — the tiny model's cache folder
    on the machine that captured it — points at a stand-in with that model's processor bounds (3136..12544):
    settings read-back takes the processor's pixel bounds from the model directory."""
    import json
    import shutil

    model = dest.parent / f"{dest.name}-model"
    model.mkdir(parents=True, exist_ok=True)
    (model / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12544}))
    shutil.copytree(src, dest)
    for f in dest.rglob("*"):
        if f.is_file() and f.suffix in (".yaml", ".json", ".log", ".jsonl"):
            text = f.read_text(encoding="utf-8", errors="replace")
            if CAPTURED_MODEL in text:
                f.write_text(text.replace(CAPTURED_MODEL, str(model)), encoding="utf-8")
    return dest
