"""Dotted command-line overrides (bridge.overrides), duplicate recipe keys, `bridge validate-recipe`
(issue 14 item 1)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge.errors import BridgeError
from bridge.recipe import data_overrides, load_recipe, recipe_overrides

ROOT = Path(__file__).resolve().parents[1]


def bridge(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture
def recipe_file(tmp_path, synth_dataset):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"name": "ovr", "model": "tiny:qwen2_5_vl", "method": "grpo",
                                 "data": {"train": str(synth_dataset), "style": "gui-r1"},
                                 "grpo": {"rewards": [{"preset": "gui-r1"}]}}))
    return p


def test_overrides_are_typed_by_the_recipe_model(recipe_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = load_recipe(recipe_file, ["name=007", "train.lr=1e-4", "train.max_steps=5", "data.think=true",
                                  "grpo.rewards[0].weight=2", "train.epochs=null", "data.train=sub/d",
                                  "backends.trl.overrides.foo=[1, 2]"])
    assert r.name == "007"                                   # a string field keeps the text: not the int 7
    assert r.train.lr == 1e-4 and isinstance(r.train.lr, float)   # YAML 1.1 reads "1e-4" as a string
    assert r.train.max_steps == 5 and r.data.think is True and r.grpo.rewards[0].weight == 2.0
    assert r.data.train == str(tmp_path / "sub" / "d")       # relative to the current directory, not the recipe's
    assert r.backends["trl"].overrides == {"foo": [1, 2]}
    assert recipe_overrides(r)[0] == "name=007"
    assert recipe_overrides(load_recipe(recipe_file)) == []


def test_bad_overrides_are_located_at_the_override_all_at_once(recipe_file):
    with pytest.raises(BridgeError) as e:
        load_recipe(recipe_file, ["train.lr=abc", "train.lrr=3", "finetune.type=qlora", "grpo.rewards[3].weight=1"])
    text = str(e.value)
    assert "override grpo.rewards[3].weight=1: no element [3]" in text
    with pytest.raises(BridgeError) as e:
        load_recipe(recipe_file, ["train.lr=abc", "train.lrr=3", "finetune.type=qlora"])
    lines = str(e.value).splitlines()
    assert len(e.value.problems) == 3
    assert any(l.strip().startswith("override train.lr=abc train.lr:") and "a number" in l for l in lines)
    assert any(l.strip().startswith("override train.lrr=3 train.lrr: unknown field") for l in lines)
    assert any(l.strip().startswith("override finetune.type=qlora") for l in lines)
    with pytest.raises(BridgeError, match="not a dotted override"):
        load_recipe(recipe_file, ["lr"])


def test_duplicate_keys_are_an_error_with_both_lines(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: d\nmodel: tiny:qwen2_vl\ndata: {train: x, style: qwen2vl}\ntrain:\n  lr: 1.0e-4\n"
                 "  seed: 1\n  lr: 2.0e-4\n")
    with pytest.raises(BridgeError) as e:
        load_recipe(p)
    assert e.value.problems[0].line == 7 and "duplicate key 'lr' (lines 5 and 7" in str(e.value)


def test_convert_takes_data_overrides_only():
    d = data_overrides({"train": "x", "style": "qwen2vl", "history": 4}, ["data.history=2", "data.think=true"])
    assert d.history == 2 and d.think is True
    with pytest.raises(BridgeError, match="only data"):
        data_overrides({"train": "x", "style": "qwen2vl"}, ["train.lr=1"])
    with pytest.raises(BridgeError, match="override data.history=-1"):
        data_overrides({"train": "x", "style": "qwen2vl"}, ["data.history=-1"])


def test_run_records_overrides_in_run_json(recipe_file, tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    proc = bridge("run", recipe_file, f"model={model}", "train.max_steps=3", "method=sft", "grpo=null",
                  "--dry-run", "--runs-dir", tmp_path / "runs", cwd=tmp_path, env={"BRIDGE_HOME": str(tmp_path / "h")})
    assert proc.returncode == 0, proc.stderr
    record = json.loads(next((tmp_path / "runs").iterdir()).joinpath("run.json").read_text())
    assert record["overrides"] == [f"model={model}", "train.max_steps=3", "method=sft", "grpo=null"]
    assert record["recipe"]["train"]["max_steps"] == 3 and record["backend_config"]["config"]["args"]["max_steps"] == 3
    bad = bridge("run", recipe_file, "train.max_steps=0", "--dry-run", cwd=tmp_path)
    assert bad.returncode == 2 and "override train.max_steps=0 train.max_steps" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_validate_recipe_has_no_side_effects(recipe_file, tmp_path):
    home = tmp_path / "home"
    env = {"BRIDGE_HOME": str(home), "HOME": str(tmp_path / "user")}
    ok = bridge("validate-recipe", recipe_file, "-b", "trl", "-b", "swift", cwd=tmp_path, env=env)
    assert ok.returncode == 0, ok.stderr + ok.stdout
    assert "trl           ok" in ok.stdout and "OK:" in ok.stdout
    refused = bridge("validate-recipe", recipe_file, "-b", "llamafactory", "data.train=nowhere", cwd=tmp_path,
                     env=env)
    assert refused.returncode == 2
    assert "llamafactory  refuses" in refused.stdout and "data.train: no such dataset" in refused.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]   # no runs/, no home, no model, no export
