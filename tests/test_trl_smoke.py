"""Real TRL runs: `bridge run --smoke` SFT and GRPO on the synthetic dataset with the tiny model, in the TRL
environment (2 steps on CPU each, about a minute). Skipped with the reason when the environment is missing,
except under BRIDGE_REQUIRE_BACKENDS=1 (the README's test command), where a missing environment fails."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge import tiny
import yaml

from bridge import envs

pytestmark = [pytest.mark.backend("trl"), pytest.mark.slow]


@pytest.fixture(scope="module")
def trl_python() -> str:
    st = envs.status("trl")
    if st.state != "ok":
        msg = f"the TRL environment is {st.state} ({st.path}); install it with `bridge env install trl`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(st.python)


def smoke(tmp_path: Path, trl_python: str, synth_dataset: Path, method: str) -> tuple[dict, Path, list[dict]]:
    """Run `bridge run RECIPE --smoke` for ``method``; return (run.json, run dir, metrics rows)."""
    r = {"name": f"smoke-{method}", "model": "tiny:qwen2_5_vl",
         "data": {"train": str(synth_dataset), "style": "gui-r1", "history": 2},
         "method": method, "finetune": {"type": "lora", "rank": 8, "alpha": 16},
         "train": {"lr": 1e-4, "max_steps": 50},
         # the interpreter override lets BRIDGE_HOME point at a fresh cache while using the installed env
         "backends": {"trl": {"python": trl_python}}}
    if method == "grpo":
        r["grpo"] = {"rewards": [{"preset": "gui-r1"}, {"name": "gaussian_point", "weight": 0.5}]}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(r))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--runs-dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text() if (run_dir / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return record, run_dir, rows


def check_common(record: dict, run_dir: Path, rows: list[dict], method: str) -> None:
    assert record["status"] == "ok" and record["return_code"] == 0 and record["smoke"] is True
    assert record["method"] == method and record["backend"] == "trl"
    assert record["versions"]["trl"] == "1.16.0" and record["versions"]["peft"] == "0.21.2"
    assert record["recipe"]["model"].endswith(tiny.cache_name("qwen2_5_vl")) and record["recipe"]["train"]["max_steps"] == 2
    assert record["metrics_log"] == str(run_dir / "trainer_log.jsonl") and Path(record["metrics_log"]).is_file()
    assert [r["step"] for r in rows] == [1, 2] and record["steps_logged"] == 2
    assert all(math.isfinite(r["loss"]) for r in rows)
    out = run_dir / "output"
    assert (out / "adapter_model.safetensors").stat().st_size > 0
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 8 and adapter_cfg["lora_alpha"] == 16
    resolved = record["resolved"]["trl_resolved"]
    # LoRA only on the language model (recipe default): nothing in the ViT or merger trains
    assert resolved["trainable_parts"] == ["language_model"] and resolved["lora_targets"]
    assert all(".language_model." in t for t in resolved["lora_targets"])
    assert set(adapter_cfg["target_modules"]) == set(resolved["lora_targets"])
    # the processor resizes exactly as the style's frame assumed (the tiny processor's limits in smoke mode)
    from bridge.tiny import MAX_PIXELS, MIN_PIXELS

    assert resolved["processor_size"] == {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    assert resolved["use_cpu"] is True and resolved["train_samples"] == 16


def test_trl_sft_smoke(tmp_path, trl_python, synth_dataset):
    record, run_dir, rows = smoke(tmp_path, trl_python, synth_dataset, "sft")
    check_common(record, run_dir, rows, "sft")
    assert all(r["loss"] > 0 for r in rows)              # cross-entropy of a random model: about ln(vocab)
    assert all(r["grad_norm"] > 0 for r in rows)


def test_trl_grpo_smoke(tmp_path, trl_python, synth_dataset):
    record, run_dir, rows = smoke(tmp_path, trl_python, synth_dataset, "grpo")
    check_common(record, run_dir, rows, "grpo")
    resolved = record["resolved"]["trl_resolved"]
    assert resolved["reward_funcs"] == ["bridge_gui_r1", "bridge_gaussian_point", "smoke_aux"]
    for r in rows:   # every reward component is logged on every step
        assert {"reward", "reward/gui_r1", "reward/gaussian_point", "reward/smoke_aux"} <= set(r)
        assert 0.0 <= r["reward/gui_r1"] <= 1.0
    assert any(r["grad_norm"] > 0 for r in rows)         # the dense auxiliary reward makes gradients flow
    args = record["backend_config"]["config"]["args"]
    assert args["num_generations"] == 2 and "reward_weights" not in args
    assert record["backend_config"]["config"]["rewards"] == [{"preset": "gui-r1", "weight": 1.0},
                                                             {"name": "gaussian_point", "weight": 0.5}]
