"""ms-swift adapter: export format, rendered `swift sft` arguments, launch environment (fast, no backend needed),
and real runs in the ms-swift environment (`bridge check` on synthetic and imported data, `bridge run --smoke`).

The backend tests are skipped with the reason when the environment is missing, except under
BRIDGE_REQUIRE_BACKENDS=1 (the README's test command), where a missing environment fails."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge import envs
from bridge.backends import get_adapter
from bridge.backends.swift.adapter import pixel_env, target_regex
from bridge.backends.check import run_check
from bridge.frames import Pixels

B = "swift"
PHONE_TOKENS, DESKTOP_TOKENS = 10, 15     # 270x540 and 640x400 at the tiny processor's [3136, 12544] pixels


def recipe(dataset: str, model: str = "tiny:qwen2_vl", **kw):
    from bridge.recipe import parse_recipe

    # the tiny processor's bounds, as `bridge run --smoke` sets them (unset = the style's defaults)
    d = {"name": "t", "model": model, "data": {"train": dataset, "style": "qwen2vl", "prev_image": True,
                                               "min_pixels": 3136, "max_pixels": 12544},
         "train": {"max_steps": 2, "device": "cpu"}}
    for k, v in kw.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return parse_recipe(d)


def export(dataset: Path, out: Path, r, backend: str = B):
    """What bridge convert/run do: samples from the dataset + style, adapter export, export.json."""
    from bridge.runs import export_dataset, make_style, prompt_options

    result, _ = export_dataset(get_adapter(backend), dataset, make_style(r.data.style, prompt_options(r.data)),
                               "sft", out, r)
    return result


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ----------------------------------------------------------------------------------------------- export / config

def test_export_messages_images_jsonl(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset))
    res = export(synth_dataset, tmp_path / "sw", r)
    data = rows(res.files["train"])
    assert len(data) == res.samples == 33 - sum(res.refused.values())
    assert set(data[0]) == {"id", "messages", "images"}      # bounds are whole tokens: environment only
    assert res.meta["pixels"] == {"factor": 28, "min_pixels": 3136, "max_pixels": 12544}
    assert res.meta["row_pixels"] is False
    for row in data:
        assert "".join(m["content"] for m in row["messages"]).count("<image>") == len(row["images"]) >= 1
        assert all(os.path.isabs(p) and Path(p).is_file() for p in row["images"])
        assert row["messages"][-1]["role"] == "assistant" and "loss" not in row["messages"][-1]
    # the same text as the LLaMA-Factory export
    lf = export(synth_dataset, tmp_path / "lf", r, "llamafactory")
    assert [d["messages"] for d in rows(lf.files["train"])] == [d["messages"] for d in data]


def test_bounds_that_are_not_whole_tokens_travel_in_each_row(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset), data={"max_pixels": 5000})
    res = export(synth_dataset, tmp_path / "sw", r)
    assert rows(res.files["train"])[0]["chat_template_kwargs"] == {"min_pixels": 3136, "max_pixels": 5000}
    assert res.meta["row_pixels"] is True
    # rendering with other bounds than the export carries is refused (stale export)
    other = recipe(str(synth_dataset), data={"max_pixels": 6000})
    with pytest.raises(Exception, match="re-export"):
        get_adapter(B).render_config(other, res, tmp_path / "run")


def test_unset_bounds_follow_the_style_frame(synth_dataset, tmp_path):
    from bridge.recipe import parse_recipe

    r = parse_recipe({"name": "t", "model": "tiny:qwen2_vl", "data": {"train": str(synth_dataset), "style": "qwen2vl"}})
    res = export(synth_dataset, tmp_path / "sw", r)
    # not the tiny processor's 12544: the style frame's defaults (Qwen2-VL: 56*56 .. 16384 tokens of 28*28) decide
    assert res.meta["pixels"] == {"factor": 28, "min_pixels": 3136, "max_pixels": 12845056}
    assert res.meta["frame"]["max_pixels"] == 12845056
    env = get_adapter(B).command(r, res, tmp_path / "run", "py").env
    assert (env["MAX_PIXELS"], env["IMAGE_MAX_TOKEN_NUM"]) == ("12845056", "16384")


def test_pixel_env_and_target_regex():
    assert pixel_env(Pixels(28, 3136, 12544)) == {"MAX_PIXELS": "12544", "MIN_PIXELS": "3136",
                                                    "IMAGE_MAX_TOKEN_NUM": "16", "IMAGE_MIN_TOKEN_NUM": "4"}
    import re

    from bridge.recipe import TrainParts

    rx = re.compile(target_regex(["q_proj", "v_proj"], TrainParts()))
    assert rx.fullmatch("model.language_model.layers.0.self_attn.q_proj")
    assert rx.fullmatch("model.language_model.layers.1.self_attn.v_proj")
    assert not rx.fullmatch("model.language_model.layers.0.self_attn.k_proj")
    assert not rx.fullmatch("model.visual.blocks.0.mlp.q_proj")          # the ViT does not train
    rx2 = re.compile(target_regex(["fc1"], TrainParts(language_model=False, vision_tower=True)))
    assert rx2.fullmatch("model.visual.blocks.1.mlp.fc1") and not rx2.fullmatch("model.visual.merger.mlp.fc1")


def test_config_maps_tuner_freezing_precision_and_torchrun(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset), model="/models/Qwen2.5-VL-7B-Instruct", data={"style": "qwen25vl"},
               finetune={"type": "lora", "rank": 16, "alpha": 32, "dropout": 0.1,
                         "train": {"language_model": True, "vision_tower": True, "projector": False}},
               train={"device": "cuda", "precision": "bf16", "gradient_checkpointing": True, "max_length": 8192},
               distributed={"nnodes": 2, "nproc_per_node": 8, "node_rank": 1, "master_addr": "10.1.2.3",
                            "master_port": 29501, "deepspeed": "zero2"})
    res = export(synth_dataset, tmp_path / "sw", r)
    a = get_adapter(B)
    files = a.render_config(r, res, tmp_path / "run")
    cfg = yaml.safe_load(files["config"].read_text())
    assert (cfg["model_type"], cfg["template"]) == ("qwen2_5_vl", "qwen2_5_vl")
    assert (cfg["tuner_type"], cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_dropout"]) == ("lora", 16, 32, 0.1)
    assert cfg["target_modules"] == ["all-linear"] and "target_regex" not in cfg
    assert (cfg["freeze_vit"], cfg["freeze_aligner"], cfg["freeze_llm"]) == (False, True, False)
    assert (cfg["torch_dtype"], cfg["bf16"], cfg["fp16"]) == ("bfloat16", True, False)
    assert cfg["deepspeed"] == "zero2" and cfg["max_length"] == 8192 and cfg["gradient_checkpointing"] is True
    assert cfg["dataset"] == [str(res.files["train"])] and cfg["strict"] is True and cfg["add_version"] is False
    assert "max_pixels" not in cfg and cfg["ENV"]["MAX_PIXELS"] == "12544" and cfg["ENV"]["IMAGE_MAX_TOKEN_NUM"] == "16"
    spec = a.command(r, res, tmp_path / "run", "/py")
    assert spec.argv == ["/py", "-m", "swift.cli.main", "sft", str(files["config"])]
    assert {k: spec.env[k] for k in ("NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT")} == \
        {"NNODES": "2", "NODE_RANK": "1", "NPROC_PER_NODE": "8", "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29501"}


def test_cpu_explicit_targets_and_overrides(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset), finetune={"target_modules": ["q_proj", "v_proj"]},
               backends={B: {"overrides": {"lazy_tokenize": True, "seed": 7}}})
    res = export(synth_dataset, tmp_path / "sw", r)
    cfg = yaml.safe_load(get_adapter(B).render_config(r, res, tmp_path / "run")["config"].read_text())
    assert (cfg["torch_dtype"], cfg["bf16"], cfg["fp16"]) == ("float32", False, False)
    assert cfg["target_regex"] == target_regex(["q_proj", "v_proj"], r.finetune.train)
    assert "target_modules" not in cfg and cfg["seed"] == 7 and cfg["lazy_tokenize"] is True
    assert (cfg["save_strategy"], cfg["save_steps"]) == ("steps", 10 ** 9)    # end: the final checkpoint only
    assert "NNODES" not in get_adapter(B).command(r, res, tmp_path / "run", "py").env


# ----------------------------------------------------------------------------------------------- real backend

@pytest.fixture(scope="module")
def swift_python() -> str:
    st = envs.status(B)
    if st.state != "ok":
        msg = f"the ms-swift environment is {st.state} ({st.path}); install it with `bridge env install {B}`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(st.python)


@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_synthetic(swift_python, synth_dataset, tiny_model_dir, tmp_path):
    from bridge.images import image_size

    r = recipe(str(synth_dataset), model=str(tiny_model_dir))
    res = export(synth_dataset, tmp_path / "sw", r)
    v = run_check(B, tmp_path / "sw")
    assert v.ok, v.summary()
    rep = v.report
    assert rep["loaded"] == rep["samples_in"] == res.samples and rep["dropped"] == []
    want = {(270, 540): PHONE_TOKENS, (640, 400): DESKTOP_TOKENS}
    assert {t for s in rep["samples"] for t in s["image_tokens"]} == {PHONE_TOKENS, DESKTOP_TOKENS}
    for s in rep["samples"]:
        assert s["image_tokens"] == [want[image_size(p)] for p in s["images"]]
        assert s["placeholders"] == len(s["images"]) and s["id"] is not None
    first = rows(res.files["train"])[0]["messages"]
    assert rep["first"]["target"] == first[2]["content"] + "<|im_end|>\n"
    assert rep["first"]["prompt"].startswith("<|im_start|>system\n" + first[0]["content"][:40])


@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_imported_seed_steps_with_odd_pixel_bounds(swift_python, tiny_model_25_dir, tmp_path):
    from bridge.frames import image_tokens
    from bridge.images import image_size
    from bridge.importers import import_dataset

    seed = Path(__file__).parent / "fixtures" / "importers" / "seed-steps"
    import_dataset("seed-steps", seed, tmp_path / "ds")
    # 5000 is not a whole number of 28x28 tokens: MAX_PIXELS alone would round it; the rows carry it exactly
    r = recipe(str(tmp_path / "ds"), model=str(tiny_model_25_dir), data={"max_pixels": 5000, "style": "qwen25vl"})
    res = export(tmp_path / "ds", tmp_path / "sw", r)
    v = run_check(B, tmp_path / "sw", recipe=r)
    assert v.ok, v.summary()
    assert v.report["loaded"] == res.samples > 0 and v.report["dropped"] == []
    for s in v.report["samples"]:
        for path, got in zip(s["images"], s["image_tokens"]):
            w, h = image_size(path)
            assert got == image_tokens(h, w, 28, 3136, 5000)


@pytest.mark.backend(B)
@pytest.mark.slow
def test_smoke_run(swift_python, synth_dataset, tmp_path):
    rec = {"name": "smoke", "model": "tiny:qwen2_vl",
           "data": {"train": str(synth_dataset), "style": "qwen2vl", "history": 2},
           "finetune": {"type": "lora", "rank": 8, "alpha": 16}, "train": {"max_steps": 50},
           "backends": {B: {"python": swift_python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(rec))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--backend", B,
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text() if (run_dir / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["backend"] == B and record["versions"]["ms-swift"] == "4.6.0"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(math.isfinite(m["loss"]) for m in metrics)
    ckpt = run_dir / "output" / "checkpoint-2"
    assert (ckpt / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((ckpt / "adapter_config.json").read_text())["r"] == 8
    args = json.loads((run_dir / "output" / "args.json").read_text())
    assert (args["fp16"], args["bf16"], args["max_steps"]) == (False, False, 2)
