"""LLaMA-Factory adapter: export format, rendered config, launch environment (fast, no backend needed), and
real runs in the LLaMA-Factory environment (`bridge check` on synthetic and imported data, `bridge run --smoke`).

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
from bridge.backends.check import read_manifest, run_check
from bridge.errors import BridgeError
from bridge.recipe import parse_recipe

B = "llamafactory"
PHONE_TOKENS, DESKTOP_TOKENS = 10, 15     # 270x540 and 640x400 at the tiny processor's [3136, 12544] pixels


def recipe(dataset: str, model: str = "tiny:qwen2_vl", **kw):
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

def test_export_sharegpt_with_tags_and_placeholders(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset))
    res = export(synth_dataset, tmp_path / "lf", r)
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert info == {"gui_sft": {
        "file_name": "train.jsonl", "formatting": "sharegpt", "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}}}
    data = rows(res.files["train"])
    assert len(data) == res.samples == 33 - sum(res.refused.values())
    first = data[0]
    assert first["id"] == "synth-0-00000/0" and [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][2]["content"].startswith("<tool_call>\n{\"name\": \"mobile_use\"")
    for row in data:
        text = "".join(m["content"] for m in row["messages"])
        assert text.count("<image>") == len(row["images"]) >= 1
        assert all(os.path.isabs(p) and Path(p).is_file() for p in row["images"])   # zero copy: originals
        assert all(str(synth_dataset) in p for p in row["images"])
    # from the second step on, the previous screenshot comes first, then the current one
    assert [Path(p).name for p in data[1]["images"]] == ["step_00.png", "step_01.png"]
    assert read_manifest(tmp_path / "lf").samples == res.samples


def test_literal_placeholder_is_refused_and_nothing_written(tmp_path):
    from bridge.frames import REL1000
    from bridge.groundtruth import GroundTruth
    from bridge.samples import Sample
    from bridge.schema import Action

    img = tmp_path / "s.png"
    img.write_bytes(b"")
    msgs = [{"role": "user", "content": [{"type": "text", "text": "type <image> here"},
                                         {"type": "image", "image": str(img)}]}]
    s = Sample("ep/0", msgs, "ok", [str(img)], GroundTruth(Action(type="wait"), 10, 10, "x", REL1000))
    with pytest.raises(BridgeError) as e:
        get_adapter(B).export([s], tmp_path / "out", "sft", None)
    assert e.value.problems[0].record == "ep/0" and e.value.problems[0].field == "messages[0]"
    assert "<image>" in e.value.problems[0].message
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_config_maps_lora_freezing_deepspeed_and_torchrun(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset), model="Qwen/Qwen3-VL-4B-Instruct", data={"style": "qwen3vl"},
               finetune={"type": "lora", "rank": 16, "alpha": 32, "dropout": 0.1,
                         "target_modules": ["q_proj", "v_proj"],
                         "train": {"language_model": True, "vision_tower": True, "projector": True}},
               distributed={"nnodes": 2, "nproc_per_node": 4, "node_rank": 1, "master_addr": "10.1.2.3",
                            "master_port": 29501, "deepspeed": "zero3"})
    res = export(synth_dataset, tmp_path / "lf", r)
    a = get_adapter(B)
    files = a.render_config(r, res, tmp_path / "run")
    cfg = yaml.safe_load(files["config"].read_text())
    assert cfg["template"] == "qwen3_vl_nothink" and cfg["model_name_or_path"] == "Qwen/Qwen3-VL-4B-Instruct"
    assert (cfg["finetuning_type"], cfg["lora_rank"], cfg["lora_alpha"], cfg["lora_dropout"]) == ("lora", 16, 32, 0.1)
    assert cfg["lora_target"] == "q_proj,v_proj" and cfg["additional_target"] == "merger"
    assert (cfg["freeze_vision_tower"], cfg["freeze_multi_modal_projector"], cfg["freeze_language_model"]) == \
        (False, False, False)
    assert cfg["bf16"] is False and cfg["fp16"] is False          # device: cpu
    assert cfg["max_steps"] == 2 and cfg["logging_steps"] == 1 and cfg["dataset"] == "gui_sft"
    assert cfg["dataset_dir"] == str(tmp_path / "lf") and cfg["image_max_pixels"] > 10 ** 12
    assert json.loads(Path(cfg["deepspeed"]).read_text())["zero_optimization"]["stage"] == 3
    spec = a.command(r, res, tmp_path / "run", "/py")
    assert spec.argv == ["/py", "-m", "llamafactory.cli", "train", str(files["config"])]
    assert {k: spec.env[k] for k in ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR",
                                     "MASTER_PORT")} == {"FORCE_TORCHRUN": "1", "NNODES": "2", "NODE_RANK": "1",
                                                         "NPROC_PER_NODE": "4", "MASTER_ADDR": "10.1.2.3",
                                                         "MASTER_PORT": "29501"}


def test_defaults_overrides_and_single_process(synth_dataset, tmp_path):
    r = recipe(str(synth_dataset), backends={B: {"overrides": {"cutoff_len": 4096, "flash_attn": "sdpa"}}})
    res = export(synth_dataset, tmp_path / "lf", r)
    cfg = yaml.safe_load(get_adapter(B).render_config(r, res, tmp_path / "run")["config"].read_text())
    assert cfg["template"] == "qwen2_vl" and cfg["lora_target"] == "all" and "additional_target" not in cfg
    assert (cfg["freeze_vision_tower"], cfg["freeze_multi_modal_projector"], cfg["freeze_language_model"]) == \
        (True, True, False)
    assert cfg["cutoff_len"] == 4096 and cfg["flash_attn"] == "sdpa"
    assert "FORCE_TORCHRUN" not in get_adapter(B).command(r, res, tmp_path / "run", "py").env


def test_model_view_carries_the_recipe_pixel_bounds(synth_dataset, tiny_model_dir, tmp_path):
    r = recipe(str(synth_dataset), model=str(tiny_model_dir), data={"max_pixels": 28 * 28 * 6})
    res = export(synth_dataset, tmp_path / "lf", r)
    cfg = yaml.safe_load(get_adapter(B).render_config(r, res, tmp_path / "run")["config"].read_text())
    view = Path(cfg["model_name_or_path"])
    assert view == tmp_path / "run" / "model_view"
    pre = json.loads((view / "preprocessor_config.json").read_text())
    assert (pre["min_pixels"], pre["max_pixels"]) == (3136, 4704)
    assert pre["size"] == {"shortest_edge": 3136, "longest_edge": 4704}
    assert (view / "model.safetensors").is_symlink() and (view / "model.safetensors").resolve() == \
        (tiny_model_dir / "model.safetensors").resolve()
    # the model's own bounds: no view needed
    r2 = recipe(str(synth_dataset), model=str(tiny_model_dir))
    res2 = export(synth_dataset, tmp_path / "lf2", r2)
    cfg2 = yaml.safe_load(get_adapter(B).render_config(r2, res2, tmp_path / "run2")["config"].read_text())
    assert cfg2["model_name_or_path"] == str(tiny_model_dir)
    # an export made for other bounds is never rendered with this recipe's
    with pytest.raises(BridgeError, match="re-export"):
        get_adapter(B).render_config(r2, res, tmp_path / "run3")


# ----------------------------------------------------------------------------------------------- real backend

@pytest.fixture(scope="module")
def lf_python() -> str:
    st = envs.status(B)
    if st.state != "ok":
        msg = f"the LLaMA-Factory environment is {st.state} ({st.path}); install it with `bridge env install {B}`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(st.python)


@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_synthetic(lf_python, synth_dataset, tiny_model_dir, tmp_path):
    r = recipe(str(synth_dataset), model=str(tiny_model_dir))
    res = export(synth_dataset, tmp_path / "lf", r)
    v = run_check(B, tmp_path / "lf")
    assert v.ok, v.summary()
    rep = v.report
    assert rep["loaded"] == rep["samples_in"] == res.samples and rep["dropped"] == []
    from bridge.images import image_size

    want = {(270, 540): PHONE_TOKENS, (640, 400): DESKTOP_TOKENS}
    assert {t for s in rep["samples"] for t in s["image_tokens"]} == {PHONE_TOKENS, DESKTOP_TOKENS}
    for s in rep["samples"]:
        assert s["image_tokens"] == [want[image_size(p)] for p in s["images"]]
        assert s["placeholders"] == len(s["images"])
    first = rows(res.files["train"])[0]["messages"]
    assert rep["first"]["target"] == first[2]["content"] + "<|im_end|>\n"
    assert rep["first"]["prompt"].startswith("<|im_start|>system\n" + first[0]["content"][:40])
    assert rep["first"]["prompt"].endswith("<|vision_end|><|im_end|>\n<|im_start|>assistant\n")


@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_imported_seed_steps_and_recipe_pixels(lf_python, tiny_model_25_dir, tmp_path):
    from bridge.importers import import_dataset

    seed = Path(__file__).parent / "fixtures" / "importers" / "seed-steps"
    import_dataset("seed-steps", seed, tmp_path / "ds")
    # max_pixels 28*28*6 = 4704 < the model's 12544: LF must follow the recipe (through the model view)
    r = recipe(str(tmp_path / "ds"), model=str(tiny_model_25_dir), data={"max_pixels": 4704, "style": "qwen25vl"})
    res = export(tmp_path / "ds", tmp_path / "lf", r)
    v = run_check(B, tmp_path / "lf", recipe=r)
    assert v.ok, v.summary()
    assert v.report["loaded"] == res.samples > 0 and v.report["dropped"] == []
    from bridge.frames import image_tokens
    from bridge.images import image_size

    for s in v.report["samples"]:
        for path, got in zip(s["images"], s["image_tokens"]):
            w, h = image_size(path)
            assert got == image_tokens(h, w, 28, 3136, 4704) < image_tokens(h, w, 28, 3136, 12544)


@pytest.mark.backend(B)
@pytest.mark.slow
def test_check_reports_a_drop(lf_python, synth_dataset, tiny_model_dir, tmp_path):
    r = recipe(str(synth_dataset), model=str(tiny_model_dir))
    res = export(synth_dataset, tmp_path / "lf", r)
    data = rows(res.files["train"])
    data[1]["messages"] = data[1]["messages"][:-1]          # no assistant turn: LF skips it silently
    res.files["train"].write_text("".join(json.dumps(d) + "\n" for d in data))
    v = run_check(B, tmp_path / "lf")
    assert not v.ok and v.report["loaded"] == res.samples - 1
    assert [d["id"] for d in v.report["dropped"]] == [data[1]["id"]]


@pytest.mark.backend(B)
@pytest.mark.slow
def test_smoke_run(lf_python, synth_dataset, tmp_path):
    rec = {"name": "smoke", "model": "tiny:qwen2_vl",
           "data": {"train": str(synth_dataset), "style": "qwen2vl", "history": 2},
           "finetune": {"type": "lora", "rank": 8, "alpha": 16}, "train": {"max_steps": 50},
           "backends": {B: {"python": lf_python}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(rec))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--backend", B,
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text() if (run_dir / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["backend"] == B and record["versions"]["llamafactory"] == "0.9.5"
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and all(math.isfinite(m["loss"]) for m in metrics)
    adapter = run_dir / "output" / "adapter_model.safetensors"
    assert adapter.stat().st_size > 0
    assert json.loads((run_dir / "output" / "adapter_config.json").read_text())["r"] == 8
    cfg = yaml.safe_load((run_dir / "llamafactory_sft.yaml").read_text())
    assert cfg["max_steps"] == 2 and cfg["bf16"] is False
