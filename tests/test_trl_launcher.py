"""The TRL launcher's model-side mapping (part classification, LoRA targets, freezing) on the tiny Qwen2-VL,
checked against the module names of the real architecture. Runs in the project env (torch, no trl needed)."""
from __future__ import annotations

import pytest

from bridge.backends.trl.launcher import freeze_parts, lora_targets, part_of


def test_part_of_qwen_vl_names():
    assert part_of("model.visual.blocks.0.attn.qkv") == "vision_tower"
    assert part_of("model.visual.patch_embed.proj.weight") == "vision_tower"
    assert part_of("model.visual.merger.mlp.0") == "projector"
    assert part_of("model.language_model.layers.1.self_attn.q_proj") == "language_model"
    assert part_of("model.language_model.embed_tokens.weight") == "language_model"
    assert part_of("lm_head") == "head" and part_of("lm_head.weight") == "head"


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from transformers import AutoModelForImageTextToText

    return AutoModelForImageTextToText.from_pretrained(tiny_model_dir)


def test_lora_targets_follow_the_training_parts(model):
    lm = lora_targets(model, {"language_model": True}, "all-linear")
    # 2 layers x (q, k, v, o, gate, up, down); never lm_head
    assert len(lm) == 14 and all(".language_model.layers." in t for t in lm)
    vit = lora_targets(model, {"vision_tower": True}, "all-linear")
    assert vit and all(".visual.blocks." in t for t in vit)
    proj = lora_targets(model, {"projector": True}, "all-linear")
    assert proj and all(".visual.merger." in t for t in proj)
    both = lora_targets(model, {"language_model": True, "vision_tower": True, "projector": True}, "all-linear")
    assert sorted(both) == sorted(lm + vit + proj)


def test_explicit_target_modules_are_suffixes_within_training_parts(model):
    t = lora_targets(model, {"language_model": True}, ["q_proj", "v_proj"])
    assert sorted(t) == sorted(f"model.language_model.layers.{i}.self_attn.{m}" for i in (0, 1)
                               for m in ("q_proj", "v_proj"))
    assert lora_targets(model, {"language_model": True}, ["qkv"]) == []     # ViT-only name, ViT frozen


def test_full_finetuning_freezes_the_parts_that_do_not_train(model):
    import copy

    m = copy.deepcopy(model)
    freeze_parts(m, {"language_model": True, "vision_tower": False, "projector": True})
    trainable = {part_of(n) for n, p in m.named_parameters() if p.requires_grad}
    frozen = {part_of(n) for n, p in m.named_parameters() if not p.requires_grad}
    assert trainable <= {"language_model", "projector", "head"} and "projector" in trainable
    assert frozen == {"vision_tower"}
