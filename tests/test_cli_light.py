"""`bridge --help` (and the help of the run/convert/env/backends commands, and `bridge backends` itself) must
not import torch, transformers or any trainer: they are the commands people run first, on any machine."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "llamafactory", "swift", "verl",
         "vllm", "deepspeed")

PROBE = """
import io, json, sys, contextlib
from bridge.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
    else:
        code = 0
heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
""" % (HEAVY,)


def probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [("--help",), ("run", "--help"), ("convert", "--help"), ("env", "--help"),
                                  ("env", "list"), ("backends",), ("backends", "--json"), ("gui-env", "--help"),
                                  ("gui-env", "tasks"), ("eval", "--help"), ("synth", "--help")])
def test_light_commands_import_no_heavy_module(args):
    r = probe(*args)
    assert r["code"] in (0, None)
    assert r["heavy"] == [], f"bridge {' '.join(args)} imported {r['heavy']}"


def test_help_lists_the_commands():
    out = probe("--help")["out"]
    for name in ("run", "convert", "env", "backends"):
        assert f"  {name}" in out


def test_backends_matrix_comes_from_declared_capabilities():
    r = probe("backends", "--json")
    rows = json.loads(r["out"])
    assert list(rows)[:5] == ["trl", "llamafactory", "swift", "verl", "vlmr1"]
    trl = rows["trl"]
    assert trl["methods"] == ["grpo", "sft"] and trl["multi_node"] == "accelerate"
    assert trl["grpo_max_prompt_length"] is False and "dapo" in trl["grpo_loss_types"]
    table = probe("backends")["out"].splitlines()
    assert table[0].split()[:2] == ["feature", "trl"]
    row = next(line for line in table if line.startswith("GRPO max_prompt_length"))
    assert row.split()[2] == "-"     # trl column: not supported
