"""bridge export: a real TRL smoke run's LoRA adapter merged in the TRL environment, then loaded with transformers
in the core environment and used to generate; the merged weights equal W + (alpha/r)·B·A computed by hand from
the adapter file; the processor keeps the training pixel bounds and the chat template; the vllm command matches.
Input errors need no backend and always run."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge import envs
from bridge.export import serve_command

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def trl_run(tmp_path_factory, synth_dataset):
    st = envs.status("trl")
    if st.state != "ok":
        msg = f"the TRL environment is {st.state} ({st.path}); install it with `bridge env install trl`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    tmp = tmp_path_factory.mktemp("export")
    recipe = {"name": "exp", "model": "tiny:qwen2_5_vl",
              "data": {"train": str(synth_dataset), "style": "gui-r1", "history": 2},
              "method": "sft", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
              "train": {"lr": 5e-3, "max_steps": 2}, "backends": {"trl": {"python": str(st.python)}}}
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    env = {**os.environ, "BRIDGE_HOME": str(tmp / "home")}
    p = _cli("run", path, "--smoke", "--runs-dir", tmp / "runs", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return next((tmp / "runs").iterdir()), env


@pytest.mark.backend("trl")
@pytest.mark.slow
def test_merged_lora_loads_and_generates(trl_run, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText, AutoProcessor

    run_dir, env = trl_run
    out = tmp_path / "merged"
    p = _cli("export", run_dir, "--out", out, "--merge-lora", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    record = json.loads((run_dir / "run.json").read_text())
    base_dir = Path(record["recipe"]["model"])
    cmd = p.stdout.strip().splitlines()[-1]
    assert shlex.split(cmd) == ["vllm", "serve", str(out), "--served-model-name", "exp", "--limit-mm-per-prompt",
                                '{"image": 1, "video": 0}', "--mm-processor-kwargs",
                                '{"min_pixels": 3136, "max_pixels": 12544}']
    assert {"config.json", "model.safetensors", "chat_template.jinja", "preprocessor_config.json",
            "tokenizer.json", "bridge_export.json"} <= {f.name for f in out.iterdir()}
    pre = json.loads((out / "preprocessor_config.json").read_text())
    assert (pre["min_pixels"], pre["max_pixels"]) == (3136, 12544)
    assert pre["size"] == {"shortest_edge": 3136, "longest_edge": 12544}

    # merged = base + (alpha / r) * B @ A, checked on one adapted module from the files themselves
    adapter = load_file(str(run_dir / "output" / "adapter_model.safetensors"))
    base, merged = load_file(str(base_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    key = next(k for k in adapter if k.endswith("layers.0.self_attn.q_proj.lora_A.weight"))
    # (checkpoints keep the serialized names: model.layers.* for the language model)
    name = next(k for k in base if k.endswith("layers.0.self_attn.q_proj.weight") and "visual" not in k)
    a, b = adapter[key], adapter[key.replace("lora_A", "lora_B")]
    assert b.abs().max() > 0                                   # training moved the adapter
    expect = base[name] + (16 / 8) * (b @ a)
    assert torch.allclose(merged[name], expect, atol=1e-6) and not torch.equal(merged[name], base[name])
    assert not any("lora" in k for k in merged)

    # a plain transformers load + generate, in the core environment (no peft here)
    processor = AutoProcessor.from_pretrained(str(out))
    model = AutoModelForImageTextToText.from_pretrained(str(out), dtype=torch.float32).eval()
    from PIL import Image

    image = Image.new("RGB", (270, 540), "white")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Tap the search box."}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    assert int((inputs["input_ids"] == 151655).sum()) == 10    # 270x540 -> 10 image tokens at these bounds
    with torch.inference_mode():
        gen = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] == inputs["input_ids"].shape[1] + 5


@pytest.mark.backend("trl")
@pytest.mark.slow
def test_adapter_export_serves_on_the_base(trl_run, tmp_path):
    run_dir, env = trl_run
    out = tmp_path / "adapter"
    p = _cli("export", run_dir, "--out", out, "--json", env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(p.stdout)
    assert res["kind"] == "lora" and res["merged"] is False
    assert {"adapter_config.json", "adapter_model.safetensors", "chat_template.jinja"} <= {f.name for f in out.iterdir()}
    assert res["serve"][:4] == ["vllm", "serve", res["base"], "--enable-lora"]
    assert res["serve"][res["serve"].index("--lora-modules") + 1] == f"exp={out}"
    again = _cli("export", run_dir, "--out", out, env=env)        # never overwrites
    assert again.returncode == 2 and "already exists" in again.stderr


def test_serve_command_shapes():
    assert serve_command("/m", name="n", images=2, min_pixels=None, max_pixels=1000) == [
        "vllm", "serve", "/m", "--served-model-name", "n", "--limit-mm-per-prompt", '{"image": 2, "video": 0}',
        "--mm-processor-kwargs", '{"max_pixels": 1000}']
    lora = serve_command("base", name="n", images=1, min_pixels=1, max_pixels=2, lora="/a", lora_rank=12)
    assert lora[lora.index("--max-lora-rank") + 1] == "16" and "--served-model-name" not in lora


def test_export_input_errors(tmp_path):
    p = _cli("export", tmp_path, "--out", tmp_path / "o")
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr
    run = tmp_path / "run"
    (run / "output").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"backend": "swift", "status": "ok", "output_dir": str(run / "output")}))
    p = _cli("export", run, "--out", tmp_path / "o")
    assert p.returncode == 2 and "no trained model or adapter" in p.stderr and "(run status: ok)" in p.stderr
    assert not (tmp_path / "o").exists()
