"""TRL launcher: runs INSIDE the TRL environment (imports torch, transformers, peft, trl).

    python -m bridge.backends.trl.launcher --config run_dir/trl_config.yaml
    python -m accelerate.commands.launch ... --module bridge.backends.trl.launcher --config ...   (multi-GPU/node)

Reads the config rendered by :class:`bridge.backends.trl.adapter.TrlAdapter`, loads the model and processor (processor
pixel limits = the style's frame), maps the recipe's trainable parts to LoRA targets or frozen parameters, loads
the exported JSONL (images as ``datasets.Image``: TRL does not open path strings), and runs SFTTrainer or
GRPOTrainer with bridge reward callables. Every log row goes to ``metrics_file`` (JSONL) and what was actually
resolved (targets, trainable parameters, processor size, versions) to ``resolved_file``.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.metadata as md
import json
import math
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bridge.rewards.hooks import trl_reward_funcs
from bridge.rewards.parse import completion_text

EXIT_CONFIG = 2


class ConfigProblem(Exception):
    """A configuration the launcher cannot honour (printed without a traceback, exit code 2)."""


# -- parts of a Qwen-VL style model ---------------------------------------------------------------------------

def part_of(name: str) -> str:
    """``vision_tower`` | ``projector`` | ``language_model`` | ``head`` for a parameter/module name."""
    parts = name.split(".")
    if "visual" in parts or "vision_tower" in parts or "vision_model" in parts:
        return "projector" if ("merger" in parts or "multi_modal_projector" in parts) else "vision_tower"
    if "multi_modal_projector" in parts:
        return "projector"
    if parts[0] == "lm_head" or name.endswith("lm_head"):
        return "head"
    return "language_model"


def lora_targets(model, train: dict[str, bool], target_modules: Any) -> list[str]:
    """Full names of the Linear modules that get LoRA: in a training part, matching ``target_modules``."""
    import torch

    wanted = None if target_modules == "all-linear" else list(target_modules)
    out = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        part = part_of(name)
        if part == "head" or not train.get(part, False):
            continue
        if wanted is not None and not any(name == t or name.endswith("." + t) for t in wanted):
            continue
        out.append(name)
    return out


def freeze_parts(model, train: dict[str, bool]) -> None:
    """Full fine-tuning: parameters of parts that do not train get requires_grad=False (the head follows the LM)."""
    for name, p in model.named_parameters():
        part = part_of(name)
        p.requires_grad_(train.get("language_model" if part == "head" else part, False))


# -- data -----------------------------------------------------------------------------------------------------

def load_split(path: str):
    import datasets

    ds = datasets.load_dataset("json", data_files=path, split="train")
    if "images" in ds.column_names:
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
    return ds


# -- rewards --------------------------------------------------------------------------------------------------

def reward_funcs(specs: list[dict[str, Any]], smoke: bool) -> tuple[list, list[float]]:
    """TRL reward callables (bridge.rewards behind TRL's signature, one per component so TRL logs each as
    ``rewards/bridge_<key>/mean``) and their weights."""
    funcs, weights = trl_reward_funcs(specs, split=True)
    if smoke:
        funcs, weights = [*funcs, smoke_aux], [*weights, 1.0]
    return funcs, list(weights)


def smoke_aux(prompts=None, completions=None, **kwargs):
    """Smoke runs only: a dense auxiliary reward — a deterministic hash of the completion text in [0, 1) — so the
    completions of a random tiny model differ in reward, advantages are non-zero and gradients flow (every task
    reward is 0 on random text, which would make grad_norm 0 and prove nothing)."""
    return [int(hashlib.sha1(completion_text(c).encode()).hexdigest()[:8], 16) / 16 ** 8 for c in completions]


# -- logging --------------------------------------------------------------------------------------------------

def metrics_callback(path: str):
    from transformers import TrainerCallback

    class JsonlMetrics(TrainerCallback):
        """Appends every log row (+ step time and peak RSS) to the run's metrics file."""

        def __init__(self):
            self.t = time.time()
            self.step = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.t, self.step = time.time(), state.global_step   # a resumed run starts at its checkpoint's step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or not state.is_world_process_zero:
                return
            now = time.time()
            steps = max(1, state.global_step - self.step)
            row = {"step": state.global_step, **{k: _jsonable(v) for k, v in logs.items()},
                   "step_time": (now - self.t) / steps,
                   "samples": args.per_device_train_batch_size * args.gradient_accumulation_steps
                   * max(1, args.world_size),
                   "peak_mem_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            import torch
            if torch.cuda.is_available():      # the device's own peak, in its own column (never mixed with RSS)
                row["peak_gpu_mem_mb"] = torch.cuda.max_memory_reserved() / 2 ** 20
            self.t, self.step = now, state.global_step
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    return JsonlMetrics()


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    try:
        json.dumps(v)
        return v
    except TypeError:
        return str(v)


# -- main -----------------------------------------------------------------------------------------------------

def build_args(cfg: dict[str, Any], use_cpu: bool, extra: dict[str, Any] | None = None):
    from trl import GRPOConfig, SFTConfig

    cls = GRPOConfig if cfg["method"] == "grpo" else SFTConfig
    known = {f.name for f in dataclasses.fields(cls)}
    args = {**(cfg.get("args") or {}), **(extra or {})}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigProblem(f"unknown {cls.__name__} key(s) {unknown} (from backends.trl.overrides?)")
    return cls(output_dir=cfg["output_dir"], use_cpu=use_cpu, **args)


def processor_for(model: str, bounds: dict[str, Any]):
    """The model's processor with the config's pixel bounds (the resize policy's): ``size.shortest_edge`` /
    ``longest_edge`` are what transformers 5's Qwen-VL image processor resizes with. bridge/backends/trl/check.py
    builds its processor with this very function."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(model)
    if bounds.get("min_pixels") or bounds.get("max_pixels"):
        ip = processor.image_processor
        size = dict(ip.size)
        size["shortest_edge"] = int(bounds.get("min_pixels") or size["shortest_edge"])
        size["longest_edge"] = int(bounds.get("max_pixels") or size["longest_edge"])
        ip.size = type(ip.size)(**size) if not isinstance(ip.size, dict) else size
    return processor


def score_label_positions_only() -> bool:
    """Make TRL's fused LM head project only the positions that carry a label on every device, as it already
    does where Triton runs (trl/trainer/utils.py ``add_fused_lm_head``: ``compact = _use_triton(device)``).

    Without Triton (CPU) TRL projects *every* position through the 151,936-row LM head and zeroes the unlabelled
    ones afterwards: the same loss and gradients, ~3x the time of a step of the demo (docs/demo.md). Only that
    decision is patched (the kernel's own Triton/torch choice reads ``trl.kernels.chunked_logprob._use_triton``,
    untouched). Returns whether the patch applied (False on a TRL without that hook: behaviour unchanged)."""
    try:
        import trl.trainer.utils as tu
    except ImportError:
        return False
    if not hasattr(tu, "_use_triton") or not hasattr(tu, "add_fused_lm_head"):
        return False
    tu._use_triton = lambda device: True
    return True


def run(cfg: dict[str, Any]) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    device = cfg.get("device", "auto")
    use_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    if use_cpu:
        score_label_positions_only()
    processor = processor_for(cfg["model"], cfg.get("processor") or {})

    funcs, weights = reward_funcs(cfg.get("rewards") or [], bool(cfg.get("smoke"))) \
        if cfg["method"] == "grpo" else ([], [])
    args = build_args(cfg, use_cpu, {"reward_weights": weights} if funcs else None)
    dtype = torch.bfloat16 if (args.bf16 and not use_cpu) else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(cfg["model"], dtype=dtype)

    ft = cfg["finetune"]
    train_parts = {k: bool(v) for k, v in ft["train"].items()}
    peft_config, targets = None, []
    if ft["type"] == "lora":
        from peft import LoraConfig

        targets = lora_targets(model, train_parts, ft["target_modules"])
        if not targets:
            raise ConfigProblem(f"no Linear module matches finetune.target_modules={ft['target_modules']!r} in the "
                                f"parts that train ({[k for k, v in train_parts.items() if v]})")
        peft_config = LoraConfig(r=ft["rank"], lora_alpha=ft["alpha"], lora_dropout=ft["dropout"],
                                 target_modules=targets, task_type="CAUSAL_LM")
    else:
        freeze_parts(model, train_parts)

    train_ds = load_split(cfg["train_file"])
    eval_ds = load_split(cfg["eval_file"]) if cfg.get("eval_file") else None
    callbacks = [metrics_callback(cfg["metrics_file"])]

    if cfg["method"] == "grpo":
        from trl import GRPOTrainer

        trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=train_ds,
                              eval_dataset=eval_ds, processing_class=processor, peft_config=peft_config,
                              callbacks=callbacks)
    else:
        from trl import SFTTrainer

        trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=processor, peft_config=peft_config, callbacks=callbacks)

    _write_resolved(cfg, trainer, processor, targets, train_parts, use_cpu, len(train_ds))
    trainer.train(resume_from_checkpoint=cfg.get("resume_from_checkpoint"))   # set by `bridge run --resume`
    if cfg.get("save_final", True):   # the final model in OUTPUT itself, checkpoints or not: as TRL's own
        trainer.save_model(cfg["output_dir"])   # trl/scripts/sft.py and grpo.py end (`bridge eval --model RUN/output`)
        processor.save_pretrained(cfg["output_dir"])


def _write_resolved(cfg, trainer, processor, targets, train_parts, use_cpu, n_train) -> None:
    """What the backend actually resolved, read back from the live objects (for run records and conformance)."""
    model = trainer.model
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    size = getattr(processor.image_processor, "size", None)
    resolved = {
        "method": cfg["method"], "use_cpu": use_cpu, "train_samples": n_train,
        "lora_targets": targets, "train_parts": train_parts,
        "trainable_params": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "total_params": int(sum(p.numel() for p in model.parameters())),
        "trainable_parts": sorted({part_of(n.replace("base_model.model.", "", 1)) for n in trainable}),
        "processor_size": dict(size) if size is not None else None,
        "reward_funcs": list(getattr(trainer, "reward_func_names", []) or []),
        "versions": {d: md.version(d) for d in ("trl", "transformers", "peft", "torch", "accelerate", "datasets")},
    }
    if trainer.is_world_process_zero() and cfg.get("resolved_file"):
        Path(cfg["resolved_file"]).write_text(json.dumps(resolved, indent=2, default=str))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="gui-bridge TRL launcher (runs inside the TRL environment)")
    parser.add_argument("--config", required=True)
    ns = parser.parse_args(argv)
    cfg = yaml.safe_load(Path(ns.config).read_text(encoding="utf-8"))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        run(cfg)
    except ConfigProblem as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:   # Ctrl-C forwarded by `bridge run`: stop without a traceback
        print("interrupted: training stopped", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
