"""LLaMA-Factory: metrics from the Trainer's ``trainer_state.json`` ``log_history`` (exact loss, grad norm, lr)
merged by step with LLaMA-Factory's own ``trainer_log.jsonl`` (``current_steps``, ``elapsed_time`` -> step time,
``throughput`` -> tokens/s when token counting is on). Settings from LLaMA-Factory's saved ``training_args.bin``,
the YAML it was given and what it printed (``Found linear modules: ...``, ``trainable params: ...``)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

from ..logs import (Parsed, find_training_args, hf_row, hf_settings, hms_seconds, leaf_names, merge_by_step, number,
                   read_config, read_jsonl, state_history, world_size)

CONFIG = "llamafactory_sft.yaml"


def parse(run_dir: Path) -> Parsed:
    run_dir = Path(run_dir)
    out = Parsed()
    output = run_dir / "output"
    state = [r for r in (hf_row(h) for h in state_history(output, out)) if r is not None and "step" in r]
    log = lf_rows(read_jsonl(output / "trainer_log.jsonl", out)) if (output / "trainer_log.jsonl").is_file() else []
    out.rows = merge_by_step(state, log)
    return out


def lf_rows(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """LLaMA-Factory's ``trainer_log.jsonl`` rows in the normalised vocabulary (step time from elapsed time)."""
    rows: list[dict[str, Any]] = []
    prev_step, prev_t = 0, 0.0
    for raw in raws:
        step = number(raw.get("current_steps"))
        if step is None or not any(k in raw for k in ("loss", "eval_loss")):
            continue                       # the end-of-training row repeats the last step without a loss
        row: dict[str, Any] = {"step": int(step)}
        for src, dst in (("loss", "loss"), ("lr", "lr"), ("epoch", "epoch"), ("eval_loss", "eval/loss"),
                         ("throughput", "tokens_per_s")):
            v = number(raw.get(src))
            if v is not None:
                row[dst] = v
        t = hms_seconds(raw.get("elapsed_time"))
        if t is not None and "loss" in row:
            if row["step"] > prev_step:
                row["step_time"] = (t - prev_t) / (row["step"] - prev_step)
            prev_step, prev_t = row["step"], t
        rows.append(row)
    return rows


_LINEAR = re.compile(r"Found linear modules: ([\w,]+)")
_TRAINABLE = re.compile(r"trainable params: ([\d,]+) \|\| all params: ([\d,]+)")


def settings(run_dir: Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    cfg = read_config(run_dir / CONFIG) or {}
    args = find_training_args(run_dir / "output") or cfg
    out: dict[str, Any] = {"source": "training_args.bin" if args.get("_class") else CONFIG, "method": "sft"}
    model = cfg.get("model_name_or_path")
    if model:   # the adapter's run-local "model_view" (symlinks + rewritten pixel bounds) stands for its source
        link = Path(model) / "config.json"
        out["model"] = str(link.resolve().parent) if Path(model).name == "model_view" and link.is_symlink() else model
    out.update(hf_settings(args, world_size(record)))
    ft = cfg.get("finetuning_type")
    if ft:
        out["finetune"] = ft
    log = _text(run_dir / "backend.log")
    if ft == "lora":
        out.update(lora_rank=cfg.get("lora_rank"), lora_alpha=cfg.get("lora_alpha"),
                   lora_dropout=cfg.get("lora_dropout"))
        found = _LINEAR.findall(log)
        out["lora_targets"] = leaf_names(found[-1] if found and cfg.get("lora_target") == "all"
                                         else cfg.get("lora_target"))
    parts = {"vision_tower": not cfg.get("freeze_vision_tower", True),
             "projector": not cfg.get("freeze_multi_modal_projector", True),
             "language_model": not cfg.get("freeze_language_model", False)}
    out["trains"] = sorted(k for k, v in parts.items() if v)
    out["frozen"] = sorted(k for k, v in parts.items() if not v)
    m = _TRAINABLE.findall(log)
    if m:
        out["trainable_params"] = f"{int(m[-1][0].replace(',', '')) / 1e6:.4f}M"
    if cfg.get("cutoff_len") is not None:
        out["max_length"] = cfg["cutoff_len"]
    lo, hi = _processor_pixels(cfg.get("model_name_or_path"))
    # LLaMA-Factory pre-resizes into [image_min_pixels, image_max_pixels] before the processor's own bounds
    pre_lo, pre_hi = number(cfg.get("image_min_pixels")), number(cfg.get("image_max_pixels"))
    if hi is not None or pre_hi is not None:
        out["max_pixels"] = int(min(x for x in (hi, pre_hi) if x is not None))
    if lo is not None or pre_lo is not None:
        out["min_pixels"] = int(max(x for x in (lo, pre_lo) if x is not None))
    return out


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _processor_pixels(model: Any) -> tuple[Optional[float], Optional[float]]:
    if not isinstance(model, str):
        return None, None
    try:
        pp = json.loads((Path(model) / "preprocessor_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    size = pp.get("size") or {}
    return (number(pp.get("min_pixels") or size.get("shortest_edge")),
            number(pp.get("max_pixels") or size.get("longest_edge")))
