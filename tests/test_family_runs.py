"""Every model family trained through every CPU backend: a 1-step ``bridge run --smoke`` per family (Qwen2-VL,
Qwen2.5-VL, Qwen3-VL: the real architecture classes at toy size, bridge/tiny.py) x backend (TRL, LLaMA-Factory,
ms-swift) x method (SFT; GRPO on the backends that have it), each with the family's own style, over the matrix the
adapters declare (``Adapter.families``, ``bridge backends``). What each backend's OWN encoder makes of every
family's export — the image grid of the policy and the style's target text, against the family's HF processor —
is the conformance suite's (bridge/backends/testing.py, parametrised over families); this file proves the
trainers then train on it.

Shared across the file: one ``BRIDGE_HOME`` whose ``tiny/`` holds the session's tiny models (tests/conftest.py
``tiny_models``: built once) and whose export cache the runs share. Slow (a backend launch each); skipped when a
backend environment is missing, failed instead under ``BRIDGE_REQUIRE_BACKENDS=1``.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge import tiny
from bridge.backends import get_adapter
from bridge.backends.testing import FAMILY_STYLES, trains
from bridge.families import FAMILY_NAMES

pytestmark = pytest.mark.slow

BACKENDS = ("trl", "llamafactory", "swift")
RUNS = [pytest.param(b, f, m, id=f"{b}-{f}-{m}") for m in ("sft", "grpo") for b in BACKENDS for f in FAMILY_NAMES
        if trains(get_adapter(b), f, m)]


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_models) -> Path:
    """A BRIDGE_HOME whose tiny models are the session's (linked, never rebuilt per run)."""
    home = tmp_path_factory.mktemp("family-home")
    (home / "tiny").mkdir()
    for family in FAMILY_NAMES:
        (home / "tiny" / tiny.cache_name(family)).symlink_to(tiny_models(family), target_is_directory=True)
    return home


def run_smoke(home: Path, tmp_path: Path, dataset: Path, backend: str, family: str, method: str,
              python: str) -> tuple[dict, Path, list[dict]]:
    r = {"name": f"fam-{family}", "model": f"tiny:{family}", "method": method,
         "data": {"train": str(dataset), "style": FAMILY_STYLES[family], "history": 1},
         "finetune": {"type": "lora", "rank": 4, "alpha": 8}, "train": {"max_steps": 1},
         "backends": {backend: {"python": python}}}
    if method == "grpo":   # generic rewards parse with the family's style
        r["grpo"] = {"rewards": [{"name": "action_type"}, {"name": "gaussian_point", "weight": 0.5}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(r))
    env = {**os.environ, "BRIDGE_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--backend", backend,
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env,
                          timeout=900)
    runs = list((tmp_path / "runs").iterdir()) if (tmp_path / "runs").exists() else []
    log = (runs[0] / "backend.log").read_text() if runs and (runs[0] / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((runs[0] / "run.json").read_text())
    rows = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    return record, runs[0], rows


@pytest.mark.parametrize(("backend", "family", "method"), RUNS)
def test_family_trains_through_backend(backend, family, method, home, synth_dataset, tmp_path):
    from bridge.backends.testing import backend_python

    python = backend_python(backend)
    record, run_dir, rows = run_smoke(home, tmp_path, synth_dataset, backend, family, method, python)
    assert record["status"] == "ok" and record["backend"] == backend and record["method"] == method
    # --smoke kept the family: the tiny model of that family, with that tiny processor's bounds
    assert Path(record["recipe"]["model"]).name == tiny.cache_name(family)
    assert json.loads((Path(record["recipe"]["model"]) / "config.json").read_text())["model_type"] == family
    _, _, lo, hi = tiny.PIXELS[family]
    assert (record["recipe"]["data"]["min_pixels"], record["recipe"]["data"]["max_pixels"]) == (lo, hi)
    assert record["recipe"]["train"]["max_steps"] == 1
    assert [r["step"] for r in rows] == [1]
    key = "loss" if method == "sft" else "reward"
    assert all(math.isfinite(r[key]) for r in rows), rows
    assert sorted(run_dir.joinpath("output").rglob("adapter_model.safetensors")), "no LoRA adapter saved"
