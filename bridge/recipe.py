"""Recipes: one YAML file that says what to train, on which data, how — for every backend (docs/recipes.md).

A recipe is validated in full before anything runs. :func:`load_recipe` reports *every* problem at once —
unknown keys, wrong types, inconsistent combinations — each located by file, line and dotted key path
(``grpo.rewards[1].weight``). Whether a *backend* can honour a valid recipe is a second check,
:func:`check_backend`, driven by the adapter's declared capabilities: a setting the backend cannot honour is
an error naming the backend, never a silent drop.

Relative paths (``data.train``, ``data.eval``, a local ``model`` directory, ``backends.*.python``/``root``)
resolve against the directory of the recipe file, so a recipe and its data can move together.

Minimal example::

    name: demo-sft
    model: tiny:qwen2_vl                  # a local dir, a hub id, or tiny:<arch> (built offline)
    data: {train: ../data/synth, style: qwen2vl}
    method: sft
    finetune: {type: lora, rank: 8, alpha: 16}
    train: {lr: 1.0e-4, max_steps: 2}

"The same recipe" means the same optimisation on every backend (docs/backends.md): every key reaches every backend
explicitly — optimiser (``train.weight_decay``, ``adam_beta1/2``, ``adam_epsilon``, ``max_grad_norm``), schedule,
seed, precision, GRPO loss and sampling — or the backend refuses the recipe naming itself; no backend default leaks.

Batch semantics (:func:`batch_plan`). ``train.per_device_batch`` counts *samples* per device per micro-step and
``train.grad_accum`` micro-steps make one optimiser step. For GRPO a sample is a *prompt*: each device takes
``per_device_batch`` prompts per micro-step, each with ``grpo.num_generations`` completions, so one optimiser step
sees ``per_device_batch x grad_accum x world_size`` prompts and ``num_generations`` times as many completions on
every backend (TRL/ms-swift/VLM-R1 count completions per device, verl counts prompts per step: adapters convert).
"""

from __future__ import annotations

import importlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .backends import backend_names
from .dataset import validation_problems
from .errors import BridgeError, Problem
from .families import FAMILY_NAMES, pairing_problem
from .overrides import apply_overrides, located, parse_overrides
from .rewards import build_scorer
from .textio import decode_utf8, yaml_alias_problem

TINY_PREFIX = "tiny:"
#: every model family has a tiny model (bridge/tiny.py ARCHS; tests/test_families.py holds them equal)
TINY_ARCHS = FAMILY_NAMES


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(_Strict):
    """Which canonical datasets and how the style shows a step (history window, previous screenshot, think)."""

    train: str = Field(description="canonical dataset directory (bridge import/synth output)")
    eval: Optional[str] = None
    style: str = Field(description="style name, e.g. qwen2vl, qwen25vl, gui-r1 (bridge styles)")
    history: int = Field(4, ge=0, description="previous steps described in the prompt")
    prev_image: bool = False
    think: bool = False
    min_pixels: Optional[int] = Field(None, gt=0)
    max_pixels: Optional[int] = Field(None, gt=0)
    allow_frame_mismatch: bool = Field(False, description="train a style on a model family that reads coordinates "
                                       "differently (bridge/families.py); refused unless true")

    @model_validator(mode="after")
    def _pixels(self):
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) is larger than max_pixels ({self.max_pixels})")
        return self


class TrainParts(_Strict):
    """Which parts of the VLM train. Defaults: the language model only (the common GUI-agent recipe)."""

    language_model: bool = True
    vision_tower: bool = False
    projector: bool = False

    @model_validator(mode="after")
    def _something(self):
        if not (self.language_model or self.vision_tower or self.projector):
            raise ValueError("nothing would train: enable at least one of language_model, vision_tower, projector")
        return self


class FinetuneSpec(_Strict):
    type: Literal["full", "lora"] = "lora"
    rank: int = Field(8, gt=0)
    alpha: Optional[int] = Field(None, gt=0, description="default 2 x rank")
    dropout: float = Field(0.05, ge=0, lt=1)
    train: TrainParts = Field(default_factory=TrainParts)
    #: "all-linear" (restricted to the parts that train) or explicit module names / suffixes
    target_modules: Union[Literal["all-linear"], list[str]] = "all-linear"

    @property
    def lora_alpha(self) -> int:
        return self.alpha if self.alpha is not None else 2 * self.rank

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v):
        if isinstance(v, list) and (not v or any(not s.strip() for s in v)):
            raise ValueError("target_modules must be 'all-linear' or a non-empty list of module names")
        return v


class SaveSpec(_Strict):
    strategy: Literal["end", "steps", "epoch", "no"] = "end"
    steps: Optional[int] = Field(None, gt=0)
    total_limit: Optional[int] = Field(None, gt=0)

    @model_validator(mode="after")
    def _steps(self):
        if self.strategy == "steps" and self.steps is None:
            raise ValueError("save.strategy 'steps' needs save.steps")
        return self


class TrainSpec(_Strict):
    lr: float = Field(1e-4, gt=0)
    epochs: Optional[float] = Field(None, gt=0, description="default 1 when max_steps is not set")
    max_steps: Optional[int] = Field(None, gt=0)
    per_device_batch: int = Field(1, gt=0)
    grad_accum: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    seed: int = 42
    precision: Literal["fp32", "bf16", "fp16"] = "bf16"
    gradient_checkpointing: bool = False
    max_length: Optional[int] = Field(None, gt=0, description="None = never truncate (image tokens count)")
    logging_steps: int = Field(1, gt=0)
    save: SaveSpec = Field(default_factory=SaveSpec)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # AdamW settings, passed explicitly to every backend: their own defaults differ (ms-swift 4.6: weight_decay 0.1,
    # adam_beta2 0.95; verl 0.9: weight_decay 0.01), so leaving them out would not train "the same recipe".
    weight_decay: float = Field(0.0, ge=0, description="AdamW (decoupled) weight decay")
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    adam_epsilon: float = Field(1e-8, gt=0)
    max_grad_norm: float = Field(1.0, ge=0, description="clip gradients to this global norm; 0 = no clipping")
    #: experiment trackers, each through the backend's own mechanism (bridge.tracking); [] = none
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _length(self):
        if self.epochs is not None and self.max_steps is not None:
            raise ValueError("give either epochs or max_steps, not both")
        if len(set(self.report_to)) != len(self.report_to):
            raise ValueError(f"report_to names a tracker twice: {self.report_to}")
        if self.scheduler == "constant" and self.warmup_ratio > 0:
            # transformers' "constant" ignores warmup while verl's warms up: the recipe must say which it means
            raise ValueError("scheduler 'constant' has no warmup; use 'constant_with_warmup' or warmup_ratio: 0")
        return self

    @property
    def num_epochs(self) -> float:
        return self.epochs if self.epochs is not None else 1.0


class RewardSpec(_Strict):
    """One reward component: ``{preset: gui-r1}`` or ``{name: point_in_box, weight: 1.0, options: {...}}``."""

    preset: Optional[str] = None
    name: Optional[str] = None
    weight: float = 1.0
    options: dict[str, Any] = Field(default_factory=dict)
    key: Optional[str] = Field(None, description="name of this component in logs (default: the reward name)")

    @model_validator(mode="after")
    def _one(self):
        if (self.preset is None) == (self.name is None):
            raise ValueError("give exactly one of 'preset' or 'name'")
        return self

    @property
    def label(self) -> str:
        return self.key or self.preset or self.name  # type: ignore[return-value]

    def to_spec(self) -> dict[str, Any]:
        """The entry in bridge.rewards' spec format (what reward hooks are built from)."""
        d: dict[str, Any] = {"preset": self.preset} if self.preset is not None else {"name": self.name}
        d["weight"] = self.weight
        if self.options:
            d["options"] = self.options
        if self.key:
            d["key"] = self.key
        return d


class RolloutSpec(_Strict):
    engine: Literal["hf", "vllm", "sglang"] = "hf"
    gpu_memory_utilization: float = Field(0.5, gt=0, le=1)
    tensor_parallel_size: int = Field(1, gt=0)


class GrpoSpec(_Strict):
    num_generations: int = Field(8, ge=2, description="completions per prompt (>= 2: advantages are relative)")
    beta: float = Field(0.0, ge=0, description="KL coefficient (0 = no reference model)")
    epsilon: float = Field(0.2, gt=0)
    epsilon_high: Optional[float] = Field(None, gt=0)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: Optional[int] = Field(None, ge=0, description="sample from the k likeliest tokens; 0 or unset = the "
                                 "whole vocabulary (VLM-R1: fixed at 50, see docs/backends.md)")
    max_prompt_length: Optional[int] = Field(None, gt=0, description="counts image tokens; None = no limit")
    max_completion_length: int = Field(256, gt=0)
    loss_type: str = Field("grpo", description="policy-loss aggregation (grpo, dapo, dr_grpo, bnpo, ...); the default "
                           "is the published GRPO loss (DeepSeekMath): token mean per completion, then mean")
    rewards: list[RewardSpec] = Field(default_factory=lambda: [RewardSpec(preset="gui-r1")], min_length=1)
    rollout: RolloutSpec = Field(default_factory=RolloutSpec)

    @model_validator(mode="after")
    def _eps(self):
        if self.epsilon_high is not None and self.epsilon_high < self.epsilon:
            raise ValueError(f"epsilon_high ({self.epsilon_high}) is smaller than epsilon ({self.epsilon})")
        return self


class DistributedSpec(_Strict):
    nnodes: int = Field(1, gt=0)
    nproc_per_node: int = Field(1, gt=0)
    node_rank: Optional[int] = Field(None, ge=0, description="default: $NODE_RANK or 0")
    master_addr: str = "127.0.0.1"
    master_port: int = Field(29500, gt=0, lt=65536)
    deepspeed: Literal["none", "zero2", "zero3"] = "none"

    @field_validator("master_addr")
    @classmethod
    def _host(cls, v):
        # a host name, IPv4 or IPv6 address: it is rendered into launch scripts and environment variables
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]*|\[[0-9A-Fa-f:.]+\]", v):
            raise ValueError("expected a host name or an IP address (letters, digits, '.', '-', ':')")
        return v

    @property
    def world_size(self) -> int:
        return self.nnodes * self.nproc_per_node


class BackendSettings(_Strict):
    """Per-backend escape hatches: interpreter, checkout root (VLM-R1), raw key overrides."""

    python: Optional[str] = Field(None, description="interpreter to use instead of bridge's env for this backend")
    root: Optional[str] = Field(None, description="backend source checkout (VLM-R1)")
    overrides: dict[str, Any] = Field(default_factory=dict)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Recipe(_Strict):
    name: str
    model: str = Field(description="local directory, hub id, or tiny:<arch> (arch in %s)" % ", ".join(TINY_ARCHS))
    data: DataSpec
    method: Literal["sft", "grpo"] = "sft"
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    grpo: Optional[GrpoSpec] = None
    distributed: DistributedSpec = Field(default_factory=DistributedSpec)
    backends: dict[str, BackendSettings] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not _NAME.match(v):
            raise ValueError("use letters, digits, '.', '_' and '-' only (it names the run directory)")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v):
        if v.startswith(TINY_PREFIX) and v[len(TINY_PREFIX):] not in TINY_ARCHS:
            raise ValueError(f"unknown tiny architecture {v[len(TINY_PREFIX):]!r} (known: {', '.join(TINY_ARCHS)})")
        return v

    @model_validator(mode="after")
    def _method(self):
        if self.method == "grpo" and self.grpo is None:
            self.__dict__["grpo"] = GrpoSpec()   # all defaults; bypass validate_assignment recursion
        return self

    # -- helpers used by adapters -------------------------------------------------------------------------
    @property
    def is_tiny(self) -> bool:
        return self.model.startswith(TINY_PREFIX)

    def backend(self, name: str) -> BackendSettings:
        """Settings for backend ``name`` (defaults when the recipe has none)."""
        return self.backends.get(name) or BackendSettings()

    def model_family(self) -> Optional[str]:
        """``qwen2_vl`` | ``qwen2_5_vl`` | ``qwen3_vl`` | None, from ``tiny:``, a local config.json or the name."""
        return model_family(self.model)


def optimizer_settings(recipe: Recipe) -> dict[str, float]:
    """The AdamW settings every adapter passes explicitly (HF TrainingArguments names)."""
    t = recipe.train
    return {"weight_decay": t.weight_decay, "adam_beta1": t.adam_beta1, "adam_beta2": t.adam_beta2,
            "adam_epsilon": t.adam_epsilon, "max_grad_norm": t.max_grad_norm}


def batch_plan(recipe: Recipe) -> dict[str, int]:
    """What one optimiser step trains on, for this recipe and its world size (see the module docstring).

    ``per_device_samples``: sequences per device per micro-step (TRL's ``per_device_train_batch_size``; for GRPO
    prompts x num_generations); ``prompts_per_step`` / ``completions_per_step`` per optimiser step over all devices
    (SFT: both are the samples per step)."""
    t, d = recipe.train, recipe.distributed
    g = recipe.grpo.num_generations if recipe.method == "grpo" and recipe.grpo is not None else 1
    prompts = t.per_device_batch * t.grad_accum * d.world_size
    return {"world_size": d.world_size, "grad_accum": t.grad_accum, "per_device_prompts": t.per_device_batch,
            "per_device_samples": t.per_device_batch * g, "prompts_per_step": prompts,
            "completions_per_step": prompts * g}


def training_plan(recipe: Recipe) -> dict[str, Any]:
    """The backend-neutral settings every adapter must realise (optimiser, schedule, seed, batch, GRPO loss);
    adapters record it in ``run.json["effective"]`` so ``bridge compare`` shows the resolved numbers."""
    t = recipe.train
    out: dict[str, Any] = {**optimizer_settings(recipe), "scheduler": t.scheduler, "warmup": t.warmup_ratio,
                           "seed": t.seed, **batch_plan(recipe)}
    out["effective_batch"] = out["completions_per_step"]   # sequences per optimiser step, as the log parsers count
    if recipe.method == "grpo" and recipe.grpo is not None:
        g = recipe.grpo
        out.update({"loss_type": g.loss_type, "num_generations": g.num_generations, "beta": g.beta,
                    "epsilon": g.epsilon, "temperature": g.temperature, "top_p": g.top_p,
                    "top_k": g.top_k or 0, "max_completion_length": g.max_completion_length})
    return out


def model_family(model: str) -> Optional[str]:
    """The architecture family of a model reference (tiny:<arch>, local dir with config.json, or hub id)."""
    if model.startswith(TINY_PREFIX):
        return model[len(TINY_PREFIX):]
    cfg = Path(model) / "config.json"
    if cfg.is_file():
        try:
            mt = json.loads(cfg.read_text()).get("model_type", "")
        except (OSError, ValueError):
            mt = ""
        if mt in ("qwen2_vl", "qwen2_5_vl", "qwen3_vl"):
            return mt
    low = Path(model).name.lower().replace("_", "-")
    for pat, fam in (("qwen3-vl", "qwen3_vl"), ("qwen2.5-vl", "qwen2_5_vl"), ("qwen2-5-vl", "qwen2_5_vl"),
                     ("qwen2-vl", "qwen2_vl"), ("ui-tars-1.5", "qwen2_5_vl"), ("ui-tars", "qwen2_vl"),
                     ("gui-r1", "qwen2_5_vl")):
        if pat in low:
            return fam
    return None


# --------------------------------------------------------------------------------------------------------
# Loading: YAML -> located problems -> Recipe
# --------------------------------------------------------------------------------------------------------

def _key_lines(text: str) -> dict[str, int]:
    """Dotted key path -> 1-based line of that key in the YAML text (best effort, for error locations)."""
    lines: dict[str, int] = {}

    seen: set[int] = set()

    def walk(node, path: str) -> None:
        if id(node) in seen:  # an alias: located where it is written, never walked again (alias bombs)
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = str(k.value)
                p = f"{path}.{key}" if path else key
                lines[p] = k.start_mark.line + 1
                walk(v, p)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                p = f"{path}[{i}]"
                lines[p] = item.start_mark.line + 1
                walk(item, p)

    try:
        walk(yaml.compose(text, Loader=yaml.SafeLoader), "")
    except (yaml.YAMLError, RecursionError):
        pass
    return lines


def _line_for(lines: dict[str, int], field: Optional[str]) -> Optional[int]:
    while field:
        if field in lines:
            return lines[field]
        cut = max(field.rfind("."), field.rfind("["))
        field = field[:cut] if cut > 0 else ""
    return None


def _resolve(base: Path, value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p).resolve())


def _looks_local(base: Path, model: str) -> bool:
    if model.startswith(TINY_PREFIX):
        return False
    if model.startswith(("/", "./", "../", "~")):
        return True
    return (base / model).exists()


def parse_recipe(data: Any, file: str = "<recipe>", base: Optional[Path] = None, text: str = "") -> Recipe:
    """Validate an already-parsed recipe mapping; raise one :class:`BridgeError` listing every problem."""
    if not isinstance(data, dict):
        raise BridgeError(f"{file}: a recipe must be a YAML mapping (name:, model:, data:, ...)",
                          problems=[Problem(file, "not a mapping", expected="a mapping", found=type(data).__name__)])
    base = base or Path.cwd()
    data = dict(data)
    problems: list[Problem] = []
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as err:
        problems = validation_problems(err, file)
        recipe = None
    lines = _key_lines(text) if text else {}
    if data.get("method", "sft") == "sft" and data.get("grpo") is not None:
        # checked on the raw mapping so it is reported together with field errors
        problems.append(Problem(file, "a 'grpo' section is only used with method: grpo (remove it or set "
                                "method: grpo)", field="grpo"))
    problems += _semantic_problems(data, file)
    if recipe is not None:
        problems += pairing_problems(recipe, file, base)
    if problems:
        located = [Problem(p.file, p.message.removeprefix("Value error, "), line=p.line or _line_for(lines, p.field),
                           field=p.field, expected=p.expected,
                           found=None if isinstance(p.found, (dict, list)) else p.found) for p in problems]
        located.sort(key=lambda p: (p.line or 0, p.field or ""))
        raise BridgeError(f"{file}: {len(located)} problem(s) in the recipe", problems=located)
    assert recipe is not None
    # Resolve relative paths against the recipe's directory (assignment re-validates each field).
    d = recipe.data
    d.train = _resolve(base, d.train)  # type: ignore[assignment]
    d.eval = _resolve(base, d.eval)
    if _looks_local(base, recipe.model):
        recipe.model = _resolve(base, recipe.model)  # type: ignore[assignment]
    for b in recipe.backends.values():
        if b.python and ("/" in b.python or b.python.startswith("~")):
            b.python = _resolve(base, b.python)
        b.root = _resolve(base, b.root)
    return recipe


def _semantic_problems(data: dict[str, Any], file: str) -> list[Problem]:
    """Checks against registries (style, reward and backend names), run on the raw mapping so they are reported
    together with the field errors; a registry that is absent is skipped."""
    out: list[Problem] = []
    d = data.get("data")
    style = d.get("style") if isinstance(d, dict) else None
    styles = _names("bridge.styles", ("available",))
    if isinstance(style, str) and styles is not None and style not in styles and ":" not in style:
        out.append(Problem(file, "unknown style", field="data.style", expected=" | ".join(sorted(styles)),
                           found=style))
    g = data.get("grpo")
    rewards = g.get("rewards") if isinstance(g, dict) else None
    if isinstance(rewards, list) and rewards:
        known = isinstance(style, str) and ":" not in style and (styles is None or style in styles)
        out += reward_problems(rewards, file, style if known else None)
    backends = data.get("backends")
    if isinstance(backends, dict):
        known = backend_names()
        for b in backends:
            if b not in known:
                out.append(Problem(file, "unknown backend", field=f"backends.{b}", expected=" | ".join(known),
                                   found=b))
    return out


def pairing_problems(recipe: "Recipe", file: str = "<recipe>", base: Optional[Path] = None) -> list[Problem]:
    """The style/family pairing rule (bridge/families.py): ``data.style``'s coordinate frame against the family of
    ``model`` (``tiny:<arch>``, a local directory's config.json ``model_type``, or a known hub name). A mismatch is
    a problem unless ``data.allow_frame_mismatch`` says the recipe means it; an unknown family or style is no
    claim."""
    d = recipe.data
    if d.allow_frame_mismatch:
        return []
    model = recipe.model
    if base is not None and _looks_local(base, model):
        model = _resolve(base, model) or model
    family = model_family(model)
    try:
        from .styles import PromptOptions, get_style

        frame = get_style(d.style, PromptOptions(min_pixels=d.min_pixels, max_pixels=d.max_pixels)).frame()
    except Exception:   # unknown or broken style: reported by the style check
        return []
    why = pairing_problem(d.style, frame, family)
    if why is None:
        return []
    from .families import styles_for

    fits = styles_for(family)   # type: ignore[arg-type]
    return [Problem(file, why, field="data.style",
                    expected=(f"a style for {family}: {' | '.join(fits)}" if fits else f"a style for {family}")
                    + ", or data.allow_frame_mismatch: true if the recipe means it", found=d.style)]


def reward_problems(rewards: list[Any], file: str, style: Optional[str] = None) -> list[Problem]:
    """The reward library's own validation of ``grpo.rewards`` (names, options, weights), re-located.
    Entries that are not a single ``name``/``preset`` mapping are left to the field validation. With ``style``
    (``data.style``): a preset reading another completion format is refused — the model writes ``style``, so the
    preset would fail to parse every completion (``agentcpm`` on ``qwen2vl`` scored -2 on all of them)."""
    out: list[Problem] = []
    for i, entry in enumerate(rewards):
        if not (isinstance(entry, dict) and (("name" in entry) != ("preset" in entry))):
            continue
        try:
            scorer = build_scorer([entry], source=file)
        except BridgeError as e:
            out += [Problem(file, p.message, field=f"grpo.rewards[{i}]" + (p.field or "").removeprefix("[0]"),
                            expected=p.expected, found=p.found) for p in e.problems]
            continue
        reward = scorer.components[0].reward
        if style is not None and reward.style is not None and reward.style != style:
            key = "preset" if "preset" in entry else "name"
            out.append(Problem(file, f"{reward.name} reads completions in the {reward.style} format, but data.style "
                               f"is {style}: the model would be trained to write {style} and every completion "
                               f"would fail {reward.name}'s parser", field=f"grpo.rewards[{i}].{key}",
                               expected=f"data.style: {reward.style}, or a generic reward (it parses with "
                                        f"data.style)", found=reward.name))
    return out


def reward_spec(recipe: Recipe) -> list[dict[str, Any]]:
    """``grpo.rewards`` in bridge.rewards' spec format (empty for SFT)."""
    return [r.to_spec() for r in recipe.grpo.rewards] if recipe.grpo is not None else []


def _names(module: str, attrs: tuple[str, ...]) -> Optional[set[str]]:
    """Names from a registry if that registry exists yet (callable or mapping), else None (check skipped)."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    for a in attrs:
        obj = getattr(mod, a, None)
        if obj is None:
            continue
        obj = obj() if callable(obj) else obj
        return set(obj)
    return None


def load_recipe(path: Union[str, os.PathLike], overrides: Union[tuple[str, ...], list[str]] = ()) -> Recipe:
    """Read and validate a recipe file; relative paths resolve against its directory. ``overrides`` are dotted
    ``key.sub=value`` settings (:mod:`bridge.overrides`) applied before validation; a relative path among them
    resolves against the current directory, like any command-line path. The resolved recipe remembers them
    (:func:`recipe_overrides`, recorded in run.json).

    Raises :class:`BridgeError` listing every problem (file:line, dotted key, expected/found); a key given twice
    in the file is one of them, with both lines."""
    p = Path(path)
    if not p.is_file():
        raise BridgeError(f"recipe not found: {p}")
    try:
        text = decode_utf8(p.read_bytes(), str(p))
    except OSError as e:
        raise BridgeError(f"{p}: cannot read the recipe: {e.strerror or e}") from None
    bomb = yaml_alias_problem(text)
    if bomb:
        raise BridgeError(f"{p}: not a usable YAML recipe", problems=[Problem(str(p), bomb[0], line=bomb[1])])
    try:
        data = yaml.load(text, Loader=_unique_key_loader())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise BridgeError(f"{p}: not valid YAML", problems=[
            Problem(str(p), str(getattr(e, "problem", None) or e), line=mark.line + 1 if mark else None)]) from None
    except RecursionError:
        raise BridgeError(f"{p}: not a usable YAML recipe", problems=[
            Problem(str(p), "YAML nested too deeply to read")]) from None
    ovr = parse_overrides(tuple(overrides), Recipe)
    if ovr:
        if not isinstance(data, dict):
            data = {}
        ovr = [(t, path_, _cli_path(path_, v)) for t, path_, v in ovr]
        data = apply_overrides(data, ovr)
    try:
        recipe = parse_recipe(data, file=str(p), base=p.parent.resolve(), text=text)
    except BridgeError as e:
        if ovr and e.problems:
            e.problems = located(e.problems, ovr)
        raise
    recipe.__dict__["_overrides"] = [t for t, _, _ in ovr]   # not a field: never validated nor dumped
    return recipe


def recipe_overrides(recipe: Recipe) -> list[str]:
    """The command-line overrides a loaded recipe was built with (empty for a plain file)."""
    return list(recipe.__dict__.get("_overrides", []))


def data_overrides(data: dict[str, Any], overrides: Union[tuple[str, ...], list[str]]) -> DataSpec:
    """A recipe's ``data`` section from command-line settings plus ``data.KEY=VALUE`` overrides (``bridge
    convert``), typed and validated like a recipe's; any other key is a located error."""
    ovr = parse_overrides(tuple(overrides), Recipe)
    wrong = [Problem(f"override {t}", "only data.* settings apply here", field=".".join(map(str, p)))
             for t, p, _ in ovr if p[0] != "data" or len(p) < 2]
    if wrong:
        raise BridgeError(f"{len(wrong)} bad override(s)", problems=wrong)
    raw = apply_overrides({"data": data}, ovr)
    try:
        return DataSpec.model_validate(raw["data"])
    except ValidationError as err:
        raise BridgeError(f"{len(err.errors())} bad override(s)", problems=located(
            validation_problems(err, "<options>", prefix="data"), ovr)) from None


def _cli_path(path: list[Any], value: Any) -> Any:
    """An override naming a local path is relative to the current directory (not the recipe's)."""
    if not isinstance(value, str):
        return value
    dotted = ".".join(str(x) for x in path)
    is_path = dotted in ("data.train", "data.eval") or (len(path) == 3 and path[0] == "backends" and (
        path[2] == "root" or (path[2] == "python" and ("/" in value or value.startswith("~")))))
    if is_path or (dotted == "model" and _looks_local(Path.cwd(), value)):
        return str(Path(os.path.expanduser(value)).absolute())
    return value


def _unique_key_loader():
    class Loader(yaml.SafeLoader):
        """PyYAML keeps the last of two equal keys silently; a recipe with ``lr`` twice is an error instead."""

        def construct_mapping(self, node, deep=False):
            seen: dict[Any, int] = {}
            for k, _ in node.value:
                key = self.construct_object(k, deep=True)
                line = k.start_mark.line + 1
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (lines {seen[key]} and {line}; the first would be "
                        f"silently replaced)", k.start_mark)
                seen[key] = line
            return super().construct_mapping(node, deep)

    return Loader


def check_backend(recipe: Recipe, adapter: Any, file: str = "<recipe>") -> None:
    """Raise a :class:`BridgeError` naming the backend for every recipe setting it cannot honour."""
    problems = adapter.recipe_problems(recipe, file)
    if problems:
        raise BridgeError(f"backend {adapter.name!r} cannot honour {len(problems)} setting(s) of this recipe",
                          problems=problems, hint=f"change the recipe or pick another backend (bridge backends)")


def recipe_dump(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain JSON-able data (what run.json records)."""
    return recipe.model_dump(mode="json")
