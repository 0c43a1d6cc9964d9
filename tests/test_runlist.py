"""`bridge runs` (table / --json of run records) and `bridge logs RUN [-f]` (issue 14 item 4)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bridge.runlist import find_runs, follow, resolve_run, run_rows


def make_run(root: Path, name: str, status: str, losses=(), started="2026-01-01T10:00:00", log="") -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"name": name.split("-")[0], "backend": "trl", "method": "sft",
                                            "status": status, "wall_time_s": 12.5, "started_at": started,
                                            "overrides": ["train.lr=1e-4"]}))
    (d / "metrics.jsonl").write_text("".join(json.dumps({"step": i + 1, "loss": v}) + "\n"
                                             for i, v in enumerate(losses)))
    (d / "backend.log").write_text(log)
    return d


def bridge(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ})


def test_runs_lists_records_with_steps_final_loss_and_wall_time(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "b-trl-2", "failed", [3.0], started="2026-01-02T10:00:00")
    make_run(runs, "a-trl-1", "ok", [2.0, 1.5, 1.25])
    make_run(runs / "bench-x", "c-swift-3", "interrupted", [], started="2026-01-03T10:00:00")   # in a bench dir
    (runs / "not-a-run").mkdir()
    rows = run_rows(find_runs([runs]))
    assert [r["run"] for r in rows] == ["a-trl-1", "b-trl-2", "c-swift-3"]     # oldest first
    assert rows[0]["steps"] == 3 and rows[0]["final_loss"] == 1.25 and rows[0]["wall_s"] == 12.5
    assert rows[1]["status"] == "failed" and rows[2]["steps"] is None
    proc = bridge("runs", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in json.loads(proc.stdout)] == ["ok", "failed", "interrupted"]
    table = bridge("runs", cwd=tmp_path).stdout.splitlines()
    assert table[0].split()[:5] == ["run", "name", "backend", "status", "steps"]
    assert table[2].split()[:6] == ["a-trl-1", "a", "trl", "ok", "3", "1.25"]
    missing = bridge("runs", "nowhere", cwd=tmp_path)
    assert missing.returncode == 2 and "nowhere: no such runs directory" in missing.stderr


def test_logs_prints_the_log_of_a_run_named_by_prefix(tmp_path):
    make_run(tmp_path / "runs", "demo-trl-20260101", "ok", log="old\n", started="2026-01-01T10:00:00")
    make_run(tmp_path / "runs", "demo-trl-20260102", "ok", log="step 1\nstep 2\n", started="2026-01-02T10:00:00")
    proc = bridge("logs", "demo-trl", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout == "step 1\nstep 2\n"
    assert resolve_run(str(tmp_path / "runs" / "demo-trl-20260101")).name == "demo-trl-20260101"
    assert bridge("logs", "zzz", cwd=tmp_path).returncode == 2


def test_logs_follow_prints_appended_lines_until_the_run_ends(tmp_path):
    d = make_run(tmp_path, "live-trl-1", "running", log="first\n")
    got: list[str] = []

    def backend():   # appends, then finishes the record; the last line is written just before the status
        for i in range(3):
            time.sleep(0.15)
            with open(d / "backend.log", "a") as f:
                f.write(f"line {i}\n")
        rec = json.loads((d / "run.json").read_text())
        (d / "run.json").write_text(json.dumps({**rec, "status": "ok"}))

    t = threading.Thread(target=backend)
    t.start()
    status = follow(d, got.append, follow=True, poll_s=0.05)
    t.join()
    assert status == "ok" and "".join(got) == "first\nline 0\nline 1\nline 2\n"
    once: list[str] = []
    make_run(tmp_path, "live-trl-2", "running", log="only\n")
    assert follow(tmp_path / "live-trl-2", once.append) == "running" and once == ["only\n"]   # no -f: no waiting
