"""One recipe, the same optimisation on every backend (DESIGN.md §7): each adapter's rendered config is parsed
back (TRL config YAML, LLaMA-Factory YAML, ms-swift YAML, verl override list, VLM-R1 argument list) and the
optimiser, schedule, seed, precision, GRPO loss/sampling and prompts/completions per optimiser step must be
identical — and equal to the recipe's, so no backend default leaks. Fast: nothing trains."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bridge.adapters import get_adapter
from bridge.recipe import parse_recipe, training_plan

VLMR1_ROOT = Path(__file__).resolve().parent / "fixtures" / "vlmr1"
KEYS = ("lr", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "scheduler", "warmup",
        "seed", "precision", "prompts_per_step", "completions_per_step")
GRPO_KEYS = ("loss_type", "num_generations", "beta", "epsilon", "temperature", "top_p", "max_completion_length")


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
                         "backends": {"vlmr1": {"root": str(VLMR1_ROOT)}}})


def render(backend: str, recipe, data: Path, tmp_path: Path) -> dict[str, Path]:
    from bridge.runs import export_dataset, make_style, prompt_options

    adapter = get_adapter(backend)
    assert adapter.recipe_problems(recipe) == []
    export, _ = export_dataset(adapter, data, make_style(recipe.data.style, prompt_options(recipe.data)),
                               recipe.method, tmp_path / f"export-{backend}", recipe)
    run_dir = tmp_path / f"run-{backend}"
    run_dir.mkdir()
    return adapter.render_config(recipe, export, run_dir)


# -- parsers: rendered config -> normalised settings ------------------------------------------------------------

def _hf(a: dict, world: int, gens: int) -> dict:
    """TrainingArguments-style keys (TRL, LLaMA-Factory, ms-swift, VLM-R1); per_device counts completions."""
    completions = a["per_device_train_batch_size"] * a["gradient_accumulation_steps"] * world
    out = {"lr": a["learning_rate"], "scheduler": a["lr_scheduler_type"],
           "warmup": a.get("warmup_ratio", a.get("warmup_steps")), "seed": a["seed"],
           "precision": "bf16" if a["bf16"] else "fp16" if a["fp16"] else "fp32",
           "completions_per_step": completions, "prompts_per_step": completions // gens,
           **{k: a[k] for k in ("weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm")}}
    if gens > 1:
        out.update({k: a[k] for k in ("num_generations", "beta", "epsilon", "temperature", "max_completion_length")})
        out["top_p"] = a.get("top_p", 1.0)
        if "loss_type" in a:
            out["loss_type"] = a["loss_type"]
    return out


def parse_trl(files, world, gens):
    a = yaml.safe_load(files["config"].read_text())["args"]
    if gens > 1:   # one generation round per optimiser step
        assert a["steps_per_generation"] == a["gradient_accumulation_steps"] and a["num_iterations"] == 1
    return _hf(a, world, gens)


def parse_yaml(files, world, gens):
    a = yaml.safe_load(files["config"].read_text())
    if "cutoff_len" in a:   # LLaMA-Factory: fp32 on CPU through bf16/fp16 false
        assert a["bf16"] is False and a["fp16"] is False
    if gens > 1:
        assert a["steps_per_generation"] == a["gradient_accumulation_steps"] and a["num_iterations"] == 1
    return _hf(a, world, gens)


def parse_vlmr1(files, world, gens):
    argv = json.loads(files["args"].read_text())["args"]
    a, key = {}, None
    for tok in argv:
        if tok.startswith("--"):
            key = tok[2:]
            a[key] = None
        else:
            a[key] = tok if a[key] is None else [a[key], tok] if not isinstance(a[key], list) else a[key] + [tok]
    from bridge.logs.verl import _scalar   # int, float (1e-05 too), else YAML: what HfArgumentParser converts

    conv = {k: _scalar(v) if isinstance(v, str) else v for k, v in a.items()}
    conv["loss_type"] = "grpo"   # fixed in VLMGRPOTrainer.compute_loss (its only loss; capability grpo only)
    return _hf(conv, world, gens)


VERL_LOSS = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}


def parse_verl(files, world, gens):
    from bridge.adapters.verl import override_key, parse_overrides
    from bridge.logs.verl import _scalar

    o = {override_key(x): _scalar(x.split("=", 1)[1]) for x in parse_overrides(files["overrides"].read_text())}
    p = "actor_rollout_ref.actor."
    n, prompts = o["actor_rollout_ref.rollout.n"], o["data.train_batch_size"]
    assert o[p + "ppo_mini_batch_size"] == prompts and o[p + "ppo_epochs"] == 1   # one optimiser step per step
    gpus = o["trainer.n_gpus_per_node"] * o["trainer.nnodes"]
    per_gpu = prompts * n // gpus
    assert per_gpu % o[p + "ppo_micro_batch_size_per_gpu"] == 0
    assert o[p + "optim.clip_grad"] == o[p + "grad_clip"]
    assert (o[p + "optim.min_lr_ratio"], o[p + "optim.num_cycles"], o[p + "optim.lr_warmup_steps"]) == (0.0, 0.5, -1)
    assert o["algorithm.norm_adv_by_std_in_grpo"] is True
    return {"lr": o[p + "optim.lr"], "scheduler": o[p + "optim.lr_scheduler_type"],
            "warmup": o[p + "optim.lr_warmup_steps_ratio"], "seed": o["data.seed"],
            "precision": {"bfloat16": "bf16", "float16": "fp16"}[o[p + "fsdp_config.dtype"]],
            "weight_decay": o[p + "optim.weight_decay"], "adam_beta1": o[p + "optim.betas"][0],
            "adam_beta2": o[p + "optim.betas"][1], "adam_epsilon": _hydra_dict(o[p + "optim.override_optimizer_config"])["eps"],
            "max_grad_norm": o[p + "optim.clip_grad"], "prompts_per_step": prompts, "completions_per_step": prompts * n,
            "loss_type": VERL_LOSS[o[p + "loss_agg_mode"]], "num_generations": n,
            "beta": o[p + "kl_loss_coef"] if o[p + "use_kl_loss"] else 0.0, "epsilon": o[p + "clip_ratio_low"],
            "temperature": o["actor_rollout_ref.rollout.temperature"], "top_p": o["actor_rollout_ref.rollout.top_p"],
            "max_completion_length": o["data.max_response_length"],
            # grad accumulation = micro-batches per optimiser step (sequences per GPU / micro batch)
            "_grad_accum": per_gpu // o[p + "ppo_micro_batch_size_per_gpu"]}


def _hydra_dict(value) -> dict:
    """``{eps:1e-06}`` (Hydra's dict syntax, which YAML reads differently) -> {"eps": 1e-06}."""
    from bridge.logs.verl import _scalar

    if isinstance(value, dict) and all(v is None for v in value.values()) and len(value) == 1:
        value = "{" + next(iter(value)) + "}"      # YAML read {eps:1e-06} as one key
    items = str(value).strip("{}").split(",")
    return {k.strip(): _scalar(v.strip()) for k, v in (i.split(":", 1) for i in items)}


PARSERS = {"trl": parse_trl, "llamafactory": parse_yaml, "swift": parse_yaml, "verl": parse_verl,
           "vlmr1": parse_vlmr1}


def expected(recipe) -> dict:
    plan = training_plan(recipe)
    keys = KEYS + (GRPO_KEYS if recipe.method == "grpo" else ())
    out = {k: plan[k] for k in keys if k in plan}
    out.update(lr=recipe.train.lr, precision=recipe.train.precision)
    return out


def _resolved(backend, recipe, synth_dataset, tmp_path):
    files = render(backend, recipe, synth_dataset, tmp_path)
    gens = recipe.grpo.num_generations if recipe.method == "grpo" else 1
    got = PARSERS[backend](files, recipe.distributed.world_size, gens)
    if "_grad_accum" in got:
        assert got.pop("_grad_accum") == recipe.train.grad_accum
    return got


def test_sft_recipe_trains_the_same_on_every_backend(synth_dataset, tmp_path, model_dir):
    r = sft_recipe(synth_dataset, model_dir)
    want = expected(r)
    assert {k: want[k] for k in ("weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm")} == \
        {"weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8, "max_grad_norm": 1.0}
    assert (want["prompts_per_step"], want["completions_per_step"]) == (4, 4)    # 2 per device x 2 accumulation
    for backend in ("trl", "llamafactory", "swift"):
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
    for backend in ("trl", "swift", "verl", "vlmr1"):
        got = _resolved(backend, hf_rollout if backend == "vlmr1" else r, synth_dataset, tmp_path)
        results[backend] = {k: got.get(k) for k in want}
        assert results[backend] == want, backend
    # what run.json["effective"] records: the same numbers for every adapter
    effective = {b: get_adapter(b).effective(r) for b in results}
    assert all(e == effective["trl"] for e in effective.values())
    assert effective["trl"]["effective_batch"] == 32 and effective["trl"]["per_device_samples"] == 8


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
