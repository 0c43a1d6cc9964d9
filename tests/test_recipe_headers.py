"""Shipped recipes state only what is true (issue 14 item 7): each header's `# backends:` line is exactly the set of
backends that accept the recipe, every command line in the header (`--backend a|b`, `--smoke`, key=value overrides)
is accepted by each backend it names, and `bridge backends` claims no GRPO feature for a backend without GRPO."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.backends import backend_names, get_adapter
from bridge.errors import BridgeError
from bridge.overrides import is_override
from bridge.recipe import check_backend, load_recipe
from bridge.runs import smoke_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def header(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        out.append(line.lstrip("# ").rstrip())
    return out


def claims(path: Path) -> list[tuple[set[str], tuple[str, ...], bool]]:
    """(backends, overrides, smoke) for each `bridge run|bench ... <this recipe>` line of the header."""
    out = []
    for line in header(path):
        named = {b for group in re.findall(r"--backends? ([\w|,]+)", line) for b in re.split(r"[|,]", group)} - {"all"}
        cmd = line.split("  #")[0]
        if not re.match(r"bridge (run|bench) recipes/" + re.escape(path.name), cmd):
            if named:
                out.append((named, (), False))   # prose: "(--backend llamafactory|swift)"
            continue
        words = shlex.split(cmd)
        out.append((named or {"trl"}, tuple(w for w in words if is_override(w)), "--smoke" in words))
    return out


def accepted(recipe, name: str, smoke: bool = False) -> bool:
    try:
        check_backend(smoke_recipe(recipe) if smoke else recipe, get_adapter(name))
        return True
    except BridgeError:
        return False


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_backends_line_is_exactly_the_accepting_backends(path):
    line = [l for l in header(path) if l.startswith("backends:")]
    assert len(line) == 1, f"{path.name}: one '# backends: a, b' header line"
    stated = {b.strip() for b in line[0].split(":", 1)[1].split(",")}
    recipe = load_recipe(path)
    assert stated == {b for b in backend_names() if accepted(recipe, b)}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_each_header_command_is_accepted_by_the_backends_it_names(path):
    found = claims(path)
    assert found, f"{path.name}: no usage line"
    for backends, overrides, smoke in found:
        recipe = load_recipe(path, overrides)
        wrong = [b for b in sorted(backends) if not accepted(recipe, b, smoke)]
        assert not wrong, f"{path.name}: {backends} {overrides} smoke={smoke}: refused by {wrong}"


def test_a_planted_false_claim_is_caught(tmp_path):
    src = (ROOT / "recipes" / "qwen25vl_grpo.yaml").read_text()
    bad = tmp_path / "qwen25vl_grpo.yaml"
    bad.write_text(src.replace("--backend swift|verl for", "--backend swift|verl|vlmr1 for"))
    (backends, _, _), = [c for c in claims(bad) if "vlmr1" in c[0] and not c[1]]
    assert not accepted(load_recipe(bad), "vlmr1")


def test_backends_matrix_claims_no_grpo_feature_without_grpo():
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "backends", "--json"], capture_output=True, text=True,
                          timeout=60)
    rows = json.loads(proc.stdout)
    assert rows["llamafactory"]["methods"] == ["sft"]
    for name, row in rows.items():
        if row.get("available") and "grpo" not in row["methods"]:
            assert not any(row[k] for k in ("grpo_top_p", "grpo_epsilon_high", "grpo_max_prompt_length",
                                            "grpo_loss_types", "rollout_engines")), name
    table = subprocess.run([sys.executable, "-m", "bridge.cli", "backends"], capture_output=True, text=True,
                           timeout=60).stdout.splitlines()
    names = table[0].split()[1:]
    top_p = table[[i for i, l in enumerate(table) if l.startswith("GRPO top_p")][0]].split()[2:]
    assert dict(zip(names, top_p))["llamafactory"] == "-"
