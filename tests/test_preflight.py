"""bridge run's pre-flight (bridge/backends/preflight.py): what the rendered configuration makes the backend import
is looked for in the backend's environment before anything is launched; a lack is refused with the setting that
asked for it and the install command (exit code 2, run.json status "refused", no backend.log)."""
from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from bridge.backends import get_adapter, preflight
from bridge.errors import BridgeError
from bridge.recipe import parse_recipe


def test_missing_reports_exactly_the_absent_modules():
    assert preflight.missing(sys.executable, ["json", "no_such_module_xyz", "yaml"]) == ["no_such_module_xyz"]
    assert preflight.missing(sys.executable, []) == []


def recipe(**over):
    d = {"name": "p", "model": "tiny:qwen2_5_vl", "data": {"train": "/d", "style": "qwen25vl"}, "method": "grpo",
         "grpo": {"rollout": {"engine": "hf"}}}
    d.update(over)
    if d["method"] == "sft":
        d.pop("grpo")
    return parse_recipe(d)


@pytest.mark.parametrize("backend", ["trl", "llamafactory", "swift"])
def test_what_each_setting_requires(backend):
    a = get_adapter(backend)
    method = "grpo" if "grpo" in a.methods else "sft"
    assert a.requires(recipe(method=method)) == []
    ds = a.requires(recipe(method=method, distributed={"deepspeed": "zero3"}))
    assert [(r.module, r.setting) for r in ds] == [("deepspeed", "distributed.deepspeed: zero3")]
    assert re.fullmatch(r"deepspeed==\d+\.\d+\.\d+", ds[0].pip)   # the environment's own pin, for the hint
    if "vllm" in a.caps().rollout_engines and method == "grpo":
        assert [r.module for r in a.requires(recipe(grpo={"rollout": {"engine": "vllm"}}))] == ["vllm"]


def test_check_names_setting_and_install_command():
    reqs = [preflight.Requirement("no_such_module_xyz", "grpo.rollout.engine: x", "'x[y]==1'"),
            preflight.Requirement("json", "never reported")]
    with pytest.raises(BridgeError) as e:
        preflight.check("trl", sys.executable, reqs)
    assert "no_such_module_xyz: asked for by grpo.rollout.engine: x" in e.value.message
    assert "never reported" not in e.value.message
    assert f"{sys.executable} -m pip install 'x[y]==1'" in e.value.hint
    preflight.check("trl", sys.executable, reqs[1:])   # all present: no error


def test_bridge_run_refuses_deepspeed_the_environment_lacks(synth_dataset, tmp_path, capsys):
    """LLaMA-Factory with ZeRO-2 and an interpreter without DeepSpeed: refused before torchrun starts. The
    llamafactory environment pins DeepSpeed (its requirements.txt), so the interpreter is this project's own, which
    has none — what a user's own `backends.llamafactory.python` without DeepSpeed looks like to the pre-flight."""
    from bridge.cli import main as cli_main

    python = sys.executable
    if not preflight.missing(python, ["deepspeed"]):
        pytest.skip(f"{python} has DeepSpeed")
    r = {"name": "ds", "model": "tiny:qwen2_5_vl", "data": {"train": str(synth_dataset), "style": "gui-r1"},
         "method": "sft", "train": {"max_steps": 2, "device": "cpu"},
         "distributed": {"nproc_per_node": 2, "deepspeed": "zero2"},
         "backends": {"llamafactory": {"python": python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(r))
    with pytest.raises(SystemExit) as e:
        cli_main(["run", str(path), "--backend", "llamafactory", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    assert "deepspeed: asked for by distributed.deepspeed: zero2" in err
    pin = preflight.pinned(get_adapter("llamafactory"), "deepspeed")
    assert pin.startswith("deepspeed==") and f"{python} -m pip install {pin}\n" in err + "\n"
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "refused"
    assert not (run_dir / "backend.log").exists()
