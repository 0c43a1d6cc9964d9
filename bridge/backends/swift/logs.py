"""ms-swift: metrics from its ``logging.jsonl`` (``global_step/max_steps``, ``train_speed(s/it)`` -> step time,
``memory(GiB)`` -> peak memory on GPU, ``rewards/<Func>/mean`` for GRPO). Settings from ``args.json``, the
fully resolved arguments ms-swift dumps into its output directory, and the ``lora_config`` / ``model_parameter_info``
lines it prints."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from ..logs import (Parsed, hf_settings, is_step_row, leaf_names, merge_by_step, number, read_config, read_jsonl,
                   renamed, world_size)

CONFIGS = ("swift_sft.yaml", "swift_grpo.yaml")   # what bridge rendered for `swift sft` / `swift rlhf`
_RENAMES = {"loss": "loss", "grad_norm": "grad_norm", "learning_rate": "lr", "kl": "kl", "reward": "reward",
            "reward_std": "reward_std", "entropy": "entropy", "epoch": "epoch", "token_acc": "token_acc"}


def _newest(output: Path, name: str) -> Optional[Path]:
    """``output/<name>``, else the newest ``output/v*-*/<name>`` (ms-swift's add_version layout)."""
    if (output / name).is_file():
        return output / name
    found = sorted(output.glob(f"*/{name}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def parse(run_dir: Path) -> Parsed:
    out = Parsed()
    path = _newest(Path(run_dir) / "output", "logging.jsonl")
    if path is not None:
        out.rows = swift_rows(read_jsonl(path, out))
    return out


def swift_rows(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ms-swift ``logging.jsonl`` rows in the normalised vocabulary (summary rows dropped)."""
    rows = []
    for raw in raws:
        if "train_runtime" in raw or "log_history" in raw:
            continue
        row = renamed(raw, _RENAMES)
        if not is_step_row(row):
            continue
        step = str(raw.get("global_step/max_steps", "")).split("/")[0]
        if not step.isdigit():
            continue
        row["step"] = int(step)
        speed = number(raw.get("step_time")) or number(raw.get("train_speed(s/it)"))   # GRPO logs its own
        if speed:
            row["step_time"] = speed
        elif number(raw.get("train_speed(iter/s)")):
            row["step_time"] = 1.0 / number(raw["train_speed(iter/s)"])
        mem = number(raw.get("memory(GiB)"))   # torch's max reserved *device* memory (swift/trainers/patcher.py)
        if mem is not None:
            row["gpu_mem_mb"] = mem * 1024.0
        rows.append(row)
    return merge_by_step(rows)


_LORA_TARGETS = re.compile(r"lora_config: LoraConfig\(.*?target_modules=('(?:[^'\\]|\\.)*'|\{[^}]*\}|\[[^\]]*\])")
_TRAINABLE = re.compile(r"model_parameter_info: .*?([\d.]+)M Params \(([\d.]+)M Trainable")


def settings(run_dir: Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    name = next((c for c in CONFIGS if (run_dir / c).is_file()), CONFIGS[0])
    cfg = read_config(run_dir / name) or {}
    path = _newest(run_dir / "output", "args.json")
    args = (read_config(path) if path else None) or cfg
    grpo = args.get("rlhf_type") == "grpo" or name == "swift_grpo.yaml"
    out: dict[str, Any] = {"source": "args.json" if path else name, "method": "grpo" if grpo else "sft"}
    if args.get("model"):
        out["model"] = args["model"]
    out.update(hf_settings(args, world_size(record)))
    for k in ("temperature", "top_p", "beta", "num_generations", "max_completion_length", "loss_type"):
        if out["method"] != "grpo":
            out.pop(k, None)          # sampling fields of the args dump mean nothing for SFT
    ft = args.get("tuner_type") or args.get("train_type")
    if ft:
        out["finetune"] = ft
    log = ""
    try:
        log = (run_dir / "backend.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        pass
    if ft == "lora":
        out.update(lora_rank=args.get("lora_rank"), lora_alpha=args.get("lora_alpha"),
                   lora_dropout=args.get("lora_dropout"))
        m = _LORA_TARGETS.findall(log)
        resolved = m[-1].strip("'").replace("\\\\", "\\") if m else None
        out["lora_targets"] = leaf_names(resolved or args.get("target_regex") or args.get("target_modules"))
    parts = {"vision_tower": not args.get("freeze_vit", True), "projector": not args.get("freeze_aligner", True),
             "language_model": not args.get("freeze_llm", False)}
    out["trains"] = sorted(k for k, v in parts.items() if v)
    out["frozen"] = sorted(k for k, v in parts.items() if not v)
    t = _TRAINABLE.findall(log)
    if t:
        out["trainable_params"] = f"{float(t[-1][1]):.4f}M"   # ms-swift prints millions, 4 decimals
    if args.get("max_length") is not None:
        out["max_length"] = args["max_length"]
    env = {**((record or {}).get("env") or {}), **(cfg.get("ENV") or {})}
    for key, name in (("min_pixels", "MIN_PIXELS"), ("max_pixels", "MAX_PIXELS")):
        v = number(args.get(key)) or number(env.get(name))
        if v is not None:
            out[key] = int(v)
    return out
