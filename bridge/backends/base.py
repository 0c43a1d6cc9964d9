"""The adapter contract: what one backend (trainer) must implement. Everything else — convert-all, dry-run,
run records, the backend × feature matrix — is built once on top (bridge.runs, bridge.commands.*; docs/backends.md).

An adapter is a small class declaring its name, methods and :class:`Capabilities` *as data*, plus a few
primitives:

* :meth:`Adapter.export` — write the backend's data files (+ registration such as ``dataset_info.json``),
* :meth:`Adapter.render_config` — render its config from the Jinja templates in its package's ``templates/``,
* :meth:`Adapter.reward_hook` — write the module through which the backend calls ``bridge.rewards`` (GRPO),
* :meth:`Adapter.command` — the launch command (argument list) run with the backend env's interpreter,
* :meth:`Adapter.read_config` — the normalised settings read back from what it rendered (tests/test_same_recipe.py),
* :meth:`Adapter.parse_run` / :meth:`Adapter.metrics_log` — per-step metrics from the backend's own logs, through
  the ``logs`` module of its package (``parse(run_dir)``, ``settings(run_dir, record)``).

Everything else a backend ships is found relative to the adapter's own package (:meth:`Adapter.resource`):
``templates/``, ``requirements.txt``, ``check.py``, ``logs.py``. What a backend knowingly lacks is declared in
:attr:`Adapter.gaps`; the conformance suite (:mod:`bridge.backends.testing`) reports everything else it lacks.

Capabilities drive :meth:`Adapter.recipe_problems` (a recipe setting the backend cannot honour is an error
naming the backend) and ``bridge backends``. Adapters are registered by dotted path and loaded lazily
(:mod:`bridge.backends`) so importing the registry never imports a trainer; an adapter module itself must not
import its trainer either — trainer code runs only in the backend's environment (its ``launcher.py``/``check.py``).
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, Optional, Union

from ..errors import BridgeError, Problem
from ..recipe import Recipe, training_plan
from .logs import Parsed
from .templating import render

if TYPE_CHECKING:
    from ..samples import Sample
    from .preflight import Requirement


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, as data. Read by recipe checks and rendered by ``bridge backends``.

    A tuple field lists the accepted values; an empty tuple means "not supported at all"."""

    finetune: tuple[str, ...] = ("full", "lora")
    lora_vision: bool = False          # LoRA adapters on the vision tower
    train_vision_tower: bool = False   # vision tower weights can train (full FT) / be unfrozen
    train_projector: bool = False      # projector (merger) can train
    freeze_language_model: bool = False  # language model can be frozen (train only vision parts)
    explicit_targets: bool = True      # user-given LoRA target module names are honoured
    multi_image: bool = True           # several images per sample (e.g. previous screenshot)
    system_prompt: bool = True
    precision: tuple[str, ...] = ("fp32", "bf16", "fp16")
    gradient_checkpointing: bool = True
    deepspeed: tuple[str, ...] = ()    # subset of ("zero2", "zero3")
    multi_node: Optional[str] = None   # "torchrun" | "accelerate" | "ray" | None
    cpu: bool = False                  # trains on a CPU-only machine (smoke runs)
    rollout_engines: tuple[str, ...] = ()   # GRPO generation engines: "hf", "vllm", "sglang"
    grpo_loss_types: tuple[str, ...] = ()   # accepted grpo.loss_type values (empty: no loss_type knob)
    grpo_max_prompt_length: bool = False    # honours grpo.max_prompt_length
    grpo_epsilon_high: bool = False         # honours grpo.epsilon_high (asymmetric clip)
    grpo_top_p: bool = True
    grpo_top_k: Union[bool, int] = True     # honours grpo.top_k; an int: samples with that top_k, fixed
    requires_gpu: bool = False         # refuses to launch without a GPU (checked before launching)
    trackers: tuple[str, ...] = ()     # train.report_to values it logs to (bridge.tracking)
    resume: bool = False               # `bridge run --resume`: continues from its last checkpoint

    @classmethod
    def of(cls, value: Union["Capabilities", dict[str, Any]]) -> "Capabilities":
        """Accept a Capabilities or a plain dict (unknown keys are a programming error)."""
        if isinstance(value, Capabilities):
            return value
        known = {f.name for f in fields(cls)}
        bad = set(value) - known
        if bad:
            raise TypeError(f"unknown capability key(s) {sorted(bad)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: human labels of the capability fields, in the order ``bridge backends`` prints them
FEATURE_LABELS: dict[str, str] = {
    "finetune": "fine-tuning types",
    "lora_vision": "LoRA on vision tower",
    "train_vision_tower": "train vision tower",
    "train_projector": "train projector",
    "freeze_language_model": "freeze language model",
    "explicit_targets": "explicit LoRA targets",
    "multi_image": "multi-image samples",
    "system_prompt": "system prompt",
    "precision": "precision",
    "gradient_checkpointing": "gradient checkpointing",
    "deepspeed": "DeepSpeed",
    "multi_node": "multi-node",
    "cpu": "CPU training (smoke)",
    "rollout_engines": "GRPO rollout engines",
    "grpo_loss_types": "GRPO loss types",
    "grpo_max_prompt_length": "GRPO max_prompt_length",
    "grpo_epsilon_high": "GRPO epsilon_high",
    "grpo_top_p": "GRPO top_p",
    "grpo_top_k": "GRPO top_k (a number: fixed)",
    "requires_gpu": "needs a GPU",
    "trackers": "experiment tracking",
    "resume": "resume (bridge run --resume)",
}


@dataclass
class ExportResult:
    """What :meth:`Adapter.export` wrote: data files, registration files, sample count and style report."""

    out: Path
    method: str                     # "sft" | "grpo"
    files: dict[str, Path]          # role -> path, e.g. {"train": ..., "dataset_info": ...}
    samples: int
    refused: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "method": self.method, "files": {k: str(v) for k, v in self.files.items()},
                "samples": self.samples, "refused": dict(self.refused), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ExportResult":
        return cls(out=Path(d["out"]), method=d["method"], files={k: Path(v) for k, v in d["files"].items()},
                   samples=int(d["samples"]), refused=dict(d.get("refused", {})), meta=dict(d.get("meta", {})))


@dataclass
class LaunchSpec:
    """A subprocess to start: an argument list (never a shell string built from user text), env additions, cwd."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Optional[Path] = None
    #: put first on PATH: the backend environment's bin folder. Backends start helpers by console-script name
    #: (LLaMA-Factory's launcher runs ``torchrun`` for FORCE_TORCHRUN, DeepSpeed its ``deepspeed``, verl ``ray``),
    #: and the environment is never "activated".
    bin_dir: Optional[str] = None


class Adapter(ABC):
    """Base class of every backend adapter. Subclasses set the class attributes and implement the primitives.

    Class attributes:
        name: registry name (``trl``, ``llamafactory``, ...); also the name of its environment.
        methods: subset of ``{"sft", "grpo"}``.
        capabilities: a :class:`Capabilities` (or a dict of its fields).
        version: bumped whenever the export format changes (part of the export cache key).
        packages: distributions whose versions a run record reports (read in the backend env).
    """

    name: ClassVar[str]
    methods: ClassVar[frozenset[str]]
    capabilities: ClassVar[Union[Capabilities, dict[str, Any]]] = Capabilities()
    version: ClassVar[str] = "1"
    packages: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    #: what this backend knowingly lacks: conformance-suite item -> why (``check``, ``read_config``, ``logs``,
    #: ``requirements``, ``readback``); the suite expects these to be missing/failing, and reports anything else
    gaps: ClassVar[dict[str, str]] = {}
    #: the model families (bridge/families.py) it trains -> the methods it trains each with, checked against its
    #: pinned environment; a family or method missing here is refused by name at recipe-check time
    #: (:meth:`recipe_problems`) and shown by ``bridge backends``. None = not declared: no claim, every family is
    #: let through (a third-party adapter written before families were declared keeps working).
    families: ClassVar[Optional[Mapping[str, frozenset[str]]]] = None
    #: family -> why it cannot train that family (or the methods it lacks) at its pinned versions
    family_gaps: ClassVar[Mapping[str, str]] = {}
    #: how the prompts it trains on are laid out (recorded in ``run.json["effective"]``, diffed by ``bridge
    #: compare``): where the images go and which system prompt the model sees
    prompt_layout: ClassVar[Mapping[str, str]] = {"prompt_images": "where the style places them",
                                                  "system_prompt": "the style's"}
    #: whether ``make test`` installs this backend's environment (``bridge backends --names --tested``), so the
    #: test suite runs the backend's own code; False for one that needs a GPU or a user's checkout to install
    tested: ClassVar[bool] = True
    #: a line the backend prints once per logging step; ``bridge run`` times the arrival of each on its own
    #: clock (``run.json["step_clock"]``), the one step-time definition for every backend. Default: the Hugging
    #: Face Trainer's console log dict (``ProgressCallback.on_log`` / LF's and ms-swift's log callbacks print
    #: ``{'loss': ...}``), which TRL, LLaMA-Factory, ms-swift and VLM-R1 all print.
    log_line: ClassVar[re.Pattern[str]] = re.compile(r"\{'loss': ")

    @classmethod
    def caps(cls) -> Capabilities:
        return Capabilities.of(cls.capabilities)

    @classmethod
    def family_methods(cls, family: str) -> Optional[frozenset[str]]:
        """The methods it trains ``family`` with (empty: none); None when the adapter declares no families."""
        if cls.families is None:
            return None
        return frozenset(cls.families.get(family, ())) & cls.methods

    # -- what the backend ships, relative to its own package -------------------------------------------------
    @classmethod
    def package(cls) -> str:
        """The package holding this adapter (its module's package; the module itself when it is a package)."""
        module = sys.modules[cls.__module__]
        return module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]

    @classmethod
    def resource(cls, name: str) -> Optional[Path]:
        """``name`` inside the adapter's package directory, None when the backend does not ship it."""
        spec = importlib.util.find_spec(cls.package())
        for root in (spec.submodule_search_locations or []) if spec else []:
            p = Path(root) / name
            if p.exists():
                return p
        return None

    @classmethod
    def requirements_file(cls) -> Optional[Path]:
        """The pinned requirements of its environment (``requirements.txt``)."""
        return cls.resource("requirements.txt")

    #: the environment is built from a user's checkout of the trainer (``bridge env install NAME --checkout PATH``):
    #: its requirement lines come from :meth:`env_requirements`, and the environment remembers the checkout
    needs_checkout: ClassVar[bool] = False

    @classmethod
    def env_requirements(cls, checkout: Path) -> list[str]:
        """The environment's requirement lines for a ``needs_checkout`` backend, read from ``checkout``."""
        raise NotImplementedError

    @classmethod
    def check_script(cls) -> Optional[Path]:
        """The in-environment script of ``bridge check`` (``check.py``)."""
        return cls.resource("check.py")

    @classmethod
    def log_parser(cls) -> Optional[ModuleType]:
        """The module reading its own logs (``logs.py``: ``parse``, ``settings``), None when it has none."""
        name = cls.package() + ".logs"
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)

    def render(self, template: str, **ctx: Any) -> str:
        """Render ``templates/<template>`` of this backend's package (one Jinja environment, its filters)."""
        return render(self.package(), template, **ctx)

    # -- primitives ---------------------------------------------------------------------------------------
    @abstractmethod
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe]) -> ExportResult:
        """Write the backend's data files (and registration such as dataset_info.json) under ``out``.

        ``recipe`` is None for ``bridge convert`` (no recipe); adapters then use neutral defaults."""

    @abstractmethod
    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        """Render the backend's config files from Jinja templates into ``run_dir``; return role -> path."""

    def reward_hook(self, recipe: Recipe, run_dir: Path) -> Optional[Path]:
        """Write the module the backend loads to call bridge.rewards (GRPO only); None when not needed."""
        return None

    @abstractmethod
    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        """The launch command, run with the backend environment's interpreter ``python``."""

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        """The normalised settings the rendered config files (``render_config``'s result) hand the backend, parsed
        back from the files as the backend reads them: ``lr``, ``scheduler``, ``warmup``, ``seed``, ``precision``,
        the AdamW fields, ``prompts_per_step``, ``completions_per_step``, ``grad_accum`` and for GRPO
        ``num_generations``, ``beta``, ``epsilon``, ``temperature``, ``top_p``, ``max_completion_length``,
        ``loss_type``. Raises BridgeError when the files are inconsistent with themselves."""
        raise NotImplementedError(f"{self.name}: read_config is not implemented")

    def read_export(self, export: ExportResult) -> dict[str, dict[str, Any]]:
        """The exported samples read the way the backend reads them: sample id -> ``{"prompt_text"`` (the text the
        model is shown, image markers removed), ``"images"`` (absolute paths), ``"ground_truth"`` (JSON text),
        ``"row"`` (the raw record)``}``. GRPO backends implement it (the cross-backend GRPO conformance reads it)."""
        raise NotImplementedError(f"{self.name}: read_export is not implemented")

    def hook_scores(self, row: dict[str, Any], completions: list[str]) -> list[float]:
        """Scores of ``completions`` for one exported ``row`` through this backend's reward hook, called with the
        argument shapes its trainer uses (GRPO backends)."""
        raise NotImplementedError(f"{self.name}: hook_scores is not implemented")

    def parse_run(self, run_dir: Path) -> Parsed:
        """Per-step metrics (and warnings) read from the backend's own logs by its ``logs`` module."""
        mod = self.log_parser()
        return mod.parse(Path(run_dir)) if mod else Parsed()

    def resolved_settings(self, run_dir: Path, record: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """What the backend received/resolved for a run (its ``logs.settings``); empty when unreadable."""
        mod = self.log_parser()
        if mod is None:
            return {}
        try:
            out = mod.settings(Path(run_dir), record)
        except Exception as e:   # a half-written or foreign file must never break a finished run's record
            return {"source": f"unreadable: {type(e).__name__}: {e}"}
        return {k: v for k, v in out.items() if v is not None}

    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        """Path of the backend's metrics log inside ``run_dir`` (recorded in run.json), if it has one."""
        return None

    def output_dir(self, run_dir: Path) -> Path:
        """Where the backend writes checkpoints / the trained adapter."""
        return run_dir / "output"

    def effective(self, recipe: Recipe) -> dict[str, Any]:
        """The backend-neutral settings this adapter hands the backend (optimiser, schedule, seed, prompts and
        completions per optimiser step, GRPO loss), recorded in ``run.json["effective"]``. Every adapter realises
        :func:`bridge.recipe.training_plan` exactly (tests/test_same_recipe.py parses the rendered configs), except
        what the backend fixes (a capability such as ``grpo_top_k``), plus how its prompts are laid out
        (:attr:`prompt_layout`): the rows ``bridge compare`` shows when two backends feed the model differently."""
        plan = training_plan(recipe)
        if "top_k" in plan and self.caps().grpo_top_k is not True:
            plan["top_k"] = int(self.caps().grpo_top_k)
        return {**plan, **self.prompt_layout}

    def requires(self, recipe: Recipe) -> list["Requirement"]:
        """Modules the rendered configuration makes the backend import (:mod:`bridge.backends.preflight` looks for
        them in the environment before launching). Default: DeepSpeed when a ZeRO stage is asked for, the GRPO
        rollout engine when it is not the trainer's own generate."""
        from .preflight import Requirement, pinned

        out = []
        if recipe.distributed.deepspeed != "none":
            out.append(Requirement("deepspeed", f"distributed.deepspeed: {recipe.distributed.deepspeed}",
                                   pinned(self, "deepspeed")))
        if recipe.method == "grpo" and recipe.grpo and recipe.grpo.rollout.engine in ("vllm", "sglang"):
            out.append(Requirement(recipe.grpo.rollout.engine, f"grpo.rollout.engine: {recipe.grpo.rollout.engine}"))
        return out

    def preflight(self, recipe: Recipe, python: str) -> None:
        """Last checks before launching (e.g. a GPU is present); raise BridgeError to stop. Default: none."""

    # -- resuming an interrupted run (bridge run --resume) ----------------------------------------------------
    def last_checkpoint(self, run_dir: Path) -> Optional[Path]:
        """The newest complete checkpoint of the run; default: the Hugging Face Trainer's
        ``output/checkpoint-<step>``. Complete means ``trainer_state.json`` is there: ``Trainer._save_checkpoint``
        writes it last (transformers/trainer.py), so a Ctrl-C during a save leaves a folder without it, which
        ``resume_from_checkpoint`` cannot load."""
        found = [p for p in self.output_dir(run_dir).glob("checkpoint-*")
                 if p.name.rpartition("-")[2].isdigit() and (p / "trainer_state.json").is_file()]
        return max(found, key=lambda p: int(p.name.rpartition("-")[2]), default=None)

    def resume(self, run_dir: Path, configs: dict[str, Path], checkpoint: Path) -> None:
        """Make the run's rendered configuration continue from ``checkpoint`` with the backend's own resume.
        Default: the backend has none (capability ``resume`` false)."""
        raise BridgeError(f"backend {self.name!r} has no resume from a checkpoint",
                          hint="start the run again (bridge run RECIPE)")

    # -- recipe compatibility (built on capabilities) -------------------------------------------------------
    def recipe_problems(self, recipe: Recipe, file: str = "<recipe>") -> list[Problem]:
        """Every recipe setting this backend cannot honour, as located problems naming the backend.

        The default covers the capability fields; subclasses extend it for backend-specific rules."""
        c = self.caps()
        out: list[Problem] = []

        def bad(field: str, msg: str, expected: Any = None, found: Any = None) -> None:
            out.append(Problem(file, f"{self.name}: {msg}", field=field,
                               expected=None if expected is None else str(expected), found=found))

        if recipe.method not in self.methods:
            bad("method", "method not supported", " | ".join(sorted(self.methods)), recipe.method)
        family = recipe.model_family()
        trains = self.family_methods(family) if family else None
        if trains is not None and recipe.method in self.methods and recipe.method not in trains:
            from ..families import label

            why = self.family_gaps.get(family or "")
            fits = [f for f in (self.families or {}) if recipe.method in self.family_methods(f)]  # type: ignore[operator]
            bad("model", f"cannot train the {label(family)} family" + (f" with {recipe.method}" if trains else "")
                + (f": {why}" if why else " (not declared in its family matrix; bridge backends)"),
                f"a model of family {' | '.join(fits)}" if fits else "another backend", family)
        ft = recipe.finetune
        if ft.type not in c.finetune:
            bad("finetune.type", "fine-tuning type not supported", " | ".join(c.finetune) or "none", ft.type)
        parts = ft.train
        if parts.vision_tower and not (c.lora_vision if ft.type == "lora" else c.train_vision_tower):
            bad("finetune.train.vision_tower", "cannot train the vision tower" +
                (" with LoRA" if ft.type == "lora" else ""), "false", True)
        if parts.projector and not c.train_projector:
            bad("finetune.train.projector", "cannot train the projector", "false", True)
        if not parts.language_model and not c.freeze_language_model:
            bad("finetune.train.language_model", "cannot freeze the language model", "true", False)
        if ft.type == "lora" and isinstance(ft.target_modules, list) and not c.explicit_targets:
            bad("finetune.target_modules", "ignores explicit LoRA target modules", "all-linear", ft.target_modules)
        tr = recipe.train
        if tr.precision not in c.precision:
            bad("train.precision", "precision not supported", " | ".join(c.precision), tr.precision)
        if tr.gradient_checkpointing and not c.gradient_checkpointing:
            bad("train.gradient_checkpointing", "gradient checkpointing not supported", "false", True)
        if (recipe.data.prev_image) and not c.multi_image:
            bad("data.prev_image", "supports one image per sample only", "false", True)
        for tracker in tr.report_to:
            if tracker not in c.trackers:
                bad("train.report_to", "experiment tracker not supported", " | ".join(c.trackers) or "none", tracker)
        dist = recipe.distributed
        if dist.deepspeed != "none" and dist.deepspeed not in c.deepspeed:
            bad("distributed.deepspeed", "DeepSpeed stage not supported", " | ".join(c.deepspeed) or "none",
                dist.deepspeed)
        if dist.nnodes > 1 and not c.multi_node:
            bad("distributed.nnodes", "multi-node training not supported", 1, dist.nnodes)
        g = recipe.grpo
        # GRPO settings are only worth checking on a backend that runs GRPO at all (else: one problem, above).
        if recipe.method == "grpo" and g is not None and "grpo" in self.methods:
            if g.rollout.engine not in c.rollout_engines:
                bad("grpo.rollout.engine", "rollout engine not supported", " | ".join(c.rollout_engines) or "none",
                    g.rollout.engine)
            if g.loss_type is not None and g.loss_type not in c.grpo_loss_types:
                bad("grpo.loss_type", "loss type not supported",
                    " | ".join(c.grpo_loss_types) or "unset (no loss_type knob)", g.loss_type)
            if g.max_prompt_length is not None and not c.grpo_max_prompt_length:
                bad("grpo.max_prompt_length", "has no prompt-length limit (remove the key)", "unset",
                    g.max_prompt_length)
            if g.epsilon_high is not None and not c.grpo_epsilon_high:
                bad("grpo.epsilon_high", "has no asymmetric clip", "unset", g.epsilon_high)
            if g.top_p != 1.0 and not c.grpo_top_p:
                bad("grpo.top_p", "has no top_p setting", 1.0, g.top_p)
            if g.top_k is not None and c.grpo_top_k is not True and g.top_k != c.grpo_top_k:
                bad("grpo.top_k", f"samples with top_k fixed at {c.grpo_top_k} (leave grpo.top_k unset)",
                    c.grpo_top_k, g.top_k)
        return out
