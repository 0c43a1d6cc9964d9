"""Metrics and resolved settings read from each backend's OWN logs and dumps, in one vocabulary.

Per step (``metrics.jsonl`` rows, what ``bridge compare`` plots): ``step``, ``loss``, ``reward``,
``reward/<component>``, ``kl``, ``lr``, ``grad_norm``, ``samples_per_s``, ``tokens_per_s``, ``step_time`` (s),
``peak_mem_mb``, plus ``epoch``, ``entropy``, ``reward_std`` and ``eval/<metric>`` where the backend logs them.
A key a backend does not report is absent (never 0).

Settings (``run.json["effective"]``, what ``bridge compare`` diffs): ``lr``, ``scheduler``, ``warmup``,
``effective_batch``, ``max_steps``/``epochs``, ``precision``, ``seed``, optimizer fields (``weight_decay``,
``adam_beta1/2``, ``max_grad_norm``), ``finetune``, ``lora_rank``/``lora_alpha``/``lora_dropout``,
``lora_targets`` (module leaf names as the backend resolved them), ``trains``/``frozen`` (model parts),
``trainable_params``, ``min_pixels``/``max_pixels``, ``max_length`` and the GRPO fields (``num_generations``,
``beta``, ``temperature``, ``max_completion_length``, ``loss_type``, ...). They are read back from what the backend
received or resolved (its saved TrainingArguments, ``args.json``, its own log lines), not from the recipe.

One module per backend (:mod:`.trl`, :mod:`.llamafactory`, :mod:`.swift`, :mod:`.verl`) exposes
``parse(run_dir) -> Parsed`` and ``settings(run_dir, record) -> dict``. VLM-R1 is a TRL GRPOTrainer fork and is
read with the TRL parser (Trainer state / console rows).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Optional

from .common import METRIC_KEYS, Parsed

PARSERS = {"trl": "bridge.logs.trl", "llamafactory": "bridge.logs.llamafactory", "swift": "bridge.logs.swift",
           "verl": "bridge.logs.verl", "vlmr1": "bridge.logs.trl"}


def _module(backend: str):
    name = PARSERS.get(backend)
    return importlib.import_module(name) if name else None


def parse_run(backend: str, run_dir: str | Path) -> Parsed:
    """Normalised per-step rows (with sources and warnings) of a run of ``backend``; empty for unknown backends."""
    mod = _module(backend)
    return mod.parse(Path(run_dir)) if mod else Parsed()


def parse_metrics(backend: str, run_dir: str | Path) -> list[dict[str, Any]]:
    """Just the rows (what :meth:`bridge.adapters.base.Adapter.parse_metrics` returns)."""
    return parse_run(backend, run_dir).rows


def world_size(record: Optional[dict[str, Any]]) -> int:
    """Processes of a run from its record (recipe.distributed), 1 when unknown."""
    d = ((record or {}).get("recipe") or {}).get("distributed") or {}
    try:
        return max(1, int(d.get("nnodes") or 1) * int(d.get("nproc_per_node") or 1))
    except (TypeError, ValueError):
        return 1


def resolved_settings(backend: str, run_dir: str | Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The settings ``backend`` actually received/resolved for this run (see the module docstring); empty when
    nothing is readable. ``source`` names where they were read."""
    mod = _module(backend)
    if mod is None:
        return {}
    try:
        out = mod.settings(Path(run_dir), record)
    except Exception as e:   # a half-written or foreign file must never break a finished run's record
        return {"source": f"unreadable: {type(e).__name__}: {e}"}
    return {k: v for k, v in out.items() if v is not None}


def finalize(run_dir: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """After a run: write ``run_dir/metrics.jsonl`` from the backend's logs and put the read-back settings into
    ``record["effective"]`` (the recipe-level values stay where the backend reports nothing). Returns the record."""
    run_dir = Path(run_dir)
    backend = str(record.get("backend", ""))
    parsed = parse_run(backend, run_dir)
    if parsed.rows:
        tmp = run_dir / ".metrics.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r) + "\n" for r in parsed.rows), encoding="utf-8")
        tmp.replace(run_dir / "metrics.jsonl")
    if parsed.warnings:
        record["metrics_warnings"] = parsed.warnings
    resolved = resolved_settings(backend, run_dir, record)
    if resolved:
        record["effective"] = merge_effective(record.get("effective") or {}, resolved)
    return record


def merge_effective(intended: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Recipe-level settings overlaid with the backend's read-back ones (which win)."""
    return {**intended, **resolved}


__all__ = ["METRIC_KEYS", "PARSERS", "Parsed", "finalize", "merge_effective", "parse_metrics", "parse_run",
           "resolved_settings", "world_size"]
