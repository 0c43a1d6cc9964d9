"""A transformers-4 view of a model directory saved by transformers 5 (the tiny models of :mod:`bridge.tiny`).

VLM-R1 pins transformers 4.49.0 (its setup.py), which reads the published Qwen2-VL / Qwen2.5-VL layout: text settings
at the top of config.json (transformers 5 nests them under ``text_config``), ``rope_scaling`` = ``{"type": "mrope",
"mrope_section": …}``, the tokenizer's extra special tokens as ``additional_special_tokens`` (transformers 5 writes a
list under ``extra_special_tokens``, which 4.49 reads as a dict), the chat template in ``tokenizer_config.json`` and
``chat_template.json`` (5 writes ``chat_template.jinja``), no nested ``processor_config.json``. The weights already
carry the published tensor names (transformers 5 saves them so), so they are linked, not copied. Pure JSON: runs on
the host, before the launch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

#: transformers 4.49's model classes; VLM-R1 picks the class by these names in the path
#: (src/open_r1/vlm_modules/qwen_module.py:17-22), so the view's folder is named after the family
NAMES = {"qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL"}


def needs_view(model: str) -> bool:
    """A local directory whose config.json was written by transformers >= 5 with a nested ``text_config``."""
    cfg = Path(model) / "config.json"
    if not cfg.is_file():
        return False
    c = json.loads(cfg.read_text(encoding="utf-8"))
    return "text_config" in c and str(c.get("transformers_version", "")).split(".")[0] not in ("", "4")


def _json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_view(model: str, out: Path) -> Path:
    """Write ``out/<Qwen2-VL|Qwen2.5-VL>-<name>``: the transformers-4 files of ``model``; returns that folder."""
    src = Path(model)
    c = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if c.get("model_type") not in NAMES:
        raise ValueError(f"{src}: model_type {c.get('model_type')!r} has no transformers-4 layout here")
    dst = Path(out) / f"{NAMES[c['model_type']]}-{src.name}"
    dst.mkdir(parents=True, exist_ok=True)
    text = dict(c.pop("text_config"))
    rope = text.pop("rope_parameters", None) or {}
    flat = {**{k: v for k, v in text.items() if k not in ("model_type", "layer_types", "dtype")}, **c}
    if "mrope_section" in rope:
        flat["rope_scaling"] = {"type": "mrope", "mrope_section": rope["mrope_section"]}
    flat["rope_theta"] = rope.get("rope_theta", flat.get("rope_theta", 1e6))
    flat["torch_dtype"] = flat.pop("dtype", "float32")
    vision = {k: v for k, v in flat["vision_config"].items() if k not in ("rope_parameters", "dtype")}
    flat.update(vision_config=vision, transformers_version="4.49.0")
    _json(dst / "config.json", flat)
    tok = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    extra = tok.pop("extra_special_tokens", None)
    if isinstance(extra, list):
        tok["additional_special_tokens"] = extra
    tok.pop("backend", None)
    template = (src / "chat_template.jinja").read_text(encoding="utf-8") \
        if (src / "chat_template.jinja").is_file() else tok.get("chat_template")
    if template:
        tok["chat_template"] = template
        _json(dst / "chat_template.json", {"chat_template": template})
    _json(dst / "tokenizer_config.json", tok)
    for name in ("model.safetensors", "tokenizer.json", "generation_config.json", "preprocessor_config.json"):
        if (src / name).is_file() and not (dst / name).exists():
            os.symlink((src / name).resolve(), dst / name)
    return dst
