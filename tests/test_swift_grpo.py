"""ms-swift GRPO: export (SFT rows + ground_truth column), rendered `swift rlhf --rlhf_type grpo` arguments, refused
settings, the generated ORM plugin (against a stand-in `swift.rewards`), and — in the ms-swift environment — its
own GRPO data path + reward computation (`bridge check`) and a real 2-step `bridge run --smoke`.

Backend tests skip with the reason when the environment is missing, except under BRIDGE_REQUIRE_BACKENDS=1."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from conftest import backend_python

from bridge.backends import get_adapter
from bridge.backends.swift.adapter import PLUGIN_FILE, SWIFT_LOSS_TYPES, reward_funcs
from bridge.errors import BridgeError
from bridge.rewards import hooks
from bridge.rewards.spec import build_scorer

B = "swift"
REPO = Path(__file__).resolve().parent.parent
REWARDS = [{"preset": "gui-r1"}, {"name": "gaussian_point", "weight": 0.5}]


def recipe(dataset, model: str = "tiny:qwen2_5_vl", **kw):
    from bridge.recipe import parse_recipe

    d = {"name": "g", "model": model, "method": "grpo",
         "data": {"train": str(dataset), "style": "gui-r1", "history": 2, "prev_image": True,
                  "min_pixels": 3136, "max_pixels": 12544},
         "train": {"max_steps": 2, "device": "cpu", "per_device_batch": 1},   # 1 prompt x 4 completions
         "grpo": {"num_generations": 4, "rewards": REWARDS}}
    for k, v in kw.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    if d["method"] == "sft":
        d.pop("grpo")
    return parse_recipe(d)


def export(dataset: Path, out: Path, r, method: str = "grpo"):
    from bridge.runs import export_dataset, make_style, prompt_options

    result, _ = export_dataset(get_adapter(B), dataset, make_style(r.data.style, prompt_options(r.data)), method,
                               out, r)
    return result


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def config(r, res, run_dir: Path) -> dict:
    files = get_adapter(B).render_config(r, res, run_dir)
    assert files["config"].name == "swift_grpo.yaml" and files["reward"] == run_dir / PLUGIN_FILE
    return yaml.safe_load(files["config"].read_text())


# ------------------------------------------------------------------------------------------------------- export

def test_grpo_rows_are_the_sft_rows_plus_the_ground_truth_column(synth_dataset, tmp_path):
    from bridge.samples import build_samples
    from bridge.styles import PromptOptions, get_style

    r = recipe(synth_dataset)
    grpo, sft = export(synth_dataset, tmp_path / "g", r), export(synth_dataset, tmp_path / "s", r, "sft")
    g_rows, s_rows = rows(grpo.files["train"]), rows(sft.files["train"])
    samples = list(build_samples(synth_dataset, get_style("gui-r1", PromptOptions(history=2, prev_image=True,
                                                                                   min_pixels=3136,
                                                                                   max_pixels=12544))))
    assert grpo.method == "grpo" and len(g_rows) == grpo.samples == len(samples) > 0
    for g, s, sample in zip(g_rows, s_rows, samples):
        assert set(g) == {"id", "messages", "images", "ground_truth"}
        assert {k: v for k, v in g.items() if k != "ground_truth"} == s
        assert g["id"] == sample.id and g["ground_truth"] == sample.ground_truth.to_json()
        # ms-swift drops the trailing assistant turn (the target) before generating
        assert g["messages"][-1] == {"role": "assistant", "content": sample.target}
        assert "".join(m["content"] for m in g["messages"]).count("<image>") == len(g["images"]) >= 1


# ------------------------------------------------------------------------------------------------------- config

def test_grpo_arguments_map_the_recipe(synth_dataset, tmp_path):
    r = recipe(synth_dataset, grpo={"beta": 0.04, "epsilon": 0.2, "epsilon_high": 0.28, "temperature": 0.7,
                                    "top_p": 0.9, "max_completion_length": 64, "max_prompt_length": 900,
                                    "loss_type": "dapo"})
    res = export(synth_dataset, tmp_path / "g", r)
    run = tmp_path / "run"
    cfg = config(r, res, run)
    assert cfg["rlhf_type"] == "grpo" and cfg["dataset"] == [str(res.files["train"])]
    assert (cfg["num_generations"], cfg["beta"], cfg["epsilon"], cfg["epsilon_high"]) == (4, 0.04, 0.2, 0.28)
    assert (cfg["temperature"], cfg["top_p"], cfg["max_completion_length"], cfg["loss_type"]) == (0.7, 0.9, 64, "dapo")
    # the prompt bound (image tokens included); an over-long prompt is swapped, never cut through its image tokens
    assert (cfg["max_length"], cfg["truncation_strategy"]) == (900, "delete")
    assert cfg["external_plugins"] == [str(run / PLUGIN_FILE)]
    assert cfg["reward_funcs"] == ["bridge_gui_r1", "bridge_gaussian_point"] and cfg["reward_weights"] == [1.0, 0.5]
    assert cfg["use_vllm"] is False and "vllm_mode" not in cfg
    # ms-swift counts completions per device: 1 prompt x 4 generations; one generation round per optimiser step
    assert cfg["per_device_train_batch_size"] == 4 and cfg["ENV"]["MAX_PIXELS"] == "12544"
    assert (cfg["steps_per_generation"], cfg["gradient_accumulation_steps"], cfg["num_iterations"]) == (1, 1, 1)
    # AdamW explicit: ms-swift 4.6 would use weight_decay 0.1 and adam_beta2 0.95
    assert (cfg["weight_decay"], cfg["adam_beta1"], cfg["adam_beta2"], cfg["adam_epsilon"], cfg["max_grad_norm"]) \
        == (0.0, 0.9, 0.999, 1e-8, 1.0)
    assert (cfg["tuner_type"], cfg["freeze_vit"], cfg["model_type"]) == ("lora", True, "qwen2_5_vl")
    spec = get_adapter(B).command(r, res, run, "/py")
    assert spec.argv == ["/py", "-m", "swift.cli.main", "rlhf", str(run / "swift_grpo.yaml")]
    assert spec.env["MAX_PIXELS"] == "12544" and spec.env["IMAGE_MAX_TOKEN_NUM"] == "16"


def test_vllm_rollout_defaults_and_overrides(synth_dataset, tmp_path):
    r = recipe(synth_dataset, train={"device": "cuda"},
               grpo={"rollout": {"engine": "vllm", "gpu_memory_utilization": 0.4, "tensor_parallel_size": 2}},
               backends={B: {"overrides": {"sleep_level": 1, "temperature": 0.5}}})
    res = export(synth_dataset, tmp_path / "g", r)
    cfg = config(r, res, tmp_path / "run")
    assert (cfg["use_vllm"], cfg["vllm_mode"]) == (True, "colocate")
    assert (cfg["vllm_gpu_memory_utilization"], cfg["vllm_tensor_parallel_size"]) == (0.4, 2)
    # vLLM's own processor gets the policy's bounds; two screenshots per prompt (prev_image)
    assert cfg["vllm_engine_kwargs"] == {"mm_processor_kwargs": {"min_pixels": 3136, "max_pixels": 12544}}
    assert cfg["vllm_limit_mm_per_prompt"] == {"image": 2}
    assert cfg["sleep_level"] == 1 and cfg["temperature"] == 0.5          # recipe overrides win
    assert "max_length" not in cfg and "epsilon_high" not in cfg   # unset: no bound / symmetric clip
    assert cfg["loss_type"] == "grpo"                               # the recipe default, explicit


#: Qwen2-VL-7B-Instruct's generation_config.json: top_k 1, a tiny top_p and temperature
INSTRUCT_GENERATION = {"do_sample": True, "temperature": 0.01, "top_p": 0.001, "top_k": 1, "repetition_penalty": 1.05}
SAMPLING = """
import json, sys
from transformers import GenerationConfig
from swift.infer_engine.protocol import RequestConfig
from swift.infer_engine.utils import prepare_generation_config
cfg, gen = json.loads(sys.argv[1]), json.loads(sys.argv[2])
# the rollout's RequestConfig as swift/rlhf_trainers/rollout_mixin.py builds it, with its GRPO defaults (args_mixin.py)
rc = RequestConfig(n=1, max_tokens=cfg["max_completion_length"], temperature=cfg["temperature"],
                   top_p=cfg.get("top_p", 1.0), top_k=cfg.get("top_k", -1), min_p=cfg.get("min_p", 0.0),
                   repetition_penalty=cfg.get("repetition_penalty", 1.0))
class Tok:
    eos_token_id, pad_token_id = 1, 0
g = prepare_generation_config(GenerationConfig(**gen), rc, Tok())   # what its transformers engine generates with
print(json.dumps({k: getattr(g, k) for k in ("do_sample", "temperature", "top_p", "top_k", "repetition_penalty")}))
"""


@pytest.mark.backend(B)
def test_sampling_is_the_recipes_whatever_the_models_generation_config(synth_dataset, tmp_path):
    """ms-swift's transformers engine turns top_k <= 0 into the model's generation_config top_k (1 in the Qwen-VL
    Instruct checkpoints: every completion of a group greedy, no GRPO signal). Run through ms-swift's own
    prepare_generation_config against such a generation_config, the rendered settings sample from the whole
    vocabulary at the recipe's temperature and top_p."""
    python = backend_python(B)
    r = recipe(synth_dataset, grpo={"max_completion_length": 64})
    cfg = config(r, export(synth_dataset, tmp_path / "g", r), tmp_path / "run")
    out = subprocess.run([python, "-c", SAMPLING, json.dumps(cfg), json.dumps(INSTRUCT_GENERATION)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    g = json.loads(out.stdout.strip().splitlines()[-1])
    assert (g["do_sample"], g["temperature"], g["top_p"], g["repetition_penalty"]) == (True, 1.0, 1.0, 1.0)
    assert g["top_k"] >= 151_936          # no top-k: transformers keeps min(top_k, vocabulary) tokens
    r = recipe(synth_dataset, grpo={"top_k": 20})
    assert config(r, export(synth_dataset, tmp_path / "g20", r), tmp_path / "run20")["top_k"] == 20


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_eval_data_becomes_val_dataset(synth_dataset, tmp_path, method):
    r = recipe(synth_dataset, method=method, data={"eval": str(synth_dataset)}, train={"per_device_batch": 8})
    res = export(synth_dataset, tmp_path / "g", r, method)
    res.files["eval"] = tmp_path / "eval.jsonl"        # what bridge.runs.cached_export records for data.eval
    cfg = yaml.safe_load(get_adapter(B).render_config(r, res, tmp_path / "run")["config"].read_text())
    assert cfg["val_dataset"] == [str(tmp_path / "eval.jsonl")] and cfg["split_dataset_ratio"] == 0.0
    # once, at the end of the 2-step run; a GRPO eval batch is one prompt's group of 4 generations
    assert (cfg["eval_strategy"], cfg["eval_steps"]) == ("steps", 2)
    assert cfg["per_device_eval_batch_size"] == (4 if method == "grpo" else 8)
    assert ("rlhf_type" in cfg) == (method == "grpo")


def test_settings_swift_cannot_honour_are_errors_naming_it(synth_dataset):
    from bridge.recipe import check_backend

    a = get_adapter(B)
    assert a.methods == {"sft", "grpo"} and "vespo" not in SWIFT_LOSS_TYPES
    r = recipe(synth_dataset, train={"per_device_batch": 3, "max_length": 4096},   # any prompt count is fine
               grpo={"loss_type": "vespo", "rollout": {"engine": "sglang"}})
    problems = {p.field: p for p in a.recipe_problems(r)}
    assert set(problems) == {"train.max_length", "grpo.loss_type", "grpo.rollout.engine"}
    assert all(p.message.startswith("swift: ") for p in problems.values())
    vllm_on_cpu = recipe(synth_dataset, grpo={"rollout": {"engine": "vllm"}})
    assert [p.field for p in a.recipe_problems(vllm_on_cpu)] == ["grpo.rollout.engine"]
    with pytest.raises(BridgeError, match="backend 'swift' cannot honour 3 setting"):
        check_backend(r, a)
    assert a.recipe_problems(recipe(synth_dataset)) == []


# ------------------------------------------------------------------------------------------------------- plugin

@pytest.fixture
def stand_in_swift(monkeypatch):
    """A `swift.rewards` with the 4.x ORM base and registry, so the generated plugin imports without ms-swift."""
    class ORM:
        def __init__(self, args=None, **kwargs):
            self.args = args

    swift, rewards = types.ModuleType("swift"), types.ModuleType("swift.rewards")
    rewards.ORM, rewards.orms = ORM, {"format": object}
    swift.rewards = rewards
    monkeypatch.setitem(sys.modules, "swift", swift)
    monkeypatch.setitem(sys.modules, "swift.rewards", rewards)
    monkeypatch.delitem(sys.modules, "bridge.backends.swift.reward_plugin", raising=False)
    monkeypatch.setattr(hooks, "_configured", None)
    return rewards.orms


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_plugin_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("smoke", [False, True])
def test_generated_plugin_registers_one_orm_per_component(synth_dataset, tmp_path, stand_in_swift, smoke):
    from bridge.backends.trl.launcher import smoke_aux

    r = recipe(synth_dataset)
    res = export(synth_dataset, tmp_path / "g", r)
    res.meta["smoke"] = smoke
    cfg = config(r, res, tmp_path / "run")
    mod = load(tmp_path / "run" / PLUGIN_FILE)
    names = cfg["reward_funcs"]
    assert names == ["bridge_gui_r1", "bridge_gaussian_point"] + (["smoke_aux"] if smoke else [])
    assert set(names) | {"bridge", "format"} == set(stand_in_swift) and mod.SPEC == build_scorer(REWARDS).to_list()
    # ms-swift logs rewards/<class name>/mean: each class is named like its registry entry
    assert all(stand_in_swift[n].__name__ == n for n in names)
    # what ms-swift passes: completion strings; every column (ground_truth included) one entry per completion
    row = next(x for x in rows(res.files["train"]) if "'click'" in x["messages"][-1]["content"])
    target = row["messages"][-1]["content"]
    # the right action a little off target: a lower Gaussian score
    near = re.sub(r"'point': \[(\d+), ", lambda m: f"'point': [{int(m.group(1)) + 12}, ", target)
    texts = [target, near, "noise"]
    cols = {k: [v] * len(texts) for k, v in row.items()}
    scorer = build_scorer(REWARDS)
    want = [scorer(t, row["ground_truth"]) for t in texts]
    per = {n: stand_in_swift[n](args=None)(texts, trainer_state=None, **cols) for n in names}
    assert per["bridge_gui_r1"] == pytest.approx([w["gui-r1"] for w in want])
    assert per["bridge_gaussian_point"] == pytest.approx([w["gaussian_point"] for w in want])
    weights = cfg["reward_weights"]
    total = [sum(w * per[n][i] for n, w in zip(names[:2], weights)) for i in range(len(texts))]
    assert total == pytest.approx([w["score"] for w in want])
    assert stand_in_swift["bridge"]()(texts, **cols) == pytest.approx(total)
    assert len({round(x, 6) for x in total}) == 3        # the completions really score differently
    if smoke:     # the TRL launcher's function itself, not a copy
        assert per["smoke_aux"] == smoke_aux(completions=texts) and len(set(per["smoke_aux"])) == 3


def test_reward_funcs_names_and_weights():
    assert reward_funcs([{"name": "point_in_box", "key": "hit-box"}, {"preset": "ui-r1", "weight": 2}], True) == \
        (["bridge_hit_box", "bridge_ui_r1", "smoke_aux"], [1.0, 2.0, 1.0])


# ------------------------------------------------------------------------------------------------- real ms-swift

@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_runs_swifts_grpo_data_path_and_rewards(synth_dataset, tiny_model_25_dir, tmp_path):
    from bridge.backends.check import run_check
    from bridge.frames import image_tokens
    from bridge.images import image_size
    backend_python(B)
    r = recipe(synth_dataset, model=str(tiny_model_25_dir))
    res = export(synth_dataset, tmp_path / "g", r)
    v = run_check(B, tmp_path / "g", recipe=r)
    rep = v.report
    assert v.ok, v.summary()
    assert rep["method"] == "grpo" and rep["loaded"] == rep["samples_in"] == res.samples and rep["dropped"] == []
    by_id = {x["id"]: x for x in rows(res.files["train"])}
    scorer = build_scorer(REWARDS)
    for s in rep["samples"]:
        assert s["placeholders"] == len(s["images"]) == len(s["image_tokens"])
        assert s["image_tokens"] == [image_tokens(h, w, 28, 3136, 12544)
                                     for w, h in (image_size(p) for p in s["images"])]
        # ms-swift's compute_rewards_per_func, with the target as the completion and the row's own columns
        row = by_id[s["id"]]
        want = scorer(row["messages"][-1]["content"], row["ground_truth"])
        assert s["rewards"] == pytest.approx({"bridge_gui_r1": want["gui-r1"],
                                              "bridge_gaussian_point": want["gaussian_point"]}, rel=1e-6)
    assert any(s["rewards"]["bridge_gaussian_point"] > 0.9 for s in rep["samples"])
    first = rows(res.files["train"])[0]
    # the trained tokens of a GRPO completion are the completion itself (no end-of-turn added after a rollout)
    assert rep["first"]["target"] == first["messages"][-1]["content"]
    assert rep["first"]["prompt"].endswith("<|im_start|>assistant\n") and "ground_truth" not in rep["first"]["prompt"]


@pytest.mark.backend(B)
@pytest.mark.slow
def test_smoke_run_demo_grpo_recipe(synth_dataset, tmp_path):
    python = backend_python(B)
    rec = yaml.safe_load((REPO / "recipes" / "demo_grpo.yaml").read_text())
    rec["data"]["train"] = str(synth_dataset)
    rec["backends"] = {B: {"python": python}}      # a fresh BRIDGE_HOME, the installed environment
    path = tmp_path / "demo_grpo.yaml"
    path.write_text(yaml.safe_dump(rec))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", "--smoke", "--backend", B, str(path),
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text() if (run_dir / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["method"] == "grpo" and record["versions"]["ms-swift"] == "4.6.0"
    assert record["command"][-2:] == ["rlhf", str(run_dir / "swift_grpo.yaml")]
    # ms-swift's own log: one reward per component (and the smoke-only dense one), gradients flowing
    raw = [json.loads(x) for x in (run_dir / "output" / "logging.jsonl").read_text().splitlines()]
    steps = [x for x in raw if "global_step/max_steps" in x and "loss" in x]
    assert [x["global_step/max_steps"] for x in steps] == ["1/2", "2/2"]
    for x in steps:
        assert {"rewards/bridge_gui_r1/mean", "rewards/bridge_gaussian_point/mean", "rewards/smoke_aux/mean"} <= set(x)
        assert x["grad_norm"] > 0 and math.isfinite(x["loss"])
        assert 0 < x["rewards/smoke_aux/mean"] < 1 and x["reward_std"] > 0
    # normalised metrics: the same names TRL reports
    metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert all({"reward/gui_r1", "reward/gaussian_point", "reward/smoke_aux"} <= set(m) for m in metrics)
    args = json.loads((run_dir / "output" / "args.json").read_text())
    assert (args["rlhf_type"], args["num_generations"], args["beta"], args["use_vllm"]) == ("grpo", 2, 0.0, False)
    assert args["reward_funcs"] == ["bridge_gui_r1", "bridge_gaussian_point", "smoke_aux"]
    assert args["reward_weights"] == [1.0, 0.5, 1.0] and args["max_completion_length"] == 24
    assert (run_dir / "output" / "checkpoint-2" / "adapter_model.safetensors").stat().st_size > 0
