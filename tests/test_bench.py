"""bridge bench without training: every backend problem reported at once before anything runs, the process-tree
memory probe against a child of known size, progress read from a growing log."""
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from bridge.bench import Monitor, tree_rss_mb


def _recipe(tmp_path, synth_dataset, method="grpo"):
    r = {"name": "b", "model": "tiny:qwen2_5_vl", "data": {"train": str(synth_dataset), "style": "gui-r1"},
         "method": method, "finetune": {"type": "lora"}, "train": {"lr": 1e-5, "max_steps": 2}}
    if method == "grpo":
        r["grpo"] = {"rewards": [{"preset": "gui-r1"}]}
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(r))
    return p


def test_all_problems_before_anything_runs(tmp_path, synth_dataset):
    out = tmp_path / "bench"
    res = subprocess.run([sys.executable, "-m", "bridge.cli", "bench", str(_recipe(tmp_path, synth_dataset)),
                          "--backends", "llamafactory,nosuch,llamafactory", "--out", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    text = res.stderr
    assert "3 problem(s) before anything ran" in text   # no GRPO details for a backend without GRPO
    assert "method: llamafactory: method not supported" in text    # LLaMA-Factory 0.9.5 has no GRPO
    assert "nosuch: unknown backend 'nosuch'" in text and "llamafactory is listed twice" in text
    assert not out.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_rss_counts_children_and_grandchildren():
    base = tree_rss_mb(os.getpid())
    # a child that starts a grandchild holding 300 MB of touched memory
    code = ("import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', "
            "'import time; b = bytearray(300 * 1024 * 1024); print(1, flush=True); time.sleep(30)'], "
            "stdout=subprocess.PIPE); p.stdout.readline(); print(1, flush=True); p.wait()")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        measured = tree_rss_mb(os.getpid())
    finally:
        for pid in _descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait()
    assert measured - base >= 300                                  # the grandchild's bytearray is in the tree
    assert measured - base < 300 + 200                             # two small interpreters on top, not more


def _descendants(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat", "rb").read()
            except OSError:
                continue
            if int(stat[stat.rfind(b")") + 2:].split()[1]) == pid:
                out.append(int(entry))
    return out


def test_monitor_reports_steps_from_the_growing_log(tmp_path):
    lines = []
    mon = Monitor("trl", tmp_path, 2, lambda line, new: lines.append((line, new)))
    mon.start()
    log = tmp_path / "trainer_log.jsonl"
    log.write_text(json.dumps({"step": 1, "loss": 2.5}) + "\n")
    time.sleep(2.5)
    with open(log, "a") as f:
        f.write(json.dumps({"step": 2, "loss": 2.25}) + "\n")
    time.sleep(2.5)
    mon.stop()
    new = [line for line, is_new in lines if is_new]
    assert any(line.startswith("trl: step 1/2, loss 2.5,") for line in new)
    assert any(line.startswith("trl: step 2/2, loss 2.25,") for line in new)
