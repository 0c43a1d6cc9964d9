"""Export launcher: runs INSIDE a backend environment (imports torch, transformers and — for LoRA — peft).

    python -m bridge.backends.export_merge --request REQUEST.json

The request (written by :func:`bridge.export.export_run`) names the trained ``source`` (a PEFT adapter or a
full model directory), its ``kind`` (``lora`` | ``full``), the ``base`` model, the output directory ``out``
(empty, created by the caller), ``merge`` (fold the LoRA weights into the base), the directories to take the
processor from in order, and the pixel bounds the model was trained with. It writes into ``out``:

* the model: merged weights (``merge``), the adapter files (LoRA, no merge) or the full model's weights;
* the processor (tokenizer, chat template, image processor with the training pixel bounds, also as the separate
  ``preprocessor_config.json`` older readers and vLLM look for) and ``generation_config.json``.

A ``layout: verl-fsdp`` source is verl's ``global_step_<n>/actor`` checkpoint: verl's own model merger
(``python -m verl.model_merger merge --backend fsdp``, this interpreter = the verl environment) first gathers the
FSDP shards into a Hugging Face directory, with a LoRA run's adapter beside it in ``lora_adapter/``; that directory
is then the base (and the adapter the source) of the steps above.

The last stdout line is ``BRIDGE_EXPORT_RESULT <json>`` (files written, dtype, parameter count).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

WEIGHT_SUFFIXES = (".safetensors", ".bin")
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")


def load_processor(dirs: list[str]):
    """The first directory's processor that loads (the run's output usually has one; else the base model's)."""
    from transformers import AutoProcessor

    errors = []
    for d in dirs:
        try:
            return AutoProcessor.from_pretrained(d), d
        except Exception as e:   # a directory without processor files: try the next one
            errors.append(f"{d}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise SystemExit("error: no loadable processor in " + "; ".join(errors))


def set_pixels(processor, min_pixels: int | None, max_pixels: int | None) -> None:
    """Image processor bounds = what the model was trained with (the smart_resize the coordinates assume)."""
    ip = getattr(processor, "image_processor", None)
    if ip is None or not (min_pixels or max_pixels):
        return
    size = dict(ip.size) if getattr(ip, "size", None) is not None else {}
    if min_pixels:
        size["shortest_edge"] = int(min_pixels)
    if max_pixels:
        size["longest_edge"] = int(max_pixels)
    ip.size = size if isinstance(getattr(ip, "size", None), dict) or ip.size is None else type(ip.size)(**size)
    for key, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value and hasattr(ip, key):
            setattr(ip, key, int(value))


def save_processor(processor, out: Path, base: str, min_pixels, max_pixels) -> None:
    processor.save_pretrained(str(out))
    ip = getattr(processor, "image_processor", None)
    if ip is not None:   # transformers 5 nests it in processor_config.json; older readers want the separate file
        ip.save_pretrained(str(out))
        path = out / "preprocessor_config.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if min_pixels:
                data["min_pixels"] = int(min_pixels)
            if max_pixels:
                data["max_pixels"] = int(max_pixels)
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    vp = getattr(processor, "video_processor", None)
    if vp is not None:
        try:
            vp.save_pretrained(str(out))
        except Exception:   # a processor without a savable video part: images are what GUI agents need
            pass
    if not has_chat_template(out):
        src = Path(base) / "chat_template.jinja"
        if src.is_file():
            shutil.copy2(src, out / "chat_template.jinja")
    if not has_chat_template(out):
        raise SystemExit(f"error: neither the run's output nor the base model {base} has a chat template")


def has_chat_template(d: Path) -> bool:
    if (d / "chat_template.jinja").is_file() or (d / "chat_template.json").is_file():
        return True
    for name in ("tokenizer_config.json", "processor_config.json"):
        p = d / name
        if p.is_file() and json.loads(p.read_text(encoding="utf-8")).get("chat_template"):
            return True
    return False


def verl_merge(actor: Path, work: Path) -> tuple[Path, Path | None]:
    """verl's merger on an FSDP actor checkpoint -> (Hugging Face model dir, PEFT adapter dir or None)."""
    proc = subprocess.run([sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp",
                           "--local_dir", str(actor), "--target_dir", str(work)], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise SystemExit(f"error: verl's model merger failed on {actor} (exit code {proc.returncode}):\n{tail}")
    adapter = work / "lora_adapter"
    if not (adapter / "adapter_config.json").is_file():
        return work, None
    # verl's merger names the adapter's targets by their last part (q_proj, gate_proj, ...; base_model_merger.py
    # save_lora_adapter) and drops exclude_modules, so PEFT would also wrap the vision tower's gate/up/down_proj:
    # target exactly the modules the adapter has weights for
    from safetensors import safe_open

    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as f:
        names = sorted({k.split(".lora_")[0].removeprefix("base_model.model.") for k in f.keys() if ".lora_" in k})
    cfg_path = adapter / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg.update(target_modules="^(?:" + "|".join(re.escape(n) for n in names) + ")$", exclude_modules=None)
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    return work, adapter


def export(req: dict[str, Any]) -> dict[str, Any]:
    import torch

    src, base, out = Path(req["source"]), req["base"], Path(req["out"])
    result: dict[str, Any] = {"kind": req["kind"], "merged": False}
    work = None
    if req.get("layout") == "verl-fsdp":
        work = out.with_name(out.name + ".verl-merged")
        shutil.rmtree(work, ignore_errors=True)
        merged, adapter = verl_merge(src, work)
        result["verl_merger"] = {"lora_adapter": adapter is not None}
        # verl's merged weights are the base; the adapter (if any) is what the steps below fold in or copy
        base, src = str(merged), (adapter or merged)
        req = {**req, "processor_from": [str(merged), *req["processor_from"]]}
    try:
        return _export(req, src, base, out, result, torch)
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def _export(req: dict[str, Any], src: Path, base: str, out: Path, result: dict[str, Any], torch) -> dict[str, Any]:
    if req["kind"] == "lora" and req["merge"]:
        from peft import PeftModel
        import transformers
        from transformers import AutoModelForImageTextToText

        # transformers 5 names it `dtype`; 4.x (VLM-R1's pinned 4.49) `torch_dtype`, which 4.49 passes on to the
        # model's __init__ when spelled `dtype`
        key = "torch_dtype" if transformers.__version__.split(".")[0] == "4" else "dtype"
        model = AutoModelForImageTextToText.from_pretrained(base, **{key: "auto"})
        model = PeftModel.from_pretrained(model, str(src))
        model = model.merge_and_unload()      # LoRA folded into the base weights; modules_to_save swapped in
        model.save_pretrained(str(out))
        result.update(merged=True, dtype=str(next(model.parameters()).dtype).replace("torch.", ""),
                      params=int(sum(p.numel() for p in model.parameters())))
        del model
    elif req["kind"] == "lora":
        for name in ADAPTER_FILES:
            if (src / name).is_file():
                shutil.copy2(src / name, out / name)
    else:
        for f in src.iterdir():
            if f.is_file() and (f.name in MODEL_FILES or (f.suffix in WEIGHT_SUFFIXES and not f.name.startswith(
                    ("training_args", "optimizer", "scheduler", "rng_state", "adapter_")))):
                shutil.copy2(f, out / f.name)
    if not (out / "generation_config.json").is_file() and (Path(base) / "generation_config.json").is_file():
        shutil.copy2(Path(base) / "generation_config.json", out / "generation_config.json")
    processor, proc_dir = load_processor(req["processor_from"])
    set_pixels(processor, req.get("min_pixels"), req.get("max_pixels"))
    save_processor(processor, out, base, req.get("min_pixels"), req.get("max_pixels"))
    result["processor_from"] = proc_dir
    result["files"] = sorted(p.name for p in out.iterdir())
    result["torch"] = torch.__version__
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="gui-bridge export (runs inside a backend environment)")
    parser.add_argument("--request", required=True)
    ns = parser.parse_args(argv)
    req = json.loads(Path(ns.request).read_text(encoding="utf-8"))
    result = export(req)
    print("BRIDGE_EXPORT_RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
