"""Backend environments from a wheel install of gui-bridge, and env builds taking turns (issue 14 item 6).

`bridge env install` run by a gui-bridge installed from a wheel (not a checkout) used to install the backend stack
and then `pip install gui-bridge==0.1.0`, which no index has, and delete the env. Now the env gets a wheel packed
from the very files the caller runs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from bridge import envs, selfinstall

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    """gui-bridge built as a wheel from this tree and pip-installed (not editable) into a site directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"   # a copy: building writes build/ and *.egg-info next to the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "bridge", src / "bridge", ignore=shutil.ignore_patterns("__pycache__"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr[-300:]}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"),
                    *map(str, (tmp / "dist").glob("*.whl"))], check=True, timeout=300)
    return tmp / "site"


@pytest.fixture
def as_wheel(wheel_site, monkeypatch, tmp_path):
    """This process behaves as a gui-bridge installed from the wheel at ``wheel_site``."""
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(envs, "source_checkout", lambda: None)
    real = selfinstall.running_distribution
    monkeypatch.setattr(envs, "running_distribution", lambda: real(wheel_site / "bridge"))
    return wheel_site


def test_the_env_gets_a_wheel_of_the_running_files_never_an_index_lookup(as_wheel, monkeypatch, tmp_path):
    args = envs.bridge_install_args()
    assert args[0] == "--force-reinstall" and not any("gui-bridge==" in a for a in args)
    whl = Path(args[1])
    assert whl.parent == tmp_path / "home" / "wheels" and whl.name == "gui_bridge-0.1.0-py3-none-any.whl"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "env"),
                    str(whl)], check=True, timeout=300)
    diff = subprocess.run(["diff", "-r", "-x", "__pycache__", str(as_wheel / "bridge"),
                           str(tmp_path / "env" / "bridge")], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout[:2000]                 # byte-identical package
    info = next((tmp_path / "env").glob("gui_bridge-0.1.0.dist-info"))
    assert (info / "licenses" / "LICENSE").is_file() and "console_scripts" in (info / "entry_points.txt").read_text()


def test_env_install_end_to_end_from_a_wheel(as_wheel, monkeypatch, tmp_path):
    reqs = tmp_path / "toy-requirements.txt"
    reqs.write_text("# no pins: the test is about gui-bridge itself\n")
    monkeypatch.setattr(envs, "requirements_file", lambda name: reqs)
    monkeypatch.setattr(envs, "core_requirements", lambda: [])   # offline: bridge's own deps are not the point
    st = envs.install("toy", echo=lambda s: None)
    assert st.state == "ok"
    probe = textwrap.dedent("""
        import json, sys, importlib.metadata as m, importlib.util as u
        print(json.dumps({"version": m.version("gui-bridge"), "file": u.find_spec("bridge").origin}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got = json.loads(subprocess.run([str(st.python), "-c", probe], capture_output=True, text=True, env=env,
                                    cwd=tmp_path, check=True).stdout)
    assert got["version"] == "0.1.0" and str(st.path) in got["file"]
    installed = Path(got["file"]).parent
    assert (installed / "selfinstall.py").read_bytes() == (as_wheel / "bridge" / "selfinstall.py").read_bytes()


def test_two_env_installs_take_turns(monkeypatch, tmp_path):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    calls = []
    monkeypatch.setattr(envs, "_install", lambda name, force, echo, *rest: calls.append(name) or "done")
    lock = envs.env_dir("trl").with_name(".trl.lock")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from bridge.locks import file_lock
        with file_lock({str(lock)!r}, "x"):
            print("held", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert holder.stdout.readline().strip() == "held"
    said: list[str] = []
    t = threading.Thread(target=lambda: envs.install("trl", echo=said.append))
    t.start()
    time.sleep(0.6)
    assert calls == [] and said and said[0].startswith("waiting for the trl environment build")
    holder.kill()
    holder.wait()
    t.join(10)
    assert calls == ["trl"]
