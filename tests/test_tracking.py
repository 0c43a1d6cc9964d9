"""train.report_to → each backend's own tracking (issue 14 item 2): HF `report_to` (TRL, LLaMA-Factory,
ms-swift, VLM-R1), verl's `trainer.logger`; TensorBoard files in <run dir>/tensorboard, wandb offline; a smoke run's
TensorBoard event files are read back."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.backends import get_adapter
from bridge.backends.testing import vlmr1_checkout
from bridge.errors import BridgeError
from bridge.recipe import check_backend, parse_recipe
from bridge.runs import prepare

ROOT = Path(__file__).resolve().parents[1]


def recipe(data: Path, model: Path, method: str, trackers):
    d = {"name": "trk", "model": str(model), "method": method, "data": {"train": str(data), "style": "gui-r1"},
         "train": {"max_steps": 1, "report_to": trackers}}
    if method == "grpo":
        d["grpo"] = {"num_generations": 2, "rewards": [{"preset": "gui-r1"}]}
        d["train"]["precision"] = "bf16"
    return parse_recipe(d)


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    m = tmp_path / "Qwen2.5-VL-3B"   # VLM-R1 picks its model class from the name
    m.mkdir()
    (m / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    return m


def _plan(synth_dataset, model, tmp_path, backend, method, trackers):
    r = recipe(synth_dataset, model, method, trackers)
    if backend == "verl":
        r.grpo.rollout.engine = "vllm"
    if backend == "vlmr1":   # the VLM-R1 checkout of tests/test_vlmr1.py
        r.backends["vlmr1"] = r.backend("vlmr1").model_copy(update={"root": str(vlmr1_checkout())})
    return prepare(r, backend, tmp_path / "runs", dry_run=True, echo=lambda s: None)


@pytest.mark.parametrize("backend,method", [("trl", "sft"), ("llamafactory", "sft"), ("swift", "sft"),
                                            ("verl", "grpo"), ("vlmr1", "grpo")])
def test_report_to_reaches_each_backend_in_its_own_words(synth_dataset, model, tmp_path, backend, method):
    trackers = ["tensorboard"] if backend == "vlmr1" else ["tensorboard", "wandb"]   # vlmr1: one (its caps)
    try:
        plan = _plan(synth_dataset, model, tmp_path, backend, method, trackers)
    except BridgeError as e:
        pytest.skip(f"{backend}: cannot prepare a dry run here: {e.message}")
    rec = plan.record()
    env, tb = rec["env"], str(plan.run_dir / "tensorboard")
    assert backend == "vlmr1" or env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == str(plan.run_dir)
    cfg = json.dumps(rec["backend_config"])
    if backend == "vlmr1":
        assert '"--report_to", "tensorboard"' in cfg and f'"--logging_dir", "{tb}"' in cfg
    elif backend == "verl":
        assert env["TENSORBOARD_DIR"] == tb
        assert "trainer.logger=[console,file,tensorboard,wandb]" in cfg
    else:
        assert env["TENSORBOARD_LOGGING_DIR"] == tb
        assert '"report_to": ["tensorboard", "wandb"]' in cfg
    none = _plan(synth_dataset, model, tmp_path, backend, method, [])
    cfg = json.dumps(none.record()["backend_config"])
    assert "TENSORBOARD_LOGGING_DIR" not in none.record()["env"] and "WANDB_MODE" not in none.record()["env"]
    assert {"verl": "trainer.logger=[console,file]", "vlmr1": '"--report_to", "none"'}.get(
        backend, '"report_to": "none"' if backend != "swift" else '"report_to": ["none"]') in cfg


def test_wandb_mode_of_the_caller_wins_and_bad_trackers_are_located(synth_dataset, model, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    assert _plan(synth_dataset, model, tmp_path, "trl", "sft", ["wandb"]).record()["env"]["WANDB_MODE"] == "online"
    with pytest.raises(BridgeError, match="report_to"):
        recipe(synth_dataset, model, "sft", ["mlflow"])
    with pytest.raises(BridgeError, match="twice"):
        recipe(synth_dataset, model, "sft", ["wandb", "wandb"])


def test_a_backend_without_a_tracker_refuses_naming_itself(synth_dataset, model, monkeypatch):
    a = get_adapter("trl")
    monkeypatch.setattr(type(a), "capabilities", type(a.caps())(**{**a.caps().as_dict(), "trackers": ("tensorboard",)}))
    with pytest.raises(BridgeError, match="backend 'trl' cannot honour") as e:
        check_backend(recipe(synth_dataset, model, "sft", ["wandb"]), a)
    assert "train.report_to: trl: experiment tracker not supported (expected tensorboard, found 'wandb')" in str(e.value)


READ_TB = """
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1]); acc.Reload()
print(json.dumps({t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["swift", "trl", "llamafactory"])
def test_a_smoke_run_writes_tensorboard_events(backend, synth_dataset, tmp_path):
    from bridge.backends.testing import backend_python

    py = backend_python(backend)
    if subprocess.run([py, "-c", "import tensorboard"], capture_output=True).returncode != 0:
        pytest.skip(f"tensorboard is not in the {backend} environment (its requirements.txt lacks the pin)")
    rec = tmp_path / "r.yaml"
    rec.write_text(json.dumps({"name": "tb", "model": "tiny:qwen2_5_vl", "data": {"train": str(synth_dataset),
                                                                                "style": "gui-r1"},
                               "train": {"max_steps": 2}}))
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(rec), "--smoke", "--backend", backend,
                           "train.report_to=[tensorboard]", "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    events = list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert events, f"no event file under {run_dir / 'tensorboard'}"
    scalars = json.loads(subprocess.run([py, "-c", READ_TB, str(events[0].parent)], capture_output=True, text=True,
                                        check=True).stdout)
    loss = [k for k in scalars if k.endswith("loss")]
    assert loss and [s for s, _ in scalars[loss[0]]] == [1, 2], scalars
