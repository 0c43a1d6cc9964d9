"""Progress bars only on a terminal; error output capped with the rest counted and listed in a file
(issue 14 item 5)."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.errors import BridgeError, Problem, shown_problems


def run_on_tty(args, cwd, env):
    """Run ``bridge ARGS`` with stderr on a pseudo-terminal; return (rc, what the terminal received)."""
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # a sized terminal, as a user's
    proc = subprocess.Popen([sys.executable, "-m", "bridge.cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:      # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("cmd", ["validate", "convert"])
def test_progress_bar_on_a_terminal_only(cmd, synth_dataset, tmp_path):
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    args = {"validate": ["validate", synth_dataset],
            "convert": ["convert", synth_dataset, "--backend", "trl", "--style", "qwen2vl", "--out", tmp_path / "o"]}
    rc, tty = run_on_tty(args[cmd], tmp_path, env)
    assert rc == 0, tty
    label = {"validate": "validate", "convert": "export trl"}[cmd]
    assert label + ":" in tty and "%|" in tty              # tqdm's bar, on the terminal
    args["convert"][-1] = tmp_path / "o2"
    piped = subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args[cmd])], capture_output=True,
                           text=True, cwd=tmp_path, env=env, timeout=60)
    assert piped.returncode == 0 and label + ":" not in piped.stderr and "%|" not in piped.stderr


def test_import_shows_progress_on_a_terminal(synth_dataset, tmp_path):
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    export = tmp_path / "exp"
    subprocess.run([sys.executable, "-m", "bridge.cli", "convert", synth_dataset, "--backend", "trl", "--style",
                    "qwen2vl", "--out", export], check=True, capture_output=True, env=env, timeout=60)
    rc, tty = run_on_tty(["import", "trl", export, tmp_path / "back"], tmp_path, env)
    assert rc == 0, tty
    assert "import trl:" in tty and "record" in tty


def test_error_output_is_capped_and_the_full_list_written(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path))
    problems = [Problem("f.jsonl", "bad", line=i) for i in range(1, 46)]
    shown, more = shown_problems(problems)
    assert len(shown) == 20 and more.startswith("... and 25 more problems (all 45 in ")
    listed = Path(more.split(" in ", 1)[1].rstrip(")")).read_text().splitlines()
    assert listed == [str(p) for p in problems]
    text = BridgeError("45 problems", problems).capped()
    assert "f.jsonl:20: bad" in text and "f.jsonl:21: bad" not in text and "25 more" in text
    assert shown_problems(problems[:20]) == (problems[:20], None)


def test_validate_caps_its_problem_list(synth_dataset, tmp_path):
    ds = tmp_path / "ds"
    import shutil

    shutil.copytree(synth_dataset, ds)
    lines = (ds / "episodes.jsonl").read_text().splitlines()
    bad = [json.dumps({**json.loads(l), "platform": "toaster"}) for l in lines]
    (ds / "episodes.jsonl").write_text("\n".join(bad * 5) + "\n")   # 30 records: 30 bad platforms + duplicates
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "validate", ds, "--no-images"], capture_output=True,
                          text=True, env={**os.environ, "BRIDGE_HOME": str(tmp_path / "h")}, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stdout.splitlines()) == 20
    more = next(l for l in proc.stderr.splitlines() if l.startswith("... and "))
    total = int(more.split("(all ")[1].split()[0])
    assert total > 20 and len(Path(more.split(" in ", 1)[1].rstrip(")")).read_text().splitlines()) == total
