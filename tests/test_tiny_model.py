"""bridge.tiny / `bridge tiny-model`: the tiny Qwen-VL models load, tokenize, template and generate on CPU."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from bridge.errors import BridgeError  # noqa: E402
from bridge.frames import image_tokens, smart_resize  # noqa: E402

# The real Qwen2-VL / Qwen2.5-VL added-token ids (tokenizer_config.json of the published checkpoints).
REAL_IDS = {
    "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647, "<|box_start|>": 151648, "<|box_end|>": 151649, "<|quad_start|>": 151650,
    "<|quad_end|>": 151651, "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655, "<|video_pad|>": 151656, "<tool_call>": 151657, "</tool_call>": 151658,
    "<|fim_prefix|>": 151659, "<|fim_middle|>": 151660, "<|fim_suffix|>": 151661, "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663, "<|file_sep|>": 151664,
}


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir), AutoModelForImageTextToText.from_pretrained(tiny_model_dir)


def test_files_and_config(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "preprocessor_config.json", "video_preprocessor_config.json", "chat_template.jinja"} <= names
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model_type"] == "qwen2_vl" and config["architectures"] == ["Qwen2VLForConditionalGeneration"]
    assert config["text_config"]["vocab_size"] == 151936 and config["text_config"]["hidden_size"] == 64
    assert config["text_config"]["num_hidden_layers"] == 2 and config["vision_config"]["depth"] == 2
    assert (config["image_token_id"], config["video_token_id"]) == (151655, 151656)
    pre = json.loads((tiny_model_dir / "preprocessor_config.json").read_text())
    assert (pre["min_pixels"], pre["max_pixels"]) == (3136, 12544)
    assert pre["size"] == {"shortest_edge": 3136, "longest_edge": 12544}
    video = json.loads((tiny_model_dir / "video_preprocessor_config.json").read_text())
    assert video["video_processor_type"] == "Qwen2VLVideoProcessor"
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [151645, 151643] and gen["pad_token_id"] == 151643
    assert 30e6 < (tiny_model_dir / "model.safetensors").stat().st_size < 60e6


def test_special_tokens_keep_real_ids(loaded):
    tok = loaded[0].tokenizer
    assert {t: tok.convert_tokens_to_ids(t) for t in REAL_IDS} == REAL_IDS
    assert len(tok) == 151665
    assert (tok.eos_token, tok.pad_token, tok.pad_token_id) == ("<|im_end|>", "<|endoftext|>", 151643)
    ids = tok("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>")["input_ids"]
    assert ids[0] == 151644 and ids[-1] == 151645 and ids[ids.index(151652):ids.index(151652) + 3] == [
        151652, 151655, 151653]
    # Trained byte-level BPE: round-trips any text, splits digits one by one like Qwen2's pre-tokenizer.
    text = '{"action": "click", "point": [240, 498]} <think>é ok</think>'
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.tokenize("[240, 498]") == ["[", "2", "4", "0", ",", "Ġ", "4", "9", "8", "]"]
    assert max(tok(text)["input_ids"]) < 2048  # ordinary text never lands on a filler or special id


def test_chat_template_renders_qwen2vl_format(loaded):
    proc = loaded[0]
    conversation = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Open Mail", "image": None}]},
        {"role": "assistant", "content": [{"type": "text", "text": "click(10, 20)"}]},
        {"role": "user", "content": "next"},
    ]
    expected = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Open Mail<|im_end|>\n"
                "<|im_start|>assistant\nclick(10, 20)<|im_end|>\n"
                "<|im_start|>user\nnext<|im_end|>\n"
                "<|im_start|>assistant\n")
    assert proc.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False) == expected
    with_system = [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": [{"type": "image"}, {"type": "image"}, {"type": "text", "text": "?"}]}]
    assert proc.tokenizer.apply_chat_template(with_system, tokenize=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|><|vision_start|><|image_pad|><|vision_end|>?<|im_end|>\n")


@pytest.mark.parametrize("step,size,tokens", [(1, (270, 540), 10), (0, (640, 400), 15)])
def test_generate_on_a_synthetic_screenshot(loaded, synth_dataset, step, size, tokens):
    import torch
    from PIL import Image

    from bridge.dataset import open_dataset
    from bridge.tiny import MAX_PIXELS, MIN_PIXELS

    proc, model = loaded
    episode = [ep for ep in open_dataset(synth_dataset) if ep.steps[0].width == size[0]][0]
    shot = episode.steps[step]
    image = Image.open(synth_dataset / shot.screenshot).convert("RGB")
    assert image.size == size
    assert image_tokens(size[1], size[0], 28, MIN_PIXELS, MAX_PIXELS) == tokens  # hand-computed above
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": episode.instruction}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = proc(text=[text], images=[image], return_tensors="pt")
    ids = inputs["input_ids"][0]
    assert int((ids == 151655).sum()) == tokens
    h, w = inputs["image_grid_thw"][0].tolist()[1:]
    assert (h * 14, w * 14) == smart_resize(size[1], size[0], 28, MIN_PIXELS, MAX_PIXELS)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert out.shape == (1, ids.shape[0] + 6)
    assert torch.equal(out[0, : ids.shape[0]], ids)
    assert isinstance(proc.batch_decode(out[:, ids.shape[0]:])[0], str)


@pytest.mark.parametrize("fixture,cls,factor,system", [
    ("tiny_model_25_dir", "Qwen2_5_VL", 28, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"),
    ("tiny_model_3_dir", "Qwen3VL", 32, ""),
], ids=["qwen2_5_vl", "qwen3_vl"])
def test_other_archs_load_and_generate(request, synth_dataset, fixture, cls, factor, system):
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from bridge.tiny import PIXELS

    model_dir = request.getfixturevalue(fixture)
    proc = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    assert type(model).__name__ == f"{cls}ForConditionalGeneration" and type(proc).__name__ == f"{cls}Processor"
    assert {t: proc.tokenizer.convert_tokens_to_ids(t) for t in REAL_IDS} == REAL_IDS
    arch = json.loads((model_dir / "config.json").read_text())["model_type"]
    assert PIXELS[arch][1] == factor
    if arch == "qwen3_vl":
        assert [proc.tokenizer.convert_tokens_to_ids(t) for t in ("<tool_response>", "</think>")] == [151665, 151668]
        assert proc.tokenizer.tokenize("<think>a</think>") == ["<think>", "a", "</think>"]
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "go"}]}]
    text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == system + "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>go<|im_end|>\n" \
                            "<|im_start|>assistant\n"
    for path, tokens in (("images/synth-0-00000/step_00.png", 10), ("images/synth-0-00001/step_00.png", 15)):
        image = Image.open(synth_dataset / path).convert("RGB")  # phone 270x540, desktop 640x400
        assert image_tokens(image.height, image.width, factor, *PIXELS[arch][2:]) == tokens  # hand-computed
        inputs = proc(text=[text], images=[image], return_tensors="pt")
        assert int((inputs["input_ids"][0] == 151655).sum()) == tokens
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_same_seed_same_weights(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    from bridge.tiny import build_tiny_model

    again = build_tiny_model(tmp_path / "again", arch="qwen2_vl", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "preprocessor_config.json"):
        assert (again / name).read_bytes() == (tiny_model_dir / name).read_bytes(), name
    other = build_tiny_model(tmp_path / "other", arch="qwen2_vl", seed=1)
    a, b = load_file(tiny_model_dir / "model.safetensors"), load_file(other / "model.safetensors")
    assert a.keys() == b.keys()
    key = "model.layers.0.self_attn.q_proj.weight"  # saved under the published checkpoints' key names
    assert key in a and not (a[key] == b[key]).all()


def test_errors_leave_nothing_behind(tmp_path, tiny_model_dir):
    from bridge.cli import main
    from bridge.tiny import build_tiny_model

    with pytest.raises(BridgeError, match="unknown architecture"):
        build_tiny_model(tmp_path / "x", arch="llama")
    with pytest.raises(BridgeError, match="already exists"):
        build_tiny_model(tiny_model_dir, arch="qwen2_vl")
    with pytest.raises(SystemExit) as e:
        main(["tiny-model", str(tmp_path / "y"), "--arch", "llama"])
    assert e.value.code == 2
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists() and not list(tmp_path.glob("*partial*"))


def test_one_training_step_moves_language_and_vision_weights(tiny_model_dir, synth_dataset):
    """What smoke runs rely on: a labelled forward pass gives a finite loss near ln(vocab) and gradients reach
    both the language model and the vision tower."""
    import math

    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model_dir)
    model.train()
    image = Image.open(synth_dataset / "images/synth-0-00000/step_01.png").convert("RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Tap New chat"}]},
                {"role": "assistant", "content": "click(223, 483)"}]
    text = proc.apply_chat_template(messages, tokenize=False)
    inputs = proc(text=[text], images=[image], return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[labels == 151655] = -100
    loss = model(**inputs, labels=labels).loss
    assert math.isfinite(loss.item()) and abs(loss.item() - math.log(151936)) < 1.0
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert any("visual" in n and g.abs().sum() > 0 for n, g in grads.items())
    assert any("language_model" in n and g.abs().sum() > 0 for n, g in grads.items())
