"""Issue 12 item 5: the DeepSpeed ZeRO-2/3 config each backend really uses, parsed by DeepSpeed's own
``deepspeed.runtime.config.DeepSpeedConfig`` in the environment that would run it (tests/deepspeed_probe.py),
after transformers' ``HfTrainerDeepSpeedConfig`` filled its "auto" values from the recipe's batch, optimiser and
precision — as every one of these trainers does (they all train through transformers' Trainer).

Sources: LLaMA-Factory — our rendered ``ds_zero{2,3}.json``; TRL — what ``accelerate launch --use_deepspeed
--zero_stage N`` (the argv our adapter renders) makes ``DeepSpeedPlugin`` build; ms-swift — its built-in
``swift/config/zero{2,3}.json`` (``--deepspeed zero2|zero3``); VLM-R1 — the checkout's
``local_scripts/zero{2,3}.json``.
Each environment is asked once for both stages (~6-15 s each on 2 cores, mostly importing DeepSpeed).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bridge.backends import available_adapters, get_adapter
from bridge.backends.testing import backend_python, vlmr1_checkout
from bridge.recipe import batch_plan, parse_recipe

PROBE = Path(__file__).with_name("deepspeed_probe.py")
HIDDEN = 1536            # Qwen2-VL-2B's hidden size: fills the ZeRO-3 bucket "auto"s as the Trainer would
STEPS = 100
METHOD = {"trl": "grpo", "llamafactory": "sft", "swift": "sft", "vlmr1": "grpo"}
DS_BACKENDS = sorted(n for n, a in available_adapters().items() if a.caps().deepspeed)


def recipe(backend: str, stage: str, tmp_path: Path):
    """2 nodes x 2 processes, 2 per device, 3 accumulation steps; bf16 with ZeRO-2, fp16 with ZeRO-3."""
    d = {"name": "ds", "model": str(tmp_path / "Qwen2.5-VL-fake"),
         "data": {"train": str(tmp_path), "style": "qwen25vl"},
         "method": METHOD[backend], "finetune": {"type": "full"},
         "train": {"lr": 2e-5, "per_device_batch": 2, "grad_accum": 3, "max_grad_norm": 0.5, "weight_decay": 0.01,
                   "precision": "bf16" if stage == "zero2" else "fp16"},
         "distributed": {"nnodes": 2, "nproc_per_node": 2, "master_addr": "10.0.0.1", "deepspeed": stage}}
    if METHOD[backend] == "grpo":
        d["grpo"] = {"num_generations": 4}
    return parse_recipe(d)


def source(backend: str, r, tmp_path: Path) -> dict:
    stage = r.distributed.deepspeed
    a = get_adapter(backend)
    if backend == "llamafactory":     # what render_config writes (bridge/backends/llamafactory/adapter.py)
        return {"json": json.loads(a.render(f"ds_{stage}.json.j2"))}
    if backend == "trl":
        argv = a.command(r, None, tmp_path, "python").argv
        return {"accelerate": argv[argv.index("accelerate.commands.launch") + 1:]}
    if backend == "swift":
        return {"swift": stage}
    if backend == "vlmr1":
        from bridge.backends.vlmr1.adapter import DEEPSPEED
        from bridge.backends.vlmr1.checkout import project_dir
        return {"file": str(project_dir(vlmr1_checkout()) / DEEPSPEED[stage])}
    raise AssertionError(f"no DeepSpeed config source for {backend}: add it here")


def case(backend: str, stage: str, tmp_path: Path) -> dict:
    r = recipe(backend, stage, tmp_path)
    t, plan = r.train, batch_plan(r)
    args = {"per_device_train_batch_size": plan["per_device_samples"], "gradient_accumulation_steps": t.grad_accum,
            "max_grad_norm": t.max_grad_norm, "learning_rate": t.lr, "adam_beta1": t.adam_beta1,
            "adam_beta2": t.adam_beta2, "adam_epsilon": t.adam_epsilon, "weight_decay": t.weight_decay,
            "bf16": t.precision == "bf16", "fp16": t.precision == "fp16"}
    return {"source": source(backend, r, tmp_path), "args": args, "world_size": r.distributed.world_size,
            "hidden_size": HIDDEN, "steps": STEPS}


def test_every_zero_backend_is_covered():
    assert DS_BACKENDS == ["llamafactory", "swift", "trl", "vlmr1"]
    assert all(get_adapter(b).caps().deepspeed == ("zero2", "zero3") for b in DS_BACKENDS)


@pytest.mark.parametrize("backend", [pytest.param(b, marks=pytest.mark.backend(b)) for b in DS_BACKENDS])
def test_deepspeed_parses_the_zero_configs(backend, tmp_path):
    python = backend_python(backend)
    cases = [case(backend, s, tmp_path) for s in ("zero2", "zero3")]
    # HF_HOME: no accelerate default_config.yaml of this machine's user leaks into what accelerate builds
    env = {"HF_HOME": str(tmp_path / "hf"), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    out = subprocess.run([python, str(PROBE)], input=json.dumps(cases), capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    for stage, c, g in zip((2, 3), cases, got):
        micro, accum, world = c["args"]["per_device_train_batch_size"], c["args"]["gradient_accumulation_steps"], 4
        assert (g["stage"], g["micro"], g["grad_accum"], g["world_size"]) == (stage, micro, accum, world), g
        assert g["train_batch_size"] == micro * accum * world, g
        assert (g["bf16"], g["fp16"]) == ((True, False) if stage == 2 else (False, True)), g
        assert g["autos"] == [], g                   # nothing left for DeepSpeed to choose on its own
    if backend == "vlmr1":
        assert got[0]["deepspeed"] == "0.15.4"
