"""`bridge run --resume RUN_DIR` (issue 14 item 3): each backend's own resume from its last checkpoint, a refusal
naming the backend where it has none; a real TRL run interrupted after a checkpoint and resumed to completion."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bridge.backends import get_adapter
from bridge.backends.common import resume_hf_yaml
from bridge.backends.verl.adapter import OVERRIDES_FILE
from bridge.errors import BridgeError
from bridge.runs import resume_plan


def record(run_dir: Path, backend: str, status: str) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({"backend": backend, "status": status}))
    return run_dir


def test_refusals_are_located_and_name_the_backend(tmp_path):
    with pytest.raises(BridgeError, match="backend 'vlmr1' has no resume"):
        resume_plan(record(tmp_path / "a", "vlmr1", "interrupted"), echo=lambda s: None)
    with pytest.raises(BridgeError, match="backend 'trl' saved no checkpoint in .*output"):
        resume_plan(record(tmp_path / "b", "trl", "failed"), echo=lambda s: None)
    with pytest.raises(BridgeError, match="status is 'ok'; only an interrupted or failed run resumes"):
        resume_plan(record(tmp_path / "c", "trl", "ok"), echo=lambda s: None)
    with pytest.raises(BridgeError, match="not a run directory"):
        resume_plan(tmp_path / "nothing", echo=lambda s: None)


def test_hf_backends_resume_from_their_newest_checkpoint(tmp_path):
    a = get_adapter("llamafactory")
    out = a.output_dir(tmp_path)
    for n in (2, 10, 4, 12):
        (out / f"checkpoint-{n}").mkdir(parents=True)
        if n != 12:                                                      # 12: interrupted while saving
            (out / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
    (out / "checkpoint-last").mkdir()
    assert a.last_checkpoint(tmp_path) == out / "checkpoint-10"        # numeric, not lexical, order; complete only
    cfg = tmp_path / "sft.yaml"
    cfg.write_text("output_dir: out\nlearning_rate: 1.0e-4\n")
    resume_hf_yaml(cfg, out / "checkpoint-4")
    resume_hf_yaml(cfg, out / "checkpoint-10")                           # a second resume replaces the first
    assert yaml.safe_load(cfg.read_text()) == {"output_dir": "out", "learning_rate": 1e-4,
                                               "resume_from_checkpoint": str(out / "checkpoint-10")}


def test_verl_resumes_with_resume_path(tmp_path):
    a = get_adapter("verl")
    (a.output_dir(tmp_path) / "global_step_3").mkdir(parents=True)
    (a.output_dir(tmp_path) / "global_step_12").mkdir()
    (tmp_path / OVERRIDES_FILE).write_text("trainer.resume_mode=auto\ntrainer.total_training_steps=20\n")
    ck = a.last_checkpoint(tmp_path)
    assert ck.name == "global_step_12"
    a.resume(tmp_path, {}, ck)
    assert a.overrides(tmp_path) == ["trainer.total_training_steps=20", "trainer.resume_mode=resume_path",
                                     f"trainer.resume_from_path={ck}"]


@pytest.mark.slow
def test_trl_run_interrupted_after_a_checkpoint_resumes_to_completion(synth_dataset, tmp_path):
    from bridge.backends.testing import backend_python

    backend_python("trl")
    # far enough past the first checkpoint that Ctrl-C lands before the end even on a loaded machine (a tiny step
    # with its checkpoint is ~0.1-0.2 s; at 40 steps a CI machine under load once finished before the signal came)
    LAST = 200
    rec = tmp_path / "r.yaml"
    rec.write_text(yaml.safe_dump({
        "name": "res", "model": "tiny:qwen2_5_vl",
        "data": {"train": str(synth_dataset), "style": "gui-r1", "min_pixels": 3136, "max_pixels": 12544},
        "train": {"max_steps": LAST, "per_device_batch": 1, "precision": "fp32", "device": "cpu", "lr": 1e-4,
                  "save": {"strategy": "steps", "steps": 2, "total_limit": 2}}}))
    runs = tmp_path / "runs"
    first = subprocess.Popen([sys.executable, "-m", "bridge.cli", "run", str(rec), "--runs-dir", str(runs)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.time() + 600
    while time.time() < deadline and not list(runs.glob("*/output/checkpoint-2/trainer_state.json")):
        assert first.poll() is None, first.stderr.read()
        time.sleep(0.5)
    first.send_signal(signal.SIGINT)          # Ctrl-C: forwarded to the backend, recorded as interrupted
    _, err = first.communicate(timeout=120)
    run_dir = next(runs.iterdir())
    assert first.returncode == 130, err
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert f"bridge run --resume {run_dir}" in err
    assert not (run_dir / "output" / f"checkpoint-{LAST}").exists()
    again = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "--resume", str(run_dir)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:] + (run_dir / "backend.log").read_text()[-3000:]
    done = json.loads((run_dir / "run.json").read_text())
    assert done["status"] == "ok" and done["resumes"] == 1
    assert Path(done["resumed_from"]).parent == run_dir / "output" and done["resumed_from"] != ""
    state = json.loads((run_dir / "output" / f"checkpoint-{LAST}" / "trainer_state.json").read_text())
    assert state["global_step"] == LAST
    final = {p.name for p in (run_dir / "output").iterdir()}   # the final model in output/ too (TRL's own scripts)
    assert final & {"adapter_config.json", "config.json"} and "processor_config.json" in final, sorted(final)
    resumed_at = int(Path(done["resumed_from"]).name.rpartition("-")[2])
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if "loss" in r]
    assert steps[-1] == LAST and resumed_at + 1 in steps   # training went on from the checkpoint to the end
    log = (run_dir / "backend.log").read_text()
    assert "resume_from_checkpoint" in (run_dir / "trl_config.yaml").read_text() and log.count("\n") > 0
