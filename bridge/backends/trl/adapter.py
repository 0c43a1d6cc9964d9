"""TRL 1.16 adapter — the embedded default backend (SFTTrainer + PEFT LoRA, GRPOTrainer + bridge rewards).

Export: JSON Lines loadable by ``datasets.load_dataset("json", ...)``, one record per sample::

    {"id": "...", "prompt": [{"role": "system", "content": [{"type": "text", "text": "..."}]},
                             {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "..."}]}],
     "completion": [{"role": "assistant", "content": [{"type": "text", "text": "<target>"}]}],   # SFT only
     "images": ["/abs/screenshot.png"], "ground_truth": "{...}", "target": "<target>"}

* Conversational prompt/completion (not ``messages``) for SFT too, so TRL masks the loss to the completion —
  the same label mask the other backends apply (train on the assistant turn only).
* Images are typed ``{"type": "image"}`` blocks in the style's position — never a ``<image>`` text marker —
  and are filled in order by TRL's ``prepare_multimodal_messages`` from the ``images`` column.
* ``images`` holds absolute paths (zero-copy); TRL does not open path strings, so the launcher casts the column to
  the ``datasets.Image`` feature, which decodes PIL images lazily.
* ``ground_truth`` is the canonical GroundTruth JSON: GRPO passes every extra column to reward functions.

The launcher (``bridge/backends/trl/launcher.py``) runs inside the TRL environment and owns everything that imports
torch/trl; this module only writes files and builds the command. There is no generated reward module: TRL takes
Python callables, so the launcher builds them in-process from the config's ``rewards`` spec with
``bridge.rewards.hooks.trl_reward_funcs`` (one callable per component, logged as ``rewards/bridge_<key>/mean``).

Fidelity (docs/backends.md): the launcher sets the processor's ``min_pixels``/``max_pixels`` to the style's frame
(recipe ``data.min_pixels``/``max_pixels`` or the style default), so TRL's processor resizes every screenshot to
exactly the size the exported ground truth and the rewards assume.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import yaml

from ... import __version__
from ...families import FAMILY_NAMES
from ...recipe import Recipe, batch_plan, optimizer_settings, reward_spec
from ...rewards import hooks
from ...tracking import TRACKERS, hf_report_to, tracking_env
from ..base import Adapter, Capabilities, ExportResult, LaunchSpec
from ..common import cpu_env, encode_row, node_rank, resume_hf_yaml
from ..logs import hf_plan

if TYPE_CHECKING:
    from ...samples import Sample

TRL_LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
CONFIG_FILE = "trl_config.yaml"
TRAINER_LOG = "trainer_log.jsonl"
RESOLVED_FILE = "trl_resolved.json"
LAUNCHER = "bridge.backends.trl.launcher"


def _blocks(content: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Neutral content -> TRL typed blocks (image payloads removed) + the image paths in order."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}], []
    blocks, images = [], []
    for b in content:
        if b["type"] == "image":
            blocks.append({"type": "image"})
            images.append(str(b["image"]))
        elif b["type"] == "text":
            blocks.append({"type": "text", "text": b["text"]})
        else:
            raise ValueError(f"unsupported content block type {b['type']!r}")
    return blocks, images


def sample_record(sample: "Sample", method: str) -> dict[str, Any]:
    """One exported TRL record for ``sample`` (see the module docstring)."""
    prompt, images = [], []
    for m in sample.messages:
        blocks, imgs = _blocks(m["content"])
        prompt.append({"role": m["role"], "content": blocks})
        images += imgs
    if images != [str(p) for p in sample.images]:
        raise ValueError(f"sample {sample.id}: image blocks {images} disagree with sample.images {sample.images}")
    rec: dict[str, Any] = {"id": sample.id, "prompt": prompt}
    if method == "sft":
        rec["completion"] = [{"role": "assistant", "content": [{"type": "text", "text": sample.target}]}]
    rec["images"] = images
    rec["ground_truth"] = sample.ground_truth.to_json()
    rec["target"] = sample.target
    return rec


class TrlAdapter(Adapter):
    name = "trl"
    methods = frozenset({"sft", "grpo"})
    version = "1"
    #: Qwen2/2.5/3-VL load through transformers 5.23's AutoModelForImageTextToText and train with SFTTrainer and
    #: GRPOTrainer (tests/test_families.py runs each on CPU)
    families = {f: frozenset({"sft", "grpo"}) for f in FAMILY_NAMES}
    description = "Hugging Face TRL 1.16 (SFTTrainer / GRPOTrainer, PEFT LoRA, accelerate)"
    packages = ("trl", "transformers", "peft", "accelerate", "datasets", "torch", "torchvision")
    capabilities = Capabilities(
        finetune=("full", "lora"), lora_vision=True, train_vision_tower=True, train_projector=True,
        freeze_language_model=True, explicit_targets=True, multi_image=True, system_prompt=True,
        precision=("fp32", "bf16", "fp16"), gradient_checkpointing=True, deepspeed=("zero2", "zero3"),
        multi_node="accelerate", cpu=True, rollout_engines=("hf", "vllm"), grpo_loss_types=TRL_LOSS_TYPES,
        grpo_max_prompt_length=False,   # GRPOConfig 1.x has no max_prompt_length (passing it is a TypeError)
        grpo_epsilon_high=True, grpo_top_p=True, requires_gpu=False, trackers=TRACKERS, resume=True)

    # -- export ---------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe] = None) -> ExportResult:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "train.jsonl"
        n = images = 0
        frame: Optional[dict[str, Any]] = None
        style: Optional[str] = None
        with open(path, "w", encoding="utf-8") as f:
            for s in samples:
                f.write(encode_row(sample_record(s, method)) + "\n")
                if frame is None:
                    frame, style = s.ground_truth.frame.to_dict(), s.ground_truth.style
                n += 1
                images += len(s.images)
        return ExportResult(out=out, method=method, files={"train": path}, samples=n,
                            meta={"backend": self.name, "format": "trl-jsonl", "frame": frame, "style": style,
                                  "images": images})

    # -- config -----------------------------------------------------------------------------------------------
    def trainer_args(self, recipe: Recipe) -> dict[str, Any]:
        """Keyword arguments of SFTConfig / GRPOConfig mapped from the recipe (before backend overrides)."""
        t = recipe.train
        args: dict[str, Any] = {
            "learning_rate": t.lr,
            # GRPO: TRL counts completions per device (recipe: prompts x num_generations; see bridge.recipe)
            "per_device_train_batch_size": batch_plan(recipe)["per_device_samples"],
            "gradient_accumulation_steps": t.grad_accum,
            "lr_scheduler_type": t.scheduler,
            "warmup_steps": t.warmup_ratio,   # transformers 5: a float in [0, 1) is a ratio of the total steps
            **optimizer_settings(recipe),     # explicit: no backend default may leak (docs/backends.md)
            "seed": t.seed,
            "bf16": t.precision == "bf16",
            "fp16": t.precision == "fp16",
            "logging_steps": t.logging_steps,
            "report_to": hf_report_to(recipe),
            "dataloader_num_workers": 0,
        }
        if t.max_steps is not None:
            args["max_steps"] = t.max_steps
        else:
            args["num_train_epochs"] = t.num_epochs
        # Always explicit: TRL 1.16 turns gradient checkpointing on by default, so omitting False would ignore it.
        args["gradient_checkpointing"] = bool(t.gradient_checkpointing)
        if t.gradient_checkpointing:
            args["gradient_checkpointing_kwargs"] = {"use_reentrant": False}
        s = t.save
        args["save_strategy"] = {"end": "no", "no": "no", "steps": "steps", "epoch": "epoch"}[s.strategy]
        if s.steps is not None:
            args["save_steps"] = s.steps
        if s.total_limit is not None:
            args["save_total_limit"] = s.total_limit
        if recipe.data.eval:
            # evaluate once per epoch, or at the end of a max_steps run
            args["eval_strategy"] = "steps" if t.max_steps is not None else "epoch"
            if t.max_steps is not None:
                args["eval_steps"] = t.max_steps
        if recipe.method == "sft":
            args["max_length"] = t.max_length          # None: never cut image tokens (SFTConfig default is 1024)
            args["completion_only_loss"] = True
        else:
            g = recipe.grpo
            args.update({
                "num_generations": g.num_generations, "beta": g.beta, "epsilon": g.epsilon,
                "temperature": g.temperature, "top_p": g.top_p, "top_k": g.top_k or 0,   # 0: whole vocabulary
                "max_completion_length": g.max_completion_length,
                "loss_type": g.loss_type,         # explicit: TRL 1.16 defaults to dapo
                # one generation round per optimiser step, each completion used once, std-scaled group advantages
                "steps_per_generation": t.grad_accum, "num_iterations": 1, "scale_rewards": "group",
                "log_completions": False,
            })
            if g.epsilon_high is not None:
                args["epsilon_high"] = g.epsilon_high
            if g.rollout.engine == "vllm":
                args.update({"use_vllm": True, "vllm_mode": "colocate",
                             "vllm_gpu_memory_utilization": g.rollout.gpu_memory_utilization,
                             "vllm_tensor_parallel_size": g.rollout.tensor_parallel_size})
        args.update(recipe.backend(self.name).overrides)
        return args

    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        frame = export.meta.get("frame") or {}
        d = recipe.data
        ft = recipe.finetune
        ctx = {
            "bridge_version": __version__, "recipe_name": recipe.name, "method": recipe.method,
            "model": recipe.model, "train_file": str(export.files["train"]),
            "eval_file": str(export.files["eval"]) if "eval" in export.files else None,
            "output_dir": str(self.output_dir(run_dir)), "metrics_file": str(run_dir / TRAINER_LOG),
            "resolved_file": str(run_dir / RESOLVED_FILE), "device": recipe.train.device,
            "smoke": bool(export.meta.get("smoke", False)), "save_final": recipe.train.save.strategy != "no",
            "min_pixels": d.min_pixels or frame.get("min_pixels"),
            "max_pixels": d.max_pixels or frame.get("max_pixels"),
            "finetune": {"type": ft.type, "rank": ft.rank, "alpha": ft.lora_alpha, "dropout": ft.dropout,
                         "target_modules": ft.target_modules, "train": ft.train.model_dump()},
            "rewards": reward_spec(recipe),
            "args": self.trainer_args(recipe),
        }
        path = run_dir / CONFIG_FILE
        path.write_text(self.render("config.yaml.j2", **ctx), encoding="utf-8")
        return {"config": path}

    def resume(self, run_dir: Path, configs: dict[str, Path], checkpoint: Path) -> None:
        resume_hf_yaml(configs["config"], checkpoint)

    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        config = run_dir / CONFIG_FILE
        script = ["-m", LAUNCHER, "--config", str(config)]
        dist = recipe.distributed
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", **tracking_env(recipe, run_dir),
               **cpu_env(recipe)}
        if Path(recipe.model).is_dir():
            env["HF_HUB_OFFLINE"] = "1"   # a local model never needs the hub (and smoke runs must not touch it)
        if dist.world_size == 1 and dist.deepspeed == "none":
            return LaunchSpec([python, *script], env=env, cwd=run_dir)
        argv = [python, "-m", "accelerate.commands.launch",
                "--num_processes", str(dist.world_size), "--num_machines", str(dist.nnodes),
                "--machine_rank", str(node_rank(dist)),
                "--main_process_ip", dist.master_addr, "--main_process_port", str(dist.master_port),
                "--mixed_precision", {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[recipe.train.precision]]
        if dist.deepspeed != "none":
            argv += ["--use_deepspeed", "--zero_stage", dist.deepspeed[-1]]
        elif dist.world_size > 1:
            argv += ["--multi_gpu"]
        argv += ["--module", LAUNCHER, "--config", str(config)]
        return LaunchSpec(argv, env=env, cwd=run_dir)

    # -- metrics ----------------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return Path(run_dir) / TRAINER_LOG

    def read_export(self, export: ExportResult) -> dict[str, dict[str, Any]]:
        rows = [json.loads(x) for x in Path(export.files["train"]).read_text(encoding="utf-8").splitlines()]
        return {r["id"]: {"prompt_text": "\n".join("".join(b.get("text", "") for b in m["content"])
                                                   for m in r["prompt"]),
                          "images": r["images"], "ground_truth": r["ground_truth"], "row": r} for r in rows}

    def hook_scores(self, row: dict[str, Any], completions: list[str]) -> list[float]:
        """Conversational completions, one callable per component, summed with the weights as GRPOTrainer does;
        every extra column repeated per completion."""
        funcs, weights = hooks.trl_reward_funcs()
        n = len(completions)
        cols = {k: [v] * n for k, v in row.items() if k != "prompt"}
        comps = [[{"role": "assistant", "content": t}] for t in completions]
        per = [f(prompts=[row["prompt"]] * n, completions=comps, **cols) for f in funcs]
        return [sum(w * p[i] for w, p in zip(weights, per)) for i in range(n)]

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        args = yaml.safe_load(Path(files["config"]).read_text(encoding="utf-8"))["args"]
        gens = recipe.grpo.num_generations if recipe.method == "grpo" and recipe.grpo else 1
        return hf_plan(args, recipe.distributed.world_size, gens)


_RENAMES = {"learning_rate": "lr", "step": "step", "loss": "loss", "reward": "reward", "kl": "kl",
            "grad_norm": "grad_norm", "step_time": "step_time", "peak_mem_mb": "host_mem_mb",
            "epoch": "epoch", "reward_std": "reward_std", "entropy": "entropy"}


def normalise_log_row(raw: dict[str, Any]) -> dict[str, Any]:
    """TRL log keys -> compare's normalised keys: ``rewards/<c>/mean`` becomes ``reward/<c>``."""
    row: dict[str, Any] = {}
    for k, v in raw.items():
        if k in _RENAMES:
            row[_RENAMES[k]] = v
        elif k.startswith("rewards/") and k.endswith("/mean"):
            row["reward/" + k[len("rewards/"):-len("/mean")]] = v
    if "samples" in raw and raw.get("step_time"):
        row["samples_per_s"] = raw["samples"] / raw["step_time"]
    return row
