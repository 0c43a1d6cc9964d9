"""Multi-process runs launched for real: `bridge run` with ``distributed.nproc_per_node: 2`` on the CPU — TRL under
``accelerate launch``, LLaMA-Factory and ms-swift under torchrun — 2 SFT steps each, the rendered command as it
is, the two processes in one DDP group on gloo.

Proof that the processes trained together, not side by side: torch's own DDP logger (TORCH_DISTRIBUTED_DEBUG=INFO)
prints ``[Rank N]: DDP Initialized with: ... world_size: 2 ... backend_name: gloo`` from each rank's
DistributedDataParallel, and transformers' warning that the group exists without DDP ("parallel_mode !=
ParallelMode.DISTRIBUTED": every process trains its own copy on its shard — what ms-swift did on a CPU torchrun
before ``use_cpu``) is absent. One adapter is saved, by the main process."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge.backends.testing import backend_python

pytestmark = pytest.mark.slow

NOT_DDP = "parallel_mode != ParallelMode.DISTRIBUTED"


def free_port() -> int:
    with socket.socket() as s:   # two checkouts on one machine: never a fixed port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_ranks(log: str) -> dict[int, dict[str, str]]:
    """Each rank's "DDP Initialized with:" block of torch's c10d logger, as key -> value."""
    out = {}
    for m in re.finditer(r"\[Rank (\d+)\]: DDP Initialized with: *\n((?:[a-z_]+: [^\n]*\n)+)", log):
        out[int(m.group(1))] = dict(ln.split(": ", 1) for ln in m.group(2).splitlines())
    return out


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.backend(b))
                                     for b in ("trl", "llamafactory", "swift")])
def test_two_cpu_processes_train_in_one_ddp_group(backend, synth_dataset, tmp_path):
    python = backend_python(backend)
    recipe = {"name": f"ddp-{backend}", "model": "tiny:qwen2_5_vl",
              "data": {"train": str(synth_dataset), "style": "gui-r1", "min_pixels": 3136, "max_pixels": 12544},
              "method": "sft", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
              "train": {"lr": 1e-4, "max_steps": 2, "per_device_batch": 1, "precision": "fp32", "device": "cpu",
                        "logging_steps": 1, "save": {"strategy": "end"}},
              "distributed": {"nproc_per_node": 2, "master_port": free_port()},
              "backends": {backend: {"python": python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**__import__("os").environ, "BRIDGE_HOME": str(tmp_path / "home"),
           "TORCH_DISTRIBUTED_DEBUG": "INFO", "TORCH_CPP_LOG_LEVEL": "INFO"}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--backend", backend,
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env,
                          timeout=600)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text(errors="replace")
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["steps_logged"] == 2
    assert record["effective"]["world_size"] == 2 and record["effective"]["nodes_x_procs"] == "1x2"

    ranks = ddp_ranks(log)
    assert sorted(ranks) == [0, 1], f"DDP initialised on ranks {sorted(ranks)}\n{log[-4000:]}"
    for r, info in ranks.items():
        assert info["world_size"] == "2" and info["backend_name"] == "gloo" and info["rank"] == str(r)
        assert info["module_name"] == "PeftModelForCausalLM"   # the LoRA model is what DDP wraps
    assert NOT_DDP not in log, "the processes trained independently (no DDP)"

    adapters = sorted(run_dir.rglob("adapter_model.safetensors"))
    assert len(adapters) == 1 and adapters[0].stat().st_size > 0, adapters
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
