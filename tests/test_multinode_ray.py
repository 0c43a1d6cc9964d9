"""Issue 12 item 5: verl's rendered ``multinode.sh`` run for real on one machine — a Ray head and one Ray worker
on loopback, checked with Ray's own ``ray.nodes()``, then ``multinode.sh train`` (main_ppo against that cluster)
up to the point verl needs GPUs: its resource-pool check ("Total available GPUs 0 is less than total desired
GPUs 2", verl/single_controller/ray/base.py:241) after Hydra, the TransferQueue actors, tokenizer and dataloader.

Two Ray nodes on one machine need their own temp dirs (``--temp-dir`` is per node, ray/scripts/scripts.py:669)
and their own fixed-default ports (GCS 6379, dashboard 8265, dashboard agent 52365, Ray client 10001): the test
passes free ones through the script's ``BRIDGE_RAY_PORT`` and its pass-through ``ray start`` arguments.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from bridge.backends.testing import backend_python
from bridge.cli import main as cli_main

pytestmark = [pytest.mark.slow, pytest.mark.backend("verl")]

GPU_MESSAGE = "Total available GPUs 0 is less than total desired GPUs 2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_pids(sids: list[int]) -> list[int]:
    """Live processes of the sessions the test started: every Ray daemon and worker a ``ray start`` spawns stays
    in its session (Ray workers take their own process group, not their own session)."""
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sids:
            out.append(int(p))
    return out


def stop_sessions(sids: list[int]) -> list[int]:
    """SIGTERM, then SIGKILL after 5 s, the processes of ``sids`` only. Not ``multinode.sh stop``: ``ray stop``
    kills every Ray process on the machine by name (ray/scripts/scripts.py:1379-1403), other users' clusters too."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(sids):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 5
        while session_pids(sids) and time.monotonic() < end:
            time.sleep(0.2)
    return session_pids(sids)


@pytest.fixture
def sessions():
    sids: list[int] = []
    yield sids
    assert stop_sessions(sids) == [], "Ray processes survived the teardown"


def test_two_node_ray_cluster_from_multinode_sh(synth_dataset, tiny_model_dir, tmp_path, monkeypatch, sessions):
    python = backend_python("verl")                     # before BRIDGE_HOME moves: the installed environment
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    recipe = {"name": "mn", "model": str(tiny_model_dir), "method": "grpo",
              "data": {"train": str(synth_dataset), "style": "qwen2vl"},
              # full fine-tuning: with LoRA main_ppo's validate_config imports vLLM for its LoRA-rank table
              # (verl/utils/config.py:212-215), which the CPU environment lacks (pre-flight refuses that run)
              "finetune": {"type": "full", "train": {"vision_tower": True, "projector": True}},
              "train": {"max_steps": 1}, "grpo": {"num_generations": 2, "rollout": {"engine": "vllm"}},
              "distributed": {"nnodes": 2, "nproc_per_node": 1, "master_addr": "127.0.0.1"},
              "backends": {"verl": {"python": python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    cli_main(["run", "--backend", "verl", str(path), "--dry-run", "--runs-dir", str(tmp_path / "runs")])
    run_dir = next((tmp_path / "runs").iterdir())
    script = run_dir / "multinode.sh"

    # Ray's unix sockets live under the temp dir and may not exceed 107 bytes (ray/_private/utils.py:1758):
    # tmp_path is too deep, so the nodes get a short link to it
    (tmp_path / "ray").mkdir()
    link = Path("/tmp") / f"bridge-ray-{uuid.uuid4().hex[:8]}"
    link.symlink_to(tmp_path / "ray")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["BRIDGE_RAY_PORT"] = str(port := free_port())
    # fewer processes on a 2-core machine: no idle workers started ahead of the actors (Ray's system config
    # enable_worker_prestart / prestart_worker_first_driver, read from RAY_<name>); no autoscaler monitor
    env.update(RAY_enable_worker_prestart="0", RAY_prestart_worker_first_driver="0")
    # no GPUs here, so none declared (the script's --num-gpus=1 would let verl past its check into CUDA code);
    # 2 CPUs a node: TransferQueue's controller and one storage unit per node (below) take one each
    node = ["--num-gpus=0", "--num-cpus=2", "--object-store-memory=78643200", "--disable-usage-stats"]

    def role(name: str, *args: str, timeout: float) -> tuple[int, str]:
        log = tmp_path / f"{name}.log"
        with open(log, "w") as out:
            p = subprocess.Popen(["bash", str(script), name, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
            sessions.append(p.pid)                      # session id = its pid (setsid)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
        return rc, log.read_text(errors="replace")

    try:
        rc, out = role("head", *node, f"--temp-dir={link}/head", "--include-dashboard=false", "--no-monitor",
                       f"--dashboard-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
                       f"--ray-client-server-port={free_port()}", timeout=60)
        assert rc == 0, out[-3000:]
        token = run_dir / "ray_auth_token"             # written by `head`, read by every other role
        assert token.stat().st_size == 64 and token.stat().st_mode & 0o077 == 0
        rc, out = role("worker", *node, f"--temp-dir={link}/worker",
                       f"--dashboard-agent-listen-port={free_port()}", timeout=60)
        assert rc == 0, out[-3000:]

        auth = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        probe = subprocess.run([python, "-c", "import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                                "print(json.dumps([[n['Alive'], n['Resources']] for n in ray.nodes()]))"
                                % f"127.0.0.1:{port}"], env=auth, capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr[-3000:]
        nodes = json.loads(probe.stdout.strip().splitlines()[-1])
        assert [alive for alive, _ in nodes] == [True, True], nodes
        assert sorted(r.get("CPU") for _, r in nodes) == [2.0, 2.0] and not any(r.get("GPU") for _, r in nodes)

        # main_ppo as the script launches it; the extra override keeps TransferQueue's storage to one actor a node
        # (verl's default 8, one CPU each: transfer_queue/storage/simple_storage.py:722, placed round robin over
        # the nodes by transfer_queue/storage/bootstrap/simple_storage_bootstrap.py:65)
        rc, out = role("train", "transfer_queue.backend.SimpleStorage.num_data_storage_units=2", timeout=150)
        assert rc != 0 and GPU_MESSAGE in out, out[-5000:]
        assert "TaskRunner" in out                      # it ran inside the cluster, not in a local one
    finally:
        left = stop_sessions(sessions)
        link.unlink()
    assert left == []
