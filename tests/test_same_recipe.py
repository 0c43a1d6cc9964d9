"""One recipe, the same optimisation on every backend (docs/backends.md): each adapter's rendered config is parsed
back by the adapter's own ``read_config`` (TRL config YAML, LLaMA-Factory YAML, ms-swift YAML, verl override list,
VLM-R1 argument list; every registered backend training the method takes part) and the
optimiser, schedule, seed, precision, GRPO loss/sampling and prompts/completions per optimiser step must be
identical — and equal to the recipe's, so no backend default leaks. Fast: nothing trains."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.backends import available_adapters, get_adapter
from bridge.backends.testing import vlmr1_checkout
from bridge.errors import BridgeError
from bridge.recipe import parse_recipe, training_plan

KEYS = ("lr", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "scheduler", "warmup",
        "seed", "precision", "prompts_per_step", "completions_per_step")
GRPO_KEYS = ("loss_type", "num_generations", "beta", "epsilon", "temperature", "top_p", "top_k",
             "max_completion_length")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A stand-in Qwen2-VL directory (family and processor bounds; no weights: nothing loads it)."""
    d = tmp_path_factory.mktemp("model") / "Qwen2-VL-fake"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (d / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12544,
                                                            "patch_size": 14, "merge_size": 2}))
    return d


def sft_recipe(data: Path, model: Path):
    # every optimiser key left to the recipe defaults: a backend default (ms-swift: weight_decay 0.1,
    # adam_beta2 0.95) leaking in would show up as a difference
    return parse_recipe({"name": "same-sft", "model": str(model), "method": "sft",
                         "data": {"train": str(data), "style": "qwen2vl", "history": 2,
                                  "min_pixels": 3136, "max_pixels": 12544},
                         "train": {"lr": 2e-4, "max_steps": 3, "per_device_batch": 2, "grad_accum": 2,
                                   "precision": "fp32", "device": "cpu", "seed": 7}})


def grpo_recipe(data: Path, model: Path):
    return parse_recipe({"name": "same-grpo", "model": str(model), "method": "grpo",
                         "data": {"train": str(data), "style": "qwen2vl", "history": 2,
                                  "min_pixels": 3136, "max_pixels": 12544},
                         "finetune": {"type": "lora", "rank": 8, "alpha": 16},
                         "train": {"lr": 1e-5, "max_steps": 4, "per_device_batch": 2, "grad_accum": 2,
                                   "scheduler": "cosine", "warmup_ratio": 0.1, "precision": "bf16", "seed": 3,
                                   "device": "cuda",
                                   "weight_decay": 0.05, "adam_beta1": 0.8, "adam_beta2": 0.99,
                                   "adam_epsilon": 1e-6, "max_grad_norm": 0.7},
                         "grpo": {"num_generations": 4, "beta": 0.02, "epsilon": 0.25, "temperature": 1.0,
                                  "top_p": 1.0, "max_completion_length": 64,
                                  "rollout": {"engine": "vllm"}},
                         "distributed": {"nproc_per_node": 2},
                         "backends": {"vlmr1": {"root": str(vlmr1_checkout())}}})


def render(backend: str, recipe, data: Path, tmp_path: Path) -> dict[str, Path]:
    from bridge.runs import export_dataset, make_style, prompt_options

    adapter = get_adapter(backend)
    assert adapter.recipe_problems(recipe) == []
    export, _ = export_dataset(adapter, data, make_style(recipe.data.style, prompt_options(recipe.data)),
                               recipe.method, tmp_path / f"export-{backend}", recipe)
    run_dir = tmp_path / f"run-{backend}"
    run_dir.mkdir()
    return adapter.render_config(recipe, export, run_dir)


def backends_for(method: str) -> list[str]:
    """Every registered backend that trains ``method`` (each reads its own rendered config back: read_config)."""
    return [n for n, a in available_adapters().items() if method in a.methods and "read_config" not in a.gaps]


def expected(recipe) -> dict:
    plan = training_plan(recipe)
    keys = KEYS + (GRPO_KEYS if recipe.method == "grpo" else ())
    out = {k: plan[k] for k in keys if k in plan}
    out.update(lr=recipe.train.lr, precision=recipe.train.precision)
    return out


def _resolved(backend, recipe, synth_dataset, tmp_path):
    files = render(backend, recipe, synth_dataset, tmp_path)
    got = get_adapter(backend).read_config(files, recipe)
    # grad accumulation = micro-batches per optimiser step (verl: sequences per GPU / micro batch)
    assert got.pop("grad_accum") == recipe.train.grad_accum, backend
    return got


def test_sft_recipe_trains_the_same_on_every_backend(synth_dataset, tmp_path, model_dir):
    r = sft_recipe(synth_dataset, model_dir)
    want = expected(r)
    assert {k: want[k] for k in ("weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm")} == \
        {"weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 1.0}
    assert (want["prompts_per_step"], want["completions_per_step"]) == (4, 4)    # 2 per device x 2 accumulation
    assert {"trl", "llamafactory", "swift"} <= set(backends_for("sft"))
    for backend in backends_for("sft"):
        got = _resolved(backend, r, synth_dataset, tmp_path)
        assert {k: got.get(k) for k in want} == want, backend


def test_grpo_recipe_trains_the_same_on_every_backend(synth_dataset, tmp_path, model_dir):
    r = grpo_recipe(synth_dataset, model_dir)
    want = expected(r)
    # 2 prompts per device x 2 accumulation x 2 GPUs = 8 prompts, x 4 generations = 32 completions per step
    assert (want["prompts_per_step"], want["completions_per_step"], want["loss_type"]) == (8, 32, "grpo")
    results = {}
    hf_rollout = grpo_recipe(synth_dataset, model_dir)
    hf_rollout.grpo.rollout.engine = "hf"      # VLM-R1 generates with transformers only (not an optimiser setting)
    assert {"trl", "swift", "verl", "vlmr1"} <= set(backends_for("grpo"))
    assert want["top_k"] == 0                  # unset: the whole vocabulary ...
    for backend in backends_for("grpo"):
        got = _resolved(backend, hf_rollout if backend == "vlmr1" else r, synth_dataset, tmp_path)
        results[backend] = {k: got.get(k) for k in want}
        # ... except VLM-R1, whose GenerationConfig keeps transformers' top_k=50 (a capability: fixed)
        assert results[backend] == {**want, "top_k": 50 if backend == "vlmr1" else 0}, backend
    # what run.json["effective"] records (what `bridge compare` diffs): the same numbers for every adapter but
    # VLM-R1, which differs exactly where it feeds the model differently
    effective = {b: get_adapter(b).effective(r) for b in results}
    assert all(effective[b] == effective["trl"] for b in results if b != "vlmr1")
    assert effective["trl"]["effective_batch"] == 32 and effective["trl"]["per_device_samples"] == 8
    differs = {k for k in effective["trl"].keys() | effective["vlmr1"].keys()
               if effective["trl"].get(k) != effective["vlmr1"].get(k)}
    assert differs == {"top_k", "prompt_images", "system_prompt"}
    assert effective["vlmr1"]["top_k"] == 50 and "before the text" in effective["vlmr1"]["prompt_images"]


def test_top_k_is_rendered_or_refused_where_fixed(synth_dataset, tmp_path, model_dir):
    """An explicit grpo.top_k reaches every backend that samples with it; VLM-R1 (fixed at 50) takes 50 only."""
    r = grpo_recipe(synth_dataset, model_dir)
    r.grpo.top_k = 50
    hf_rollout = grpo_recipe(synth_dataset, model_dir)
    hf_rollout.grpo.top_k, hf_rollout.grpo.rollout.engine = 50, "hf"
    for backend in backends_for("grpo"):
        got = _resolved(backend, hf_rollout if backend == "vlmr1" else r, synth_dataset, tmp_path / f"k-{backend}")
        assert got["top_k"] == 50, backend
    hf_rollout.grpo.top_k = 0
    problems = get_adapter("vlmr1").recipe_problems(hf_rollout)
    assert [(p.field, p.expected, p.found) for p in problems] == [("grpo.top_k", "50", 0)]
    assert "fixed at 50" in problems[0].message


def test_loss_types_a_backend_lacks_are_refused_naming_it(synth_dataset, model_dir):
    r = grpo_recipe(synth_dataset, model_dir)
    r.grpo.loss_type = "dapo"
    assert "grpo.loss_type" in [p.field for p in get_adapter("vlmr1").recipe_problems(r)]
    assert get_adapter("verl").recipe_problems(r) == [] and get_adapter("trl").recipe_problems(r) == []
    r.grpo.loss_type = "cispo"
    assert [p.message.split(":")[0] for p in get_adapter("verl").recipe_problems(r)] == ["verl"]


def test_verl_refuses_no_clipping(synth_dataset, model_dir):
    r = grpo_recipe(synth_dataset, model_dir)
    r.train.max_grad_norm = 0.0
    assert [p.field for p in get_adapter("verl").recipe_problems(r)] == ["train.max_grad_norm"]
    assert get_adapter("trl").recipe_problems(r) == []     # transformers: 0 turns clipping off


def test_read_config_refuses_an_inconsistent_config(synth_dataset, tmp_path, model_dir):
    """read_config checks the batch mapping it reads: a planted fault (two PPO epochs per step in verl, completions
    reused twice in TRL) is an error naming what is inconsistent, never a silently different number."""
    r = grpo_recipe(synth_dataset, model_dir)
    files = render("verl", r, synth_dataset, tmp_path)
    text = files["overrides"].read_text()
    files["overrides"].write_text(text.replace("actor_rollout_ref.actor.ppo_epochs=1", "actor_rollout_ref.actor.ppo_epochs=2"))
    with pytest.raises(BridgeError, match="ppo_epochs == 1"):
        get_adapter("verl").read_config(files, r)
    (tmp_path / "trl").mkdir()
    files = render("trl", r, synth_dataset, tmp_path / "trl")
    files["config"].write_text(files["config"].read_text().replace("num_iterations: 1", "num_iterations: 2"))
    with pytest.raises(BridgeError, match="one round per optimiser step"):
        get_adapter("trl").read_config(files, r)
