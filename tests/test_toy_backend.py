"""docs/backends.md "Adding a backend", followed end to end with the toy out-of-tree backend of
tests/fixtures/toy_backend: one package registered by one entry point (patched here as installing it would do),
with no edit to gui-bridge, its tests or the Makefile. The registry lists it, every command sees it, everything it
ships is found in its own package, and the conformance suite tells it exactly what it lacks."""
from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bridge import backends, envs
from bridge.backends import testing
from bridge.backends.base import Adapter
from bridge.backends.metrics import parse_run
from bridge.cli import cli, main
from bridge.errors import BridgeError
from bridge.recipe import parse_recipe
from bridge.runs import export_dataset, make_style, prompt_options

TOY = Path(__file__).resolve().parent / "fixtures" / "toy_backend"
TARGET = "toy_trainer.adapter:ToyAdapter"


def register(monkeypatch, eps: dict[str, list[tuple[str, str]]]) -> None:
    """Make ``importlib.metadata.entry_points(group=...)`` return ``eps[group]`` (as an installed package would)."""
    def fake(group: str):
        return [EntryPoint(name=n, value=v, group=group) for n, v in eps.get(group, [])]

    monkeypatch.setattr(backends, "entry_points", fake)
    backends.refresh()


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY))
    register(monkeypatch, {"gui_bridge.backends": [("toy", TARGET)]})
    yield backends.get_adapter("toy")
    backends.refresh()
    for name in [m for m in sys.modules if m.split(".")[0] == "toy_trainer"]:
        del sys.modules[name]


def test_builtins_need_no_entry_point_metadata(monkeypatch):
    register(monkeypatch, {})
    assert backends.backend_names() == ["trl", "llamafactory", "swift", "verl", "vlmr1"]
    assert all(backends.get_adapter(n).name == n for n in backends.backend_names())
    backends.refresh()


def test_the_registry_lists_it_after_the_builtins(toy):
    assert isinstance(toy, Adapter) and toy.package() == "toy_trainer"
    assert backends.backend_names()[-1] == "toy" and backends.registry()["toy"] == TARGET
    out = CliRunner().invoke(cli, ["backends", "--names"])
    assert out.exit_code == 0 and out.output.split() == [*backends.BUILTIN, "toy"]
    # what `make test` installs: unchanged by a backend that declares itself untested
    out = CliRunner().invoke(cli, ["backends", "--names", "--tested"])
    assert out.output.split() == ["trl", "llamafactory", "swift", "verl", "vlmr1"]
    matrix = CliRunner().invoke(cli, ["backends", "--json"])
    assert json.loads(matrix.output)["toy"]["methods"] == ["sft"]


def test_the_legacy_group_is_read_and_a_name_claimed_twice_is_an_error(monkeypatch):
    monkeypatch.syspath_prepend(str(TOY))
    register(monkeypatch, {"gui_bridge.adapters": [("toy", TARGET)]})
    assert "toy" in backends.backend_names()
    register(monkeypatch, {"gui_bridge.backends": [("trl", TARGET)]})
    with pytest.raises(BridgeError, match="'trl' is claimed twice"):
        backends.backend_names()
    register(monkeypatch, {"gui_bridge.backends": [("other", TARGET)]})
    with pytest.raises(BridgeError, match="declares name 'toy'"):
        backends.get_adapter("other")
    backends.refresh()


def test_everything_it_ships_is_found_in_its_own_package(toy, synth_dataset, tmp_path):
    assert envs.requirements_file("toy") == TOY / "toy_trainer" / "requirements.txt"
    assert "toy" in envs.env_names() and envs.status("toy").state == "missing"
    r = parse_recipe({"name": "toy-run", "model": "Qwen/Qwen2-VL-2B-Instruct", "method": "sft",
                      "data": {"train": str(synth_dataset), "style": "qwen2vl"},
                      "finetune": {"type": "full"}, "train": {"lr": 1e-5, "max_steps": 3}})
    assert toy.recipe_problems(r) == []
    export, _ = export_dataset(toy, synth_dataset, make_style("qwen2vl", prompt_options(r.data)), "sft",
                               tmp_path / "export", r)
    rows = [json.loads(x) for x in export.files["train"].read_text().splitlines()]
    assert len(rows) == export.samples > 0 and "<image>" in rows[0]["messages"][-2]["content"]
    (tmp_path / "run").mkdir()
    files = toy.render_config(r, export, tmp_path / "run")
    cfg = yaml.safe_load(files["config"].read_text())
    assert cfg == {"model": "Qwen/Qwen2-VL-2B-Instruct", "train_file": str(export.files["train"]),
                   "learning_rate": 1e-5, "max_steps": 3}
    assert "toy_trainer/templates/config.yaml.j2" in files["config"].read_text()
    assert parse_run("toy", tmp_path / "run").rows == []      # no log parser: no rows, no error


def test_convert_and_check_commands_see_it(toy, synth_dataset, tmp_path, capsys):
    out = CliRunner().invoke(cli, ["convert", str(synth_dataset), "--backend", "toy", "--style", "qwen2vl",
                                   "--method", "sft", "--out", str(tmp_path / "exp")])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "exp" / "export.json").read_text())["meta"]["backend"] == "toy"
    with pytest.raises(SystemExit) as e:      # the command line's own error handling: exit 2, one message
        main(["check", "--backend", "toy", str(tmp_path / "exp"), "--model", str(tmp_path)])
    assert e.value.code == 2 and "backend 'toy' has no check script" in capsys.readouterr().err


def test_the_conformance_suite_tells_it_what_it_lacks(toy):
    assert set(testing.missing(toy)) == {"check", "logs", "read_config"}
    with pytest.raises(AssertionError) as e:
        testing.test_backend_ships_everything("toy")
    msg = str(e.value)
    assert "backend 'toy' lacks:" in msg and "ToyAdapter.gaps" in msg
    for item in ("check.py in the backend's package", "logs.py in the backend's package", "Adapter.read_config"):
        assert item in msg
    assert "requirements" not in testing.missing(toy)
    # the parametrised suite covers it like a built-in, and declaring the gaps makes it pass
    assert "toy" in [p.values[0] for p in testing.params("complete")]
    type(toy).gaps = {"check": "toy", "logs": "toy", "read_config": "toy"}
    try:
        testing.test_backend_ships_everything("toy")
        testing.test_declared_gaps_are_real("toy")
    finally:
        type(toy).gaps = {}
    with pytest.raises(testing.Gap):
        testing.require(toy, "check")
