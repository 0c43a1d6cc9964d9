"""Crashes and races on `bridge import` / `bridge synth` (issue 11 item 4): an overwrite killed with SIGKILL at
every rename/remove never destroys the previous dataset (OUT is the old one, the new one, or absent with the old
one intact at OUT.old-PID, named by the next open's error); two writers racing to one OUT leave one complete
dataset and the loser exits 2 without a traceback; temporaries of killed writers are swept by the next writer."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bridge.dataset import open_dataset
from bridge.errors import BridgeError
from bridge.validate import validate_dataset

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

# Writes OUT with `bridge synth --overwrite` (seed given), SIGKILLing itself at the K-th file-system call among
# os.replace / os.rename / shutil.rmtree made by DatasetWriter's swap (K = 0: no kill).
KILLER = textwrap.dedent("""
    import os, shutil, signal, sys
    out, seed, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls = [0]
    def trap(fn):
        def wrapped(*a, **kw):
            calls[0] += 1
            if calls[0] == k:
                os.kill(os.getpid(), signal.SIGKILL)
            return fn(*a, **kw)
        return wrapped
    import bridge.dataset as d
    d.os.replace, d.os.rename, d.shutil.rmtree = trap(os.replace), trap(os.rename), trap(shutil.rmtree)
    from bridge.cli import main
    main(["synth", out, "--episodes", "2", "--seed", seed, "--overwrite"])
""")


def synth(out: Path, seed: int, k: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", KILLER, str(out), str(seed), str(k)], env=ENV,
                          capture_output=True, text=True, timeout=120)


def fingerprint(path: Path) -> str:
    return (path / "episodes.jsonl").read_text()


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """The episodes file of seed 1 (old) and seed 2 (new)."""
    base = tmp_path_factory.mktemp("v")
    for seed in (1, 2):
        assert synth(base / str(seed), seed).returncode == 0
    return fingerprint(base / "1"), fingerprint(base / "2")


@pytest.mark.parametrize("k", range(1, 7))
def test_overwrite_killed_anywhere_keeps_a_complete_dataset(tmp_path, versions, k):
    old, new = versions
    out = tmp_path / "out"
    assert synth(out, 1).returncode == 0
    res = synth(out, 2, k)
    killed = res.returncode == -signal.SIGKILL
    if out.exists():
        assert fingerprint(out) in (old, new)
        assert validate_dataset(out).ok
    else:   # killed between the two renames: the old dataset is intact aside, and the error says where
        assert killed
        aside = list(tmp_path.glob("out.old-*"))
        assert len(aside) == 1 and fingerprint(aside[0]) == old and validate_dataset(aside[0]).ok
        with pytest.raises(BridgeError) as e:
            open_dataset(out)
        assert str(aside[0]) in str(e.value)
        os.rename(aside[0], out)
    # the next writer succeeds and sweeps what the killed one left
    assert synth(out, 2).returncode == 0 and fingerprint(out) == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_some_kill_lands_between_the_renames(tmp_path, versions):
    """The window exists (the test above is not vacuous): the 2nd call is the rename of the new dataset in."""
    out = tmp_path / "out"
    assert synth(out, 1).returncode == 0
    assert synth(out, 2, 2).returncode == -signal.SIGKILL
    assert not out.exists() and len(list(tmp_path.glob("out.old-*"))) == 1


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_writers_race(tmp_path, overwrite):
    """Two imports to one OUT at once, 4 rounds: one complete dataset, the loser (if any) exits 2 cleanly."""
    src = ROOT / "tests" / "fixtures" / "importers" / "seed-steps"
    for r in range(4):
        out = tmp_path / f"out{r}"
        argv = [sys.executable, "-m", "bridge.cli", "import", "seed-steps", str(src), str(out), "--images", "copy"]
        procs = [subprocess.Popen(argv + (["--overwrite"] if overwrite else []), env=ENV, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(120), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        for code, err in results:
            assert code in (0, 2) and "Traceback" not in err, err
            if code == 2:
                assert "already exists" in err or "another process" in err, err
        assert any(code == 0 for code, _ in results)
        assert validate_dataset(out).ok
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"out{r}")) == [f"out{r}"]
        json.loads((out / "manifest.json").read_text())
