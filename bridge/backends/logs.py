"""Metrics and resolved settings read from each backend's OWN logs and dumps, in one vocabulary, and the helpers
the per-backend parsers (``bridge/backends/<name>/logs.py``) share: tolerant JSON Lines, console dict lines, the
Hugging Face ``log_history`` row vocabulary, a safe reader of ``training_args.bin`` and row merging.

Per step (``metrics.jsonl`` rows, what ``bridge compare`` plots): ``step``, ``loss``, ``reward``,
``reward/<component>``, ``kl``, ``lr``, ``grad_norm``, ``samples_per_s``, ``tokens_per_s``, ``step_time`` (s, as
the backend measures it; ``run.json["step_clock"]`` has the one definition for every backend), ``host_mem_mb``
(the trainer process's peak RSS) and ``gpu_mem_mb`` (the device's peak), plus ``epoch``, ``entropy``, ``reward_std`` and ``eval/<metric>`` where the backend logs them.
A key a backend does not report is absent (never 0).

Settings (``run.json["effective"]``, what ``bridge compare`` diffs): ``lr``, ``scheduler``, ``warmup``,
``effective_batch``, ``max_steps``/``epochs``, ``precision``, ``seed``, optimizer fields (``weight_decay``,
``adam_beta1/2``, ``max_grad_norm``), ``finetune``, ``lora_rank``/``lora_alpha``/``lora_dropout``,
``lora_targets`` (module leaf names as the backend resolved them), ``trains``/``frozen`` (model parts),
``trainable_params``, ``min_pixels``/``max_pixels``, ``max_length`` and the GRPO fields (``num_generations``,
``beta``, ``temperature``, ``max_completion_length``, ``loss_type``, ...). They are read back from what the backend
received or resolved (its saved TrainingArguments, ``args.json``, its own log lines), not from the recipe.

A backend's ``logs.py`` exposes ``parse(run_dir) -> Parsed`` and ``settings(run_dir, record) -> dict``; the adapter
finds it in its own package (:meth:`bridge.backends.base.Adapter.parse_run`).

Every parser returns a :class:`Parsed`: normalised rows plus located warnings for what it could not read (a
half-written last line, a garbage line) — nothing is skipped silently, nothing raises on a backend's log.
"""
from __future__ import annotations

import ast
import io
import json
import math
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from ..errors import BridgeError

#: the normalised per-step vocabulary (``reward/<component>`` and ``eval/<name>`` come on top)
METRIC_KEYS = ("step", "loss", "reward", "kl", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "step_time",
               "host_mem_mb", "gpu_mem_mb")


@dataclass
class Parsed:
    """Rows in the normalised vocabulary (sorted by step), the files they came from and located warnings."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def world_size(record: Optional[dict[str, Any]]) -> int:
    """Processes of a run from its record (recipe.distributed), 1 when unknown."""
    d = ((record or {}).get("recipe") or {}).get("distributed") or {}
    try:
        return max(1, int(d.get("nnodes") or 1) * int(d.get("nproc_per_node") or 1))
    except (TypeError, ValueError):
        return 1


def merge_effective(intended: dict[str, Any], resolved: dict[str, Any]) -> dict[str, Any]:
    """Recipe-level settings overlaid with the backend's read-back ones (which win)."""
    return {**intended, **resolved}


def number(v: Any) -> Optional[float]:
    """A finite float from a log value (numbers, numeric strings such as TRL's console ``'11.87'``), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def read_jsonl(path: Path, out: Parsed) -> list[dict[str, Any]]:
    """Objects of a JSON Lines file; unreadable lines become warnings (``file:line: ...``)."""
    rows: list[dict[str, Any]] = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        out.warnings.append(f"{path}: unreadable ({e.strerror or e})")
        return rows
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            last = i == len(lines) and not text.endswith("\n")
            out.warnings.append(f"{path}:{i}: " + ("incomplete last line (the backend was still writing it or was "
                                                   "stopped)" if last else "not valid JSON; line skipped"))
            continue
        if isinstance(obj, dict):
            rows.append(obj)
        else:
            out.warnings.append(f"{path}:{i}: not a JSON object; line skipped")
    out.sources.append(str(path))
    return rows


_DICT_RE = re.compile(r"(\{'[^{}]*\})\s*$")


def console_dicts(path: Path, out: Parsed) -> list[dict[str, Any]]:
    """The ``{'loss': '11.87', ...}`` dicts the Hugging Face Trainer prints after its progress bar (values are
    rounded strings there: a last resort when no structured log exists)."""
    rows = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return rows
    for line in text.splitlines():
        m = _DICT_RE.search(line.replace("\r", "\n").rsplit("\n", 1)[-1])
        if not m:
            continue
        try:
            d = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            continue
        if isinstance(d, dict):
            rows.append(d)
    if rows:
        out.sources.append(str(path))
    return rows


def component(name: str) -> str:
    """Reward component name as every backend reports it: the bridge's ``bridge_`` function prefix removed."""
    return name[len("bridge_"):] if name.startswith("bridge_") else name


_HF_RENAMES = {"loss": "loss", "grad_norm": "grad_norm", "learning_rate": "lr", "lr": "lr", "kl": "kl",
               "reward": "reward", "reward_std": "reward_std", "entropy": "entropy", "epoch": "epoch",
               "mean_token_accuracy": "token_acc", "token_acc": "token_acc"}


def renamed(raw: dict[str, Any], renames: dict[str, str], keep_tokens: bool = False) -> dict[str, Any]:
    """The numeric values of one logged row in the normalised vocabulary: ``renames`` for plain keys,
    ``rewards/<c>/mean`` as ``reward/<c>``, ``eval_<k>`` as ``eval/<k>`` (timings left out) and, with
    ``keep_tokens``, the cumulative ``num_tokens`` as ``_num_tokens`` (for :func:`add_token_rates`)."""
    row: dict[str, Any] = {}
    for k, v in raw.items():
        x = number(v)
        if x is None:
            continue
        if k in renames:
            row[renames[k]] = x
        elif k.startswith("rewards/") and k.endswith("/mean"):
            row["reward/" + component(k[len("rewards/"):-len("/mean")])] = x
        elif k.startswith("eval_") and k not in ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second"):
            row["eval/" + k[len("eval_"):]] = x
        elif keep_tokens and k == "num_tokens":
            row["_num_tokens"] = x
    return row


def is_step_row(row: dict[str, Any]) -> bool:
    """Whether a normalised row is a training step (loss or reward) or an evaluation."""
    return any(k in row for k in ("loss", "reward")) or any(k.startswith("eval/") for k in row)


def hf_row(raw: dict[str, Any]) -> Optional[dict[str, Any]]:
    """One Hugging Face ``log_history`` row (TRL, LLaMA-Factory and ms-swift share it) in the normalised
    vocabulary, or None for rows that are not per-step training/eval rows (the end-of-training summary).

    ``rewards/<c>/mean`` becomes ``reward/<c>``; ``eval_<k>`` becomes ``eval/<k>``; the cumulative ``num_tokens``
    is kept as ``_num_tokens`` for :func:`add_token_rates`."""
    if "train_runtime" in raw or "train_loss" in raw:
        return None
    row = renamed(raw, _HF_RENAMES, keep_tokens=True)
    if not is_step_row(row):
        return None
    step = number(raw.get("step"))
    if step is not None:
        row["step"] = int(step)
    return row


def add_token_rates(rows: list[dict[str, Any]]) -> None:
    """``tokens_per_s`` from the cumulative ``num_tokens`` and the per-step ``step_time``, then drop the helper key.

    A row comes every ``logging_steps`` steps, so its token delta spans all the steps since the previous row while
    ``step_time`` is the mean time of one of them (bridge/backends/trl/launcher.py ``metrics_callback``): the rate
    is tokens per step over seconds per step. A row whose step does not follow the previous one (a resumed run
    logging its steps again) or whose count went down (restarted at 0) gives no rate and becomes the new base."""
    prev_tokens, prev_step = 0.0, 0
    for r in rows:
        tokens = r.pop("_num_tokens", None)
        if tokens is None:
            continue
        step = r.get("step")
        if step is None:
            continue
        if r.get("step_time") and step > prev_step and tokens >= prev_tokens:
            r["tokens_per_s"] = (tokens - prev_tokens) / (step - prev_step) / r["step_time"]
        prev_tokens, prev_step = tokens, step


def merge_by_step(*sources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge row lists by ``step`` (earlier sources win on a key both have); rows without a step are dropped by
    the callers before. Sorted by step."""
    merged: dict[int, dict[str, Any]] = {}
    for rows in sources:
        for r in rows:
            target = merged.setdefault(int(r["step"]), {"step": int(r["step"])})
            for k, v in r.items():
                target.setdefault(k, v)
    return [merged[s] for s in sorted(merged)]


def state_history(output_dir: Path, out: Parsed) -> list[dict[str, Any]]:
    """``log_history`` of ``trainer_state.json`` in ``output_dir`` or its newest checkpoint."""
    cands = [output_dir / "trainer_state.json"] + sorted(output_dir.glob("checkpoint-*/trainer_state.json"),
                                                         key=lambda p: p.stat().st_mtime, reverse=True)
    for p in cands:
        if p.is_file():
            try:
                hist = json.loads(p.read_text(encoding="utf-8")).get("log_history")
            except (OSError, ValueError) as e:
                out.warnings.append(f"{p}: unreadable ({e})")
                continue
            if isinstance(hist, list):
                out.sources.append(str(p))
                return [h for h in hist if isinstance(h, dict)]
    return []


def hms_seconds(text: Any) -> Optional[float]:
    """``"0:01:05"`` / ``"1 day, 0:00:02"`` / ``"12s"`` / ``"3m 2s"`` (LLaMA-Factory / ms-swift elapsed times)."""
    if not isinstance(text, str):
        return number(text)
    s = text.strip()
    days = 0
    m = re.match(r"(\d+) days?, (.*)", s)
    if m:
        days, s = int(m.group(1)), m.group(2)
    if re.fullmatch(r"\d+(?::\d+){1,2}(?:\.\d+)?", s):
        total = 0.0
        for part in s.split(":"):
            total = total * 60 + float(part)
        return days * 86400 + total
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", s)
    if parts and re.fullmatch(r"(?:\s*\d+(?:\.\d+)?\s*[dhms])+\s*", s):
        return days * 86400 + sum(float(n) * units[u] for n, u in parts)
    return None


def read_config(path: Path) -> Optional[Any]:
    """A JSON (``.json``) or YAML file as data; None when absent or unparsable."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        if path.suffix == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except Exception:
        return None


# -- training_args.bin ------------------------------------------------------------------------------------------

class _Stub:
    """Stands in for any class named in the pickle: records constructor args and state, imports nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:   # never import: no code from the file runs
        return type(name, (_Stub,), {"module": module})

    def persistent_load(self, pid: Any) -> None:            # tensor storages: not needed for arguments
        return None


def _plain(v: Any) -> Any:
    if isinstance(v, _Stub):
        if getattr(v, "args", None) and len(v.args) == 1 and isinstance(v.args[0], (str, int, float)):
            return v.args[0]                                  # an Enum member: its value
        return _plain(getattr(v, "state", None))
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)


def training_args(path: Path) -> Optional[dict[str, Any]]:
    """The fields of a ``training_args.bin`` (``torch.save`` of a TrainingArguments subclass) as plain values,
    read without torch, transformers or executing anything; None when absent or unreadable. Adds ``_class``."""
    try:
        raw = Path(path).read_bytes()
    except OSError:
        return None
    try:
        if raw[:2] == b"PK":
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                name = next(n for n in z.namelist() if n.endswith("data.pkl"))
                raw = z.read(name)
        obj = _SafeUnpickler(io.BytesIO(raw)).load()
    except Exception:   # any malformed file: treated as absent (callers fall back to the rendered config)
        return None
    state = getattr(obj, "state", None)
    if not isinstance(state, dict):
        return None
    out = _plain(state)
    out["_class"] = type(obj).__name__
    return out


def find_training_args(output_dir: Path) -> Optional[dict[str, Any]]:
    """``training_args.bin`` of the output dir, else of its newest checkpoint."""
    out = Path(output_dir)
    cands = [out / "training_args.bin"] + sorted(out.glob("checkpoint-*/training_args.bin"),
                                                 key=lambda p: _ckpt_num(p.parent), reverse=True)
    for p in cands:
        if p.is_file():
            args = training_args(p)
            if args:
                return args
    return None


def _ckpt_num(p: Path) -> int:
    try:
        return int(p.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def precision_of(args: dict[str, Any]) -> Optional[str]:
    """``bf16`` / ``fp16`` / ``fp32`` from TrainingArguments-like flags."""
    if "bf16" not in args and "fp16" not in args:
        return None
    return "bf16" if args.get("bf16") else "fp16" if args.get("fp16") else "fp32"


def hf_settings(args: dict[str, Any], world_size: Optional[int] = None) -> dict[str, Any]:
    """Normalised settings from TrainingArguments fields (TRL configs, LLaMA-Factory, ms-swift args.json)."""
    g = args.get
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if value is not None:
            out[key] = value

    put("lr", g("learning_rate"))
    put("scheduler", g("lr_scheduler_type"))
    if "warmup_ratio" in args or "warmup_steps" in args:   # transformers 5: warmup_steps < 1 is a ratio
        put("warmup", g("warmup_ratio") or g("warmup_steps") or 0)
    pdb, acc = g("per_device_train_batch_size"), g("gradient_accumulation_steps")
    put("per_device_batch", pdb)
    put("grad_accum", acc)
    if pdb and acc:
        put("effective_batch", int(pdb) * int(acc) * int(world_size or 1))
    ms = g("max_steps")
    put("max_steps", ms if isinstance(ms, int) and ms > 0 else None)
    if not (isinstance(ms, int) and ms > 0):
        put("epochs", g("num_train_epochs"))
    put("precision", precision_of(args))
    for k in ("seed", "weight_decay", "adam_beta1", "adam_beta2", "max_grad_norm", "optim"):
        put(k, g(k))
    put("gradient_checkpointing", g("gradient_checkpointing"))
    for k in ("num_generations", "beta", "temperature", "top_p", "max_completion_length", "loss_type", "epsilon",
              "epsilon_high", "scale_rewards"):
        put(k, g(k))
    if "reward_weights" in args:
        put("reward_weights", g("reward_weights"))
    return out


_LEAF_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def leaf_names(targets: Any) -> Optional[list[str]]:
    """LoRA targets as the sorted set of module leaf names (``q_proj``, ...): from a list of full or leaf names,
    from ``'a,b'``, or from a PEFT regex such as ``^(model\\.language_model(?=\\.).*\\.(k_proj|q_proj))$``.
    Unresolved wildcards (``all-linear``, ``all``) are returned as given."""
    if targets is None:
        return None
    if isinstance(targets, str):
        if targets in ("all", "all-linear"):
            return [targets]
        if any(c in targets for c in "^$()|\\"):
            group = re.findall(r"\(([A-Za-z0-9_|]+)\)\)?\$?\)?$", targets) or re.findall(r"\(([A-Za-z0-9_|]+)\)", targets)
            names = group[-1].split("|") if group else []
            return sorted(set(names)) or [targets]
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    if isinstance(targets, (list, tuple)):
        if list(targets) in (["all-linear"], ["all"]):
            return list(targets)
        return sorted({str(t).rsplit(".", 1)[-1] for t in targets})
    return None


def hf_plan(args: dict[str, Any], world_size: int, generations: int) -> dict[str, Any]:
    """What an adapter's ``read_config`` returns, from TrainingArguments-style keys (TRL, LLaMA-Factory, ms-swift,
    VLM-R1): the optimiser, schedule, seed and precision, prompts/completions per optimiser step (the per-device
    batch counts completions: ``generations`` per prompt, 1 for SFT) and the GRPO sampling/loss settings."""
    completions = args["per_device_train_batch_size"] * args["gradient_accumulation_steps"] * world_size
    out = {"lr": args["learning_rate"], "scheduler": args["lr_scheduler_type"],
           "warmup": args.get("warmup_ratio", args.get("warmup_steps")), "seed": args["seed"],
           "precision": "bf16" if args["bf16"] else "fp16" if args["fp16"] else "fp32",
           "completions_per_step": completions, "prompts_per_step": completions // generations,
           "grad_accum": args["gradient_accumulation_steps"],
           **{k: args[k] for k in ("weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm")}}
    if generations > 1:
        out.update({k: args[k] for k in ("num_generations", "beta", "epsilon", "temperature",
                                         "max_completion_length")})
        out["top_p"] = args.get("top_p", 1.0)
        out["top_k"] = args.get("top_k") or 0    # 0 = the whole vocabulary (TRL's default)
        if "loss_type" in args:
            out["loss_type"] = args["loss_type"]
        # one generation round per optimiser step, each completion used once
        if (args.get("steps_per_generation", args["gradient_accumulation_steps"]), args.get("num_iterations", 1)) \
                != (args["gradient_accumulation_steps"], 1):
            raise BridgeError(f"the config generates every {args.get('steps_per_generation')} micro-steps and reuses "
                              f"completions {args.get('num_iterations')} times; expected one round per optimiser step")
    return out
