"""verl: metrics from its tracking output — the ``console`` logger's lines ``step:N - key:value - ...`` (numpy
scalars print as ``np.float64(x)``; under Ray the lines carry a ``(TaskRunner pid=...)`` prefix) in
``backend.log``, or the ``file`` logger's JSON Lines ``{"step": N, "data": {...}}`` when the run has one.
Settings from the Hydra ``key=value`` overrides verl was launched with."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import yaml

from ..logs import Parsed, component, leaf_names, merge_by_step, number, read_jsonl

FILE_LOG = "verl_metrics.jsonl"
_STEP = re.compile(r"(?:^|[\s)])step:(\d+) - (.*)$")
_VALUE = re.compile(r"^(?:np\.\w+\((.*)\)|(.*))$")

# first present source wins
_MAP: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("loss", ("actor/loss", "actor/pg_loss"), 1.0),
    ("reward", ("critic/score/mean", "critic/rewards/mean"), 1.0),
    ("kl", ("actor/kl_loss", "actor/reward_kl_penalty"), 1.0),
    ("lr", ("actor/lr",), 1.0),
    ("grad_norm", ("actor/grad_norm",), 1.0),
    ("entropy", ("actor/entropy",), 1.0),
    ("step_time", ("timing_s/step", "perf/time_per_step"), 1.0),
    ("gpu_mem_mb", ("actor/perf/max_memory_allocated_gb", "perf/max_memory_allocated_gb"), 1024.0),
)


def console_values(text: str) -> dict[str, float]:
    """``key:value`` pairs of one console line's tail (non-numeric values dropped)."""
    out = {}
    for part in text.split(" - "):
        key, sep, value = part.partition(":")
        if not sep:
            continue
        m = _VALUE.match(value.strip())
        x = number((m.group(1) or m.group(2)) if m else None)
        if x is not None:
            out[key.strip()] = x
    return out


def verl_row(step: int, data: dict[str, Any]) -> Optional[dict[str, Any]]:
    """One logged metrics dict in the normalised vocabulary."""
    vals = {k: number(v) for k, v in data.items()}
    vals = {k: v for k, v in vals.items() if v is not None}
    row: dict[str, Any] = {"step": step}
    for dst, srcs, scale in _MAP:
        for s in srcs:
            if s in vals:
                row[dst] = vals[s] * scale
                break
    tokens, t = vals.get("perf/total_num_tokens"), vals.get("perf/time_per_step") or vals.get("timing_s/step")
    if tokens and t:
        row["tokens_per_s"] = tokens / t
    for k, v in vals.items():
        m = (re.fullmatch(r"gdpo/(.+)/mean", k) or re.fullmatch(r"reward_extra/(.+)/mean", k)
             or re.fullmatch(r"reward/(.+)", k))
        if m:
            row["reward/" + component(m.group(1))] = v
        m = re.fullmatch(r"val-(?:core|aux)/[^/]+/(.+)/mean@\d+", k)
        if m:
            row["eval/" + ("reward" if m.group(1) in ("reward", "score") else m.group(1))] = v
    return row if len(row) > 1 else None


def parse(run_dir: Path) -> Parsed:
    run_dir = Path(run_dir)
    out = Parsed()
    rows = []
    if (run_dir / FILE_LOG).is_file():
        for r in read_jsonl(run_dir / FILE_LOG, out):
            if isinstance(r.get("data"), dict) and number(r.get("step")) is not None:
                row = verl_row(int(r["step"]), r["data"])
                if row:
                    rows.append(row)
    else:
        try:
            text = (run_dir / "backend.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            m = _STEP.search(line)
            if m:
                row = verl_row(int(m.group(1)), console_values(m.group(2)))
                if row:
                    rows.append(row)
        if rows:
            out.sources.append(str(run_dir / "backend.log"))
    out.rows = merge_by_step(rows)
    return out


#: Hydra override key -> normalised setting
_OVERRIDES = {
    "actor_rollout_ref.model.path": "model", "actor_rollout_ref.actor.optim.lr": "lr",
    "data.train_batch_size": "effective_batch", "actor_rollout_ref.actor.ppo_mini_batch_size": "mini_batch",
    "trainer.total_training_steps": "max_steps", "trainer.total_epochs": "epochs",
    "actor_rollout_ref.rollout.n": "num_generations", "actor_rollout_ref.actor.kl_loss_coef": "beta",
    "actor_rollout_ref.rollout.temperature": "temperature", "actor_rollout_ref.rollout.top_p": "top_p",
    "data.max_response_length": "max_completion_length", "data.max_prompt_length": "max_prompt_length",
    "actor_rollout_ref.actor.loss_agg_mode": "loss_agg_mode", "actor_rollout_ref.actor.clip_ratio": "epsilon",
    "actor_rollout_ref.actor.clip_ratio_low": "epsilon", "actor_rollout_ref.actor.clip_ratio_high": "epsilon_high",
    "actor_rollout_ref.actor.use_kl_loss": "use_kl_loss", "actor_rollout_ref.actor.optim.lr_scheduler_type": "scheduler",
    "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio": "warmup",
    "actor_rollout_ref.model.enable_gradient_checkpointing": "gradient_checkpointing",
    "actor_rollout_ref.actor.fsdp_config.dtype": "dtype", "actor_rollout_ref.model.lora_rank": "lora_rank",
    "actor_rollout_ref.model.lora_alpha": "lora_alpha", "actor_rollout_ref.model.target_modules": "lora_targets",
    "actor_rollout_ref.model.exclude_modules": "lora_exclude", "actor_rollout_ref.rollout.name": "rollout",
    "actor_rollout_ref.actor.optim.weight_decay": "weight_decay", "actor_rollout_ref.actor.grad_clip": "max_grad_norm",
    "algorithm.adv_estimator": "adv_estimator", "trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node",
    "data.seed": "seed", "data.mm_processor_kwargs.min_pixels": "min_pixels",
    "data.mm_processor_kwargs.max_pixels": "max_pixels",
}


def scalar(text: str) -> Any:
    """A Hydra override value: int, float (``1e-6`` too, which YAML 1.1 reads as a string), else YAML, else text."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def settings(run_dir: Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    argv = [a for a in ((record or {}).get("command") or []) if isinstance(a, str)]
    over = {}
    for a in argv:
        key, sep, value = a.lstrip("+").partition("=")
        if sep and key in _OVERRIDES:
            over[_OVERRIDES[key]] = scalar(value)
    if not over:
        return {}
    out: dict[str, Any] = {"source": "command overrides", "method": "grpo", **over}
    if "lora_targets" in out:
        out["lora_targets"] = leaf_names(out["lora_targets"])
    if over.get("lora_rank"):
        out["finetune"] = "lora"
    elif "lora_rank" in over:
        out["finetune"] = "full"
        out.pop("lora_rank")
        out.pop("lora_alpha", None)
    if out.pop("use_kl_loss", True) is False:          # no KL term at all, whatever kl_loss_coef says
        out["beta"] = 0.0
    if isinstance(over.get("effective_batch"), int):   # prompts per step -> completions, as TRL counts them
        out["prompts_per_step"] = over["effective_batch"]
        out["effective_batch"] = over["effective_batch"] * int(over.get("num_generations") or 1)
    return out
