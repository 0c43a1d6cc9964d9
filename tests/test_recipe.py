"""Recipes: every shipped recipe validates; every problem is reported at once, located; backend capability
checks name the backend; relative paths resolve against the recipe file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bridge.backends import get_adapter
from bridge.errors import BridgeError
from bridge.recipe import check_backend, load_recipe, model_family, parse_recipe

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip())
    return p


def minimal(**over):
    d = {"name": "t", "model": "tiny:qwen2_vl", "data": {"train": "/d", "style": "qwen2vl"}}
    d.update(over)
    return d


def test_the_shipped_recipes_exist():
    names = {p.name for p in RECIPES}
    assert {"demo_sft.yaml", "demo_grpo.yaml", "qwen25vl_sft_lora.yaml", "qwen25vl_grpo.yaml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates_and_trl_can_honour_it(path):
    r = load_recipe(path)
    check_backend(r, get_adapter("trl"), str(path))
    assert Path(r.data.train).is_absolute()
    text = path.read_text()
    assert text.startswith("#") and "bridge run" in text.split("\nname:")[0]   # how-to-run header


def test_every_problem_is_reported_at_once_with_file_line_and_key(tmp_path):
    p = write(tmp_path, """
        name: bad name
        model: tiny:llama
        data:
          train: data/x
          style: qwen2vl
          bogus: 1
        method: sft
        finetune:
          type: lora
          rank: -1
        train:
          lr: 1e-4
          epochs: 1
          max_steps: 3
        grpo:
          num_generations: 1
        extra_key: 3
        """)
    with pytest.raises(BridgeError) as ei:
        load_recipe(p)
    probs = {(q.field, q.line) for q in ei.value.problems}
    assert probs == {("name", 1), ("model", 2), ("data.bogus", 6), ("finetune.rank", 10), ("train", 11),
                     ("grpo", 15), ("grpo.num_generations", 16), ("extra_key", 17)}
    assert all(q.file == str(p) for q in ei.value.problems)
    by_field = {q.field: q for q in ei.value.problems}
    assert by_field["extra_key"].message == "unknown field"
    assert "either epochs or max_steps" in by_field["train"].message
    assert "only used with method: grpo" in by_field["grpo"].message
    assert str(ei.value).startswith(f"{p}: 8 problem(s)")


def test_yaml_syntax_error_is_located(tmp_path):
    p = write(tmp_path, "name: x\ndata: [unclosed\n")
    with pytest.raises(BridgeError) as ei:
        load_recipe(p)
    assert ei.value.problems[0].line is not None and "not valid YAML" in ei.value.message


def test_unknown_reward_and_style_are_located_problems(tmp_path):
    p = write(tmp_path, """
        name: g
        model: tiny:qwen2_vl
        data: {train: d, style: no-such-style}
        method: grpo
        grpo:
          rewards:
            - {preset: gui-r1}
            - {name: no_such_reward, weight: 2}
            - {name: format, preset: gui-r1}
        """)
    with pytest.raises(BridgeError) as ei:
        load_recipe(p)
    fields = {q.field: q for q in ei.value.problems}
    assert set(fields) == {"data.style", "grpo.rewards[1].name", "grpo.rewards[2]"}
    assert fields["data.style"].line == 3 and fields["grpo.rewards[1].name"].line == 8
    assert "qwen2vl" in fields["data.style"].expected


def test_relative_paths_resolve_against_the_recipe_file(tmp_path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    sub = tmp_path / "recipes"
    sub.mkdir()
    p = write(sub, """
        name: rel
        model: ../models/m
        data: {train: ../data/a, eval: ../data/b, style: qwen2vl}
        backends:
          trl: {python: ../venv/bin/python}
        """)
    r = load_recipe(p)
    assert r.data.train == str(tmp_path / "data" / "a")
    assert r.data.eval == str(tmp_path / "data" / "b")
    assert r.model == str(tmp_path / "models" / "m")
    assert r.backends["trl"].python == str(tmp_path / "venv" / "bin" / "python")
    # a hub id stays a hub id
    q = write(sub, "name: hub\nmodel: Qwen/Qwen2.5-VL-3B-Instruct\ndata: {train: x, style: qwen25vl}\n", "q.yaml")
    assert load_recipe(q).model == "Qwen/Qwen2.5-VL-3B-Instruct"


def test_defaults_grpo_section_and_lora_alpha():
    r = parse_recipe(minimal(method="grpo"))
    assert r.grpo is not None and r.grpo.num_generations == 8 and r.grpo.beta == 0.0
    assert [x.label for x in r.grpo.rewards] == ["gui-r1"]
    assert r.finetune.lora_alpha == 16 and r.train.num_epochs == 1.0
    assert parse_recipe(minimal()).grpo is None


def test_unknown_backend_name_is_an_error():
    with pytest.raises(BridgeError) as ei:
        parse_recipe(minimal(backends={"trll": {"python": "/x"}}))
    assert ei.value.problems[0].field == "backends.trll"


def test_backend_capabilities_name_the_backend():
    r = parse_recipe(minimal(method="grpo", grpo={"max_prompt_length": 1024, "loss_type": "nope",
                                                  "rollout": {"engine": "sglang"}}))
    with pytest.raises(BridgeError) as ei:
        check_backend(r, get_adapter("trl"))
    fields = {q.field for q in ei.value.problems}
    assert fields == {"grpo.max_prompt_length", "grpo.loss_type", "grpo.rollout.engine"}
    assert all(q.message.startswith("trl: ") for q in ei.value.problems)
    assert "'trl' cannot honour 3 setting(s)" in ei.value.message


def test_method_not_supported_by_backend():
    class SftOnly(type(get_adapter("trl"))):
        name = "sftonly"
        methods = frozenset({"sft"})

    with pytest.raises(BridgeError) as ei:
        check_backend(parse_recipe(minimal(method="grpo")), SftOnly())
    assert [q.field for q in ei.value.problems] == ["method"]
    assert ei.value.problems[0].expected == "sft"


def test_model_family():
    assert model_family("tiny:qwen2_5_vl") == "qwen2_5_vl"
    assert model_family("Qwen/Qwen2.5-VL-7B-Instruct") == "qwen2_5_vl"
    assert model_family("Qwen/Qwen2-VL-2B-Instruct") == "qwen2_vl"
    assert model_family("Qwen/Qwen3-VL-4B-Instruct") == "qwen3_vl"
    assert model_family("llava-hf/llava-1.5-7b-hf") is None


def test_model_family_from_local_config(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    assert model_family(str(tmp_path)) == "qwen2_5_vl"
