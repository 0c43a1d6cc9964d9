"""TRL: metrics from ``trainer_log.jsonl`` (every Trainer log row as the bridge launcher received it, plus the
launcher's ``step_time``, ``samples``, ``peak_mem_mb`` (RSS) and ``peak_gpu_mem_mb``), else the Trainer's ``trainer_state.json``
``log_history``, else the rounded dicts TRL printed to ``backend.log``. Settings from the ``training_args.bin``
TRL saved (its resolved SFTConfig/GRPOConfig), ``trl_resolved.json`` (LoRA targets, trainable parts, processor
size as the launcher found them on the live objects) and the rendered ``trl_config.yaml``."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..logs import (Parsed, add_token_rates, console_dicts, find_training_args, hf_row, hf_settings, leaf_names,
                   merge_by_step, number, read_config, read_jsonl, state_history, world_size)

LOG = "trainer_log.jsonl"
RESOLVED = "trl_resolved.json"
CONFIG = "trl_config.yaml"


def parse(run_dir: Path) -> Parsed:
    run_dir = Path(run_dir)
    out = Parsed()
    numbered = True
    if (run_dir / LOG).is_file():
        raws = read_jsonl(run_dir / LOG, out)
    else:
        raws = state_history(run_dir / "output", out)
        if not raws:
            raws = console_dicts(run_dir / "backend.log", out)
            numbered = False
            if raws:
                out.warnings.append(f"{run_dir / 'backend.log'}: no {LOG}; metrics read from the console "
                                    "(rounded values, steps numbered by log row)")
    out.rows = rows_from(raws, numbered)
    return out


def rows_from(raws: list[dict[str, Any]], numbered: bool = True) -> list[dict[str, Any]]:
    rows = []
    for raw in raws:
        row = hf_row(raw)
        if row is None:
            continue
        if not numbered:
            row["step"] = len(rows) + 1
        elif "step" not in row:
            continue
        st = number(raw.get("step_time"))
        if st:
            row["step_time"] = st
            samples = number(raw.get("samples"))
            if samples:
                row["samples_per_s"] = samples / st
        # the trainer process's peak RSS and, where the launcher reports one, the GPU's peak: two columns
        if number(raw.get("peak_mem_mb")) is not None:
            row["host_mem_mb"] = number(raw["peak_mem_mb"])
        if number(raw.get("peak_gpu_mem_mb")):
            row["gpu_mem_mb"] = number(raw["peak_gpu_mem_mb"])
        rows.append(row)
    add_token_rates(rows)
    return merge_by_step(rows)


def settings(run_dir: Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    run_dir = Path(run_dir)
    cfg = read_config(run_dir / CONFIG) or {}
    res = read_config(run_dir / RESOLVED) or {}
    args = find_training_args(run_dir / "output") or res.get("args") or cfg.get("args") or {}
    out: dict[str, Any] = {"source": "training_args.bin" if args.get("_class") else CONFIG}
    if cfg.get("model"):
        out["model"] = cfg["model"]
    if cfg.get("method") or res.get("method"):
        out["method"] = cfg.get("method") or res.get("method")
    out.update(hf_settings(args, world_size(record)))
    ft = cfg.get("finetune") or {}
    if ft.get("type"):
        out["finetune"] = ft["type"]
        if ft["type"] == "lora":
            out.update(lora_rank=ft.get("rank"), lora_alpha=ft.get("alpha"), lora_dropout=ft.get("dropout"))
            out["lora_targets"] = leaf_names(res.get("lora_targets") or ft.get("target_modules"))
    parts = res.get("train_parts") or ft.get("train")
    if isinstance(parts, dict):
        out["trains"] = sorted(k for k, v in parts.items() if v)
        out["frozen"] = sorted(k for k, v in parts.items() if not v)
    if res.get("trainable_params") is not None:
        out["trainable_params"] = f"{res['trainable_params'] / 1e6:.4f}M"
    size = res.get("processor_size") or {}
    proc = cfg.get("processor") or {}
    lo = size.get("shortest_edge") or size.get("min_pixels") or proc.get("min_pixels")
    hi = size.get("longest_edge") or size.get("max_pixels") or proc.get("max_pixels")
    if lo:
        out["min_pixels"] = int(lo)
    if hi:
        out["max_pixels"] = int(hi)
    if res.get("reward_funcs"):
        out["rewards"] = [r[len("bridge_"):] if r.startswith("bridge_") else r for r in res["reward_funcs"]]
    return out
