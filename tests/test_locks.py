"""bridge.locks.file_lock (issue 14 item 6): two processes doing the same cache fill at once — one waits, the work
is done once, nobody sees a traceback, nothing is half-written; a killed holder leaves no stale lock."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bridge.errors import BridgeError
from bridge.locks import file_lock

FILL = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from bridge.locks import file_lock
    root = Path(sys.argv[1]); target = root / "entry"
    (root / f"ready-{os.getpid()}").touch()
    while not (root / "go").exists():                 # both start the fill at the same moment
        time.sleep(0.005)
    with file_lock(root / "entry.lock", "the cache entry", echo=lambda s: print(s, flush=True)):
        if (target / "done").is_file():
            print("reused", flush=True)
        else:
            tmp = root / f".entry.build-{os.getpid()}"
            tmp.mkdir()
            for i in range(20):                       # a slow build, written piece by piece
                (tmp / f"part{i}").write_text(str(i) * 1000)
                time.sleep(0.02)
            (tmp / "done").write_text("ok")
            tmp.rename(target)                        # without the lock the loser's rename raises OSError
            print("built", flush=True)
""")


def _start(root: Path, script: str = FILL) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    while len(list(root.glob("ready-*"))) < 2:
        time.sleep(0.01)
    (root / "go").touch()
    return procs


def test_two_concurrent_fills_build_once_without_a_traceback(tmp_path):
    a, b = _start(tmp_path)
    outs = [p.communicate(timeout=60) for p in (a, b)]
    assert [p.returncode for p in (a, b)] == [0, 0], outs
    said = sorted(o[0].strip().splitlines()[-1] for o in outs)
    assert said == ["built", "reused"] and not any("Traceback" in o[1] for o in outs)
    assert any("waiting for the cache entry" in o[0] for o in outs)
    entry = tmp_path / "entry"
    assert sorted(p.name for p in entry.iterdir()) == ["done"] + sorted(f"part{i}" for i in range(20))
    assert all((entry / f"part{i}").read_text() == str(i) * 1000 for i in range(20))
    assert not list(tmp_path.glob(".entry.build-*"))


def test_without_the_lock_the_race_is_real(tmp_path):
    """The planted fault: the same fill with the lock removed fails for one of the two (why the lock exists)."""
    racy = FILL.replace('with file_lock(root / "entry.lock", "the cache entry", echo=lambda s: print(s, flush=True)):',
                        "if True:")
    procs = _start(tmp_path, racy)
    outs = [p.communicate(timeout=60) for p in procs]
    assert any(p.returncode != 0 and "Traceback" in o[1] for p, o in zip(procs, outs)), outs


def test_a_killed_holder_leaves_no_stale_lock_and_timeout_is_located(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from bridge.locks import file_lock
        with file_lock({str(tmp_path / 'x.lock')!r}, "x"):
            print("held", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(BridgeError, match=rf"gave up waiting 0.3 s for the env build \(lock .*x.lock held by pid "
                                          rf"{holder.pid}\)"):
        with file_lock(tmp_path / "x.lock", "the env build", timeout=0.3):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    t0 = time.monotonic()
    with file_lock(tmp_path / "x.lock", "x", timeout=5):
        assert (tmp_path / "x.lock").read_text() == str(os.getpid())
    assert time.monotonic() - t0 < 2


EXPORT = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from bridge.backends import get_adapter
    from bridge.recipe import parse_recipe
    from bridge import runs
    root = Path(sys.argv[2])
    r = parse_recipe({"name": "lk", "model": "tiny:qwen2_5_vl", "data": {"train": sys.argv[1], "style": "gui-r1"}})
    (root / f"ready-{os.getpid()}").touch()
    while not (root / "go").exists():
        time.sleep(0.005)
    result, key, reused = runs.cached_export(get_adapter("trl"), r, echo=lambda s: print(s, flush=True))
    print("reused" if reused else "built", result.samples, flush=True)
""")


def test_two_runs_filling_one_export_cache_entry(synth_dataset, tmp_path):
    """bridge.runs.cached_export from two processes at once: one builds, the other waits and reuses; no traceback."""
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", EXPORT, str(synth_dataset), str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    while len(list(tmp_path.glob("ready-*"))) < 2:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    last = sorted(o[0].strip().splitlines()[-1].split()[0] for o in outs)
    assert last == ["built", "reused"] and not any("Traceback" in o[1] for o in outs)
    entries = [p for p in (tmp_path / "home" / "exports").iterdir() if not p.name.endswith(".lock")]
    assert len(entries) == 1 and (entries[0] / "export.json").is_file()
