"""CPU launch variables of the trainers (bridge.backends.common.cpu_env, docs/performance.md): every CPU backend
starts with one compute thread per core given to the run and the glibc malloc settings that keep the per-step
logits buffers mapped; GPU and multi-process launches are left as they were. Builds launch commands only (no
environment, no torch): runs in well under a second."""
from __future__ import annotations

from pathlib import Path

import pytest

from bridge.backends import get_adapter
from bridge.backends.base import ExportResult
from bridge.backends.common import CPU_MALLOC_ENV
from bridge.recipe import parse_recipe

CPU_BACKENDS = ("trl", "llamafactory", "swift")


def launch_env(backend: str, tmp_path: Path, **train) -> dict[str, str]:
    recipe = parse_recipe({"name": "t", "model": "tiny:qwen2_5_vl", "data": {"train": str(tmp_path), "style": "gui-r1"},
                           "method": "sft", "train": {"max_steps": 1, **train}}, base=tmp_path)
    export = ExportResult(out=tmp_path, method="sft", files={"train": tmp_path / "train.jsonl"}, samples=1,
                          meta={"frame": {"min_pixels": 3136, "max_pixels": 12544}})
    return get_adapter(backend).command(recipe, export, tmp_path, "python").env


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_cpu_run_gets_one_thread_per_core(backend, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("bridge.backends.common.cpu_cores", lambda: 3)
    env = launch_env(backend, tmp_path, device="cpu")
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "3"
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert {k: env.get(k) for k in CPU_MALLOC_ENV} == CPU_MALLOC_ENV


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_user_thread_count_wins(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr("bridge.backends.common.cpu_cores", lambda: 3)
    env = launch_env(backend, tmp_path, device="cpu")
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gpu_run_unchanged(backend, tmp_path, monkeypatch):
    env = launch_env(backend, tmp_path, device="cuda")
    assert not {"OMP_NUM_THREADS", "MKL_NUM_THREADS", *CPU_MALLOC_ENV} & set(env)
