"""One flag vocabulary across commands, value completion for --backend/--style/--preset, and help/docs that point
only at files in this repository (issue 14 item 7)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bridge.cli import cli

ROOT = Path(__file__).resolve().parents[1]
#: commands whose product is one new directory: it is the positional OUT everywhere (no visible --out)
OUT_COMMANDS = ("import", "synth", "tiny-model", "convert", "export")


def commands():
    ctx = click.Context(cli)

    def walk(cmd, name):
        yield name, cmd
        if isinstance(cmd, click.Group):
            for n in cmd.list_commands(ctx):
                yield from walk(cmd.get_command(ctx, n), f"{name} {n}".strip())
    yield from walk(cli, "")


def test_one_spelling_per_idea_old_ones_hidden():
    for name, cmd in commands():
        visible = {o for p in cmd.params if isinstance(p, click.Option) and not p.hidden for o in p.opts}
        assert "--force" not in visible, f"bridge {name}: replacing what exists is --overwrite"
        if name in OUT_COMMANDS:
            assert "--out" not in visible, f"bridge {name}: the output directory is the positional OUT"
            assert any(isinstance(p, click.Argument) and p.name == "out" for p in cmd.params), name


def test_old_spellings_still_work(synth_dataset, tmp_path):
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}

    def bridge(*a):
        return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, a)], capture_output=True, text=True,
                              env=env, timeout=60)

    new = bridge("convert", synth_dataset, tmp_path / "a", "-b", "trl", "-s", "qwen2vl", "data.history=1")
    old = bridge("convert", synth_dataset, "--out", tmp_path / "b", "-b", "trl", "-s", "qwen2vl", "data.history=1")
    assert new.returncode == old.returncode == 0, new.stderr + old.stderr
    assert (tmp_path / "a" / "train.jsonl").read_text() == (tmp_path / "b" / "train.jsonl").read_text()
    forced = bridge("env", "install", "no-such-backend", "--force")   # parsed (the hidden alias), then refused
    assert forced.returncode == 2 and "no-such-backend" in forced.stderr and "No such option" not in forced.stderr


@pytest.mark.parametrize("words,expected", [
    ("bridge run r.yaml --backend ", {"trl", "llamafactory", "swift", "verl", "vlmr1"}),
    ("bridge convert d o --backend a", {"all"}),
    ("bridge convert d o --style qwen2", {"qwen2vl", "qwen25vl"}),
    ("bridge eval d --style gui", {"gui-r1"}),
    ("bridge rewards score d p --preset gui-r", {"gui-r1"}),
    ("bridge bench r.yaml --backends trl,ll", {"trl,llamafactory"}),
    ("bridge validate-r", {"validate-recipe"}),
])
def test_shell_completion_of_values(words, expected):
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**os.environ, "_BRIDGE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli"], capture_output=True, text=True, env=env, timeout=60)
    got = {line.split(",", 1)[1] for line in proc.stdout.splitlines() if line.startswith("plain,")}
    assert got == expected, proc.stdout + proc.stderr


PATH = re.compile(r"(?<![\w/.-])((?:docs|reference|bench|recipes|tests|bridge|requirements)/[\w./*-]*\w"
                  r"|[A-Z][A-Z_]+\.md)")


def _exists(ref: str, base: Path) -> bool:
    return any(base.glob(ref)) if "*" in ref else (base / ref).exists()


def test_help_and_docs_point_only_at_files_in_this_repository():
    bad = []
    for name, cmd in commands():
        text = " ".join([cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params])
        bad += [f"bridge {name}: {m}" for m in PATH.findall(text) if not _exists(m, ROOT)]
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        code = False
        for i, line in enumerate(f.read_text().splitlines(), 1):
            bad += [f"{f.name}:{i}: {m}" for m in PATH.findall(line) if not _exists(m, ROOT)]
            code ^= line.lstrip().startswith("```")
            for m in [] if code else re.findall(r"\]\(([^)#\s]+)", line):   # markdown links, relative to the file
                if not m.startswith(("http://", "https://")) and not (f.parent / m).exists():
                    bad.append(f"{f.name}:{i}: link {m}")
    assert not bad, "\n".join(bad)
