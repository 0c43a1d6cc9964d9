"""Model families (bridge/families.py) at the recipe level: every family has a tiny model that recipes accept and
``--smoke`` picks; a style paired with a family that reads coordinates differently is refused with the reason
unless the recipe opts in (``data.allow_frame_mismatch``); a family a backend cannot train is refused by name at
recipe-check time, from the adapter's declared ``families``, and ``bridge backends`` shows the matrix.
The runs through each backend per family are tests/test_family_runs.py and the conformance suite."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge import tiny
from bridge.backends import available_adapters, get_adapter
from bridge.backends.common import pixels_for
from bridge.errors import BridgeError
from bridge.families import FAMILIES, FAMILY_NAMES, pairing_problem
from bridge.frames import Pixels
from bridge.recipe import TINY_ARCHS, check_backend, model_family, parse_recipe
from bridge.runs import smoke_recipe
from bridge.styles import STYLES, get_style

#: the pairing table, stated here by hand (the rule in bridge/families.py must reproduce it): style -> the families
#: it is made for. gui-r1 (GUI-R1), uitars/compact (UI-TARS-1.5) are Qwen2.5-VL frames; agentcpm's [0,1000] with
#: the Qwen2-VL grid pairs with Qwen2-VL; seed's original pixels are no family's frame.
PAIRS = {
    "qwen2vl": {"qwen2_vl"}, "qwen25vl": {"qwen2_5_vl"}, "qwen3vl": {"qwen3_vl"},
    "gui-r1": {"qwen2_5_vl"}, "uitars": {"qwen2_5_vl"}, "compact": {"qwen2_5_vl"},
    "agentcpm": {"qwen2_vl"}, "seed": set(),
}
#: each family's own style, and a published checkpoint name of it (the family is read from the name)
OWN_STYLE = {"qwen2_vl": "qwen2vl", "qwen2_5_vl": "qwen25vl", "qwen3_vl": "qwen3vl"}
HUB = {"qwen2_vl": "Qwen/Qwen2-VL-2B-Instruct", "qwen2_5_vl": "Qwen/Qwen2.5-VL-3B-Instruct",
       "qwen3_vl": "Qwen/Qwen3-VL-8B-Instruct"}


def recipe(model: str, style: str, **data):
    return {"name": "fam", "model": model, "data": {"train": "/d", "style": style, **data}}


def bridge_cli(*args, cwd: Path):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


# ------------------------------------------------------------------------------------------------ tiny models

def test_every_family_has_a_tiny_model_and_recipes_accept_it():
    assert tiny.ARCHS == FAMILY_NAMES == TINY_ARCHS == tuple(OWN_STYLE)
    for family in FAMILY_NAMES:
        r = parse_recipe(recipe(f"tiny:{family}", OWN_STYLE[family]))
        assert r.is_tiny and r.model_family() == family
        assert tiny.PIXELS[family][1] == FAMILIES[family].factor   # the tiny processor's factor is the family's
    with pytest.raises(BridgeError) as e:
        parse_recipe(recipe("tiny:qwen4_vl", "qwen3vl"))
    assert "unknown tiny architecture 'qwen4_vl'" in str(e.value.problems[0])


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_smoke_picks_the_tiny_model_of_the_recipe_family(family, tmp_path):
    local = tmp_path / "my-checkpoint"          # a local directory: the family comes from config.json
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": family}))
    for model in (HUB[family], str(local), f"tiny:{family}"):
        r = parse_recipe(recipe(model, OWN_STYLE[family]) | {"train": {"max_steps": 500, "precision": "bf16"}})
        s = smoke_recipe(r)
        assert s.model == f"tiny:{family}", model
        _, factor, lo, hi = tiny.PIXELS[family]
        assert (s.data.min_pixels, s.data.max_pixels) == (lo, hi)     # that tiny processor's own bounds
        assert s.train.max_steps == 2 and s.train.precision == "fp32" and s.train.device == "cpu"
        assert pixels_for(s) == Pixels(factor, lo, hi)               # the grid the backends get = the processor's


def test_smoke_keeps_a_shorter_run():
    r = parse_recipe(recipe("tiny:qwen2_vl", "qwen2vl") | {"train": {"max_steps": 1}})
    assert smoke_recipe(r).train.max_steps == 1


# ------------------------------------------------------------------------------------------------ pairing rule

def test_the_pairing_table_covers_every_builtin_style():
    assert set(PAIRS) == set(STYLES)


@pytest.mark.parametrize("style", sorted(PAIRS))
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_style_family_pairing_is_refused_with_the_reason_unless_meant(style, family):
    mine = recipe(f"tiny:{family}", style)
    if family in PAIRS[style]:
        parse_recipe(mine)
        return
    with pytest.raises(BridgeError) as e:
        parse_recipe(mine)
    [p] = e.value.problems
    text = str(p)
    assert p.field == "data.style" and p.found == style
    assert f"style {style} writes" in text and FAMILIES[family].label in text
    assert "allow_frame_mismatch: true" in text
    frame = get_style(style).frame()
    if frame.kind == FAMILIES[family].coords:       # same convention, another grid: the factor is the reason
        assert f"factor {frame.factor}" in text and str(FAMILIES[family].factor) in text
    else:
        assert FAMILIES[family].reads in text
    # the styles that do pair are suggested
    assert all(s in (p.expected or "") for s, fams in PAIRS.items() if family in fams)
    # the opt-in: the recipe says it means it
    r = parse_recipe(recipe(f"tiny:{family}", style, allow_frame_mismatch=True))
    assert r.data.allow_frame_mismatch is True


def test_family_is_read_from_a_local_config_and_unknown_families_make_no_claim(tmp_path):
    local = tmp_path / "ckpt"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    with pytest.raises(BridgeError, match="Qwen3-VL model reads"):
        parse_recipe(recipe(str(local), "qwen25vl"))
    # a relative model directory resolves against the recipe file's directory before its family is read
    with pytest.raises(BridgeError, match="Qwen3-VL model reads"):
        parse_recipe(recipe("ckpt", "qwen25vl"), base=tmp_path)
    assert model_family("someone/my-vlm") is None
    parse_recipe(recipe("someone/my-vlm", "seed"))          # no family: no claim
    assert pairing_problem("seed", get_style("seed").frame(), None) is None


def test_cli_refuses_a_mismatched_pairing_with_exit_2_and_accepts_the_opt_in(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe("tiny:qwen3_vl", "qwen25vl")))
    bad = bridge_cli("validate-recipe", path, cwd=tmp_path)
    assert bad.returncode == 2
    assert ("data.style: style qwen25vl writes absolute pixels of the smart-resized image (factor 28), but a "
            "Qwen3-VL model reads [0,1000] relative coordinates") in bad.stderr
    assert "r.yaml:" in bad.stderr                        # located in the file
    ok = bridge_cli("validate-recipe", path, "data.allow_frame_mismatch=true", cwd=tmp_path)
    assert "data.style" not in ok.stderr, ok.stderr       # (data.train does not exist: that is another problem)


# ------------------------------------------------------------------------------------------------ backend matrix

def test_every_builtin_backend_declares_its_families():
    for name, a in available_adapters().items():
        if a.families is None:
            continue
        assert set(a.families) <= set(FAMILY_NAMES), name
        assert set(a.family_gaps) <= set(FAMILY_NAMES), name
        for family in FAMILY_NAMES:
            trains = a.family_methods(family)
            assert set(a.families.get(family, ())) <= a.methods, (name, family)
            if trains != a.methods:                   # a family or method it lacks says why
                assert a.family_gaps.get(family), (name, family)
    for name in ("trl", "llamafactory", "swift", "verl", "vlmr1"):
        assert get_adapter(name).families is not None, name


def test_a_family_a_backend_cannot_train_is_refused_by_name_at_check_time(tmp_path):
    r = parse_recipe(recipe("tiny:qwen3_vl", "qwen3vl") | {"method": "grpo"})
    with pytest.raises(BridgeError) as e:
        check_backend(r, get_adapter("vlmr1"))
    [p] = e.value.problems
    assert p.field == "model" and p.found == "qwen3_vl"
    assert "vlmr1: cannot train the Qwen3-VL family" in str(p) and "transformers 4.49.0" in str(p)
    assert "qwen2_vl | qwen2_5_vl" in p.expected
    check_backend(parse_recipe(recipe("tiny:qwen2_5_vl", "qwen25vl") | {"method": "grpo"}), get_adapter("vlmr1"))
    # the same at the command line: exit 2 naming the backend and the family
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe("tiny:qwen3_vl", "qwen3vl") | {"method": "grpo"}))
    proc = bridge_cli("validate-recipe", path, "--backend", "vlmr1", cwd=tmp_path)
    assert proc.returncode == 2 and "vlmr1: cannot train the Qwen3-VL family" in proc.stdout


def test_bridge_backends_shows_the_family_matrix(tmp_path):
    out = bridge_cli("backends", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("model family"))
    assert lines[head].split()[2:] == ["trl", "llamafactory", "swift", "verl", "vlmr1"]
    rows = {line.split()[1]: line.split()[2:] for line in lines[head + 2:head + 5]}
    assert rows["(qwen3_vl)"][:5] == ["sft,grpo", "sft", "sft,grpo", "grpo", "-"]
    assert any(line.startswith("[1] VLM-R1 pins transformers 4.49.0") for line in lines)
    data = json.loads(bridge_cli("backends", "--json", cwd=tmp_path).stdout)
    assert data["vlmr1"]["families"]["qwen3_vl"] == [] and data["trl"]["families"]["qwen3_vl"] == ["grpo", "sft"]
