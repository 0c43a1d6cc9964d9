"""Backend environments: location, stamp-based idempotence, the exact fix command, interpreter overrides.
pip and venv are replaced by a recorder here; the real installs run in the README's test command."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge import envs
from bridge.backends import get_adapter
from bridge.cli import cli
from bridge.errors import BridgeError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_pip(monkeypatch):
    """Record commands instead of running them; `-m venv DIR` creates DIR/bin/python."""
    calls: list[list[str]] = []

    def run(argv, echo):
        calls.append(list(argv))
        if argv[1:3] == ["-m", "venv"]:
            py = Path(argv[3]) / "bin" / "python"
            py.parent.mkdir(parents=True)
            py.write_text("")

    monkeypatch.setattr(envs, "_run", run)
    return calls


def test_layout_and_shipped_requirement_files(home):
    assert envs.env_dir("trl") == home / "envs" / "trl"
    assert envs.env_python("trl") == home / "envs" / "trl" / "bin" / "python"
    assert {"trl", "llamafactory", "swift"} <= set(envs.env_names())
    pins = envs.requirements_file("trl").read_text()
    for pin in ("trl==1.16.0", "peft==0.21.2", "torch==2.14.1", "torchvision==0.29.1", "transformers==5.23.0"):
        assert pin in pins


def test_missing_environment_error_prints_the_fix_command(home):
    assert envs.status("trl").state == "missing"
    with pytest.raises(BridgeError) as ei:
        envs.resolve_python("trl")
    assert "fix: bridge env install trl" in str(ei.value)


def test_unknown_backend_environment(home):
    with pytest.raises(BridgeError) as ei:
        envs.status("nope")
    assert "no environment definition for backend 'nope'" in ei.value.message
    assert "backends.nope.python" in ei.value.hint


def test_install_then_noop_then_reinstall_on_changed_pins(home, fake_pip, monkeypatch, tmp_path):
    req = tmp_path / "reqs"
    req.mkdir()
    (req / "trl.txt").write_text("# comment\ntrl==1.16.0\n")
    # the backend's own requirements.txt, here a copy we can edit (found through the adapter, as envs does)
    monkeypatch.setattr(type(get_adapter("trl")), "requirements_file", classmethod(lambda cls: req / "trl.txt"))
    st = envs.install("trl", echo=lambda s: None)
    assert st.state == "ok"
    py = str(envs.env_python("trl"))
    assert fake_pip[0][1:] == ["-m", "venv", str(envs.env_dir("trl"))]
    assert fake_pip[1][:5] == [py, "-m", "pip", "install", "--disable-pip-version-check"]
    assert fake_pip[1][5:7] == ["-r", str(req / "trl.txt")] and "pydantic>=2.6" in fake_pip[1]
    assert fake_pip[2][-3:] == ["--no-deps", "-e", str(envs.source_checkout())]
    stamp = json.loads((envs.env_dir("trl") / envs.STAMP).read_text())
    assert stamp["requirements_sha256"] == envs.requirements_hash("trl")
    assert envs.resolve_python("trl") == py

    fake_pip.clear()
    envs.install("trl", echo=lambda s: None)          # up to date: nothing runs
    assert fake_pip == []
    (req / "trl.txt").write_text("# another comment\ntrl==1.16.0\n\n")   # comments do not count
    assert envs.status("trl").state == "ok"

    (req / "trl.txt").write_text("trl==1.16.0\npeft==0.21.2\n")
    assert envs.status("trl").state == "outdated"
    with pytest.raises(BridgeError, match="out of date"):
        envs.resolve_python("trl")
    envs.install("trl", echo=lambda s: None)
    assert [c[1:3] for c in fake_pip] == [["-m", "pip"], ["-m", "pip"]]   # updated in place, no new venv
    assert envs.status("trl").state == "ok"

    fake_pip.clear()
    envs.install("trl", force=True, echo=lambda s: None)
    assert fake_pip[0][1:3] == ["-m", "venv"]


def test_a_second_checkout_shares_the_env_and_runs_its_own_tree(home, fake_pip, monkeypatch):
    """Two checkouts on one machine share the env: neither makes it outdated for the other; children of each
    import that checkout's bridge first (PYTHONPATH), whichever checkout the editable install points at."""
    envs.install("trl", echo=lambda s: None)
    monkeypatch.setattr(envs, "_bridge_source", lambda: "/somewhere/else")
    assert envs.status("trl").state == "ok"
    monkeypatch.setenv("PYTHONPATH", "/other")
    envs.env_python("trl")
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(envs.source_checkout()), "/other"]


def test_a_released_bridge_does_not_use_an_env_built_from_a_checkout(home, fake_pip, monkeypatch):
    envs.install("trl", echo=lambda s: None)
    monkeypatch.setattr(envs, "_bridge_source", lambda: "dist")
    assert envs.status("trl").state == "outdated"


def test_failed_first_install_leaves_nothing(home, monkeypatch):
    def run(argv, echo):
        if argv[1:3] == ["-m", "venv"]:
            (Path(argv[3]) / "bin").mkdir(parents=True)
            (Path(argv[3]) / "bin" / "python").write_text("")
            return
        raise BridgeError("command failed with exit code 1: pip")

    monkeypatch.setattr(envs, "_run", run)
    with pytest.raises(BridgeError):
        envs.install("trl", echo=lambda s: None)
    assert not envs.env_dir("trl").exists()


def test_recipe_interpreter_override(home):
    assert envs.resolve_python("trl", sys.executable) == sys.executable
    with pytest.raises(BridgeError, match="interpreter not found"):
        envs.resolve_python("trl", "/no/such/python")


def test_package_versions_read_with_the_given_interpreter():
    import pydantic

    v = envs.package_versions(sys.executable, ["pydantic", "no-such-dist-xyz"])
    assert v["pydantic"] == pydantic.VERSION and v["no-such-dist-xyz"] is None
    assert v["python"] == sys.version.split()[0]


def test_cli_env_list_and_path(home):
    r = CliRunner().invoke(cli, ["env", "list", "--json"])
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.output)}
    assert rows["trl"]["state"] == "missing" and rows["trl"]["path"] == str(home / "envs" / "trl")
    from bridge.cli import main

    with pytest.raises(SystemExit) as ei:
        main(["env", "path", "trl"])
    assert ei.value.code == 2
