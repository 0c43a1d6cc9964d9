"""LLaMA-Factory 0.9.5 adapter (SFT; 0.9.5 has no GRPO stage). Facts: docs/backends.md ("LLaMA-Factory"), checked
against the installed 0.9.5 wheel (``llamafactory/data/parser.py``, ``hparams/data_args.py``).

Export (``bridge convert --backend llamafactory``)::

    OUT/train.jsonl          {"id", "messages": [{"role", "content"}...], "images": [absolute paths]}
    OUT/dataset_info.json    {"gui_sft": {"file_name": "train.jsonl", "formatting": "sharegpt", "columns", "tags"}}
    OUT/export.json          the ExportResult (written by bridge convert / bridge run; read by bridge check)

* OpenAI-style messages need the ``tags`` block in dataset_info.json: LLaMA-Factory's defaults are
  ``from/value/human/gpt`` and without the tags it silently skips every sample.
* One literal ``<image>`` per image, in order, where the style put the image; text and image blocks of one
  message are concatenated without separator — what the HF chat template renders for typed blocks.
* Images are referenced by absolute path (zero copy); LLaMA-Factory joins them with ``media_dir`` only when the
  joined path exists, and an absolute path joins to itself.

Config (``llamafactory-cli train sft.yaml``) from ``templates/sft.yaml.j2``; resize policy,
LoRA/freezing mapping and the multi-node environment are documented in docs/backends.md.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import yaml

from ...errors import BridgeError
from ...frames import Pixels, processor_pixels
from ...recipe import Recipe
from ...tracking import TRACKERS, hf_report_to, tracking_env
from ..base import Adapter, Capabilities, ExportResult, LaunchSpec
from ..common import (TRAIN_FILE, apply_overrides, cpu_env, export_rows, model_family, on_cpu, optimizer_items,
                      pixels_for, policy_pixels, precision, resolved_model, resume_hf_yaml, torchrun_env)
from ..logs import hf_plan

if TYPE_CHECKING:
    from ...samples import Sample

DATASET_NAME = "gui_sft"
#: LLaMA-Factory resizes any image above this area before its processor runs; set far above any screenshot so
#: only the processor's smart_resize (with the policy's bounds) decides the grid.
NO_PRERESIZE_MAX = 1 << 40
TEMPLATES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl", "qwen3_vl": "qwen3_vl_nothink"}


# ---------------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------------

class LlamaFactoryAdapter(Adapter):
    name = "llamafactory"
    methods = frozenset({"sft"})
    #: one chat template per family (TEMPLATES; qwen3_vl_nothink in LLaMA-Factory 0.9.5's data/template.py)
    families = {f: frozenset({"sft"}) for f in TEMPLATES}
    description = "LLaMA-Factory 0.9.5: sharegpt data + dataset_info.json, llamafactory-cli train YAML"
    packages = ("llamafactory", "transformers", "torch", "peft", "trl", "accelerate", "datasets")
    capabilities = Capabilities(
        finetune=("full", "lora"), lora_vision=True, train_vision_tower=True, train_projector=True,
        freeze_language_model=True, explicit_targets=True, multi_image=True, system_prompt=True,
        precision=("fp32", "bf16", "fp16"), gradient_checkpointing=True, deepspeed=("zero2", "zero3"),
        multi_node="torchrun", cpu=True, trackers=TRACKERS, resume=True)

    # -- export -----------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe]) -> ExportResult:
        if method not in self.methods:
            raise BridgeError(f"llamafactory: method {method!r} not supported (LLaMA-Factory 0.9.5 has SFT only)")
        out = Path(out).resolve()
        n, info = export_rows(samples, out, lambda s, msgs: {"id": s.id, "messages": msgs, "images": list(s.images)})
        dataset_info = {DATASET_NAME: {
            "file_name": TRAIN_FILE, "formatting": "sharegpt",
            "columns": {"messages": "messages", "images": "images"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant", "system_tag": "system"}}}
        (out / "dataset_info.json").write_text(json.dumps(dataset_info, indent=2) + "\n", encoding="utf-8")
        px = pixels_for(recipe, info["frame"])
        result = ExportResult(out=out, method=method, samples=n,
                              files={"train": out / TRAIN_FILE, "dataset_info": out / "dataset_info.json"},
                              meta={"backend": self.name, "dataset": DATASET_NAME, "style": info["style"],
                                    "images": info["images"], "model": recipe.model if recipe else None,
                                    "pixels": px.to_dict(), "frame": info["frame"].to_dict()})
        return result

    # -- config -----------------------------------------------------------------------------------------------
    def config_values(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> list[tuple[str, list]]:
        """The config as ordered sections of (key, value, comment); overrides replace or extend keys."""
        model = resolved_model(recipe)
        family = model_family(recipe, model)
        overrides = dict(recipe.backend(self.name).overrides)
        template = overrides.get("template") or TEMPLATES.get(family or "")
        if template is None:
            raise BridgeError(f"llamafactory: no chat template known for model {recipe.model!r} (family {family})",
                              hint="set backends.llamafactory.overrides.template (e.g. qwen2_vl, qwen3_vl_nothink)")
        px = policy_pixels(recipe, export)
        model_path, view_note = model_view(model, px, run_dir)
        ft, parts, tr = recipe.finetune, recipe.finetune.train, recipe.train
        prec = precision(recipe)
        method: list = [("stage", "sft", None), ("do_train", True, None),
                        ("finetuning_type", ft.type, None)]
        if ft.type == "lora":
            targets = "all" if ft.target_modules == "all-linear" else ",".join(ft.target_modules)
            method += [("lora_rank", ft.rank, None), ("lora_alpha", ft.lora_alpha, None),
                       ("lora_dropout", ft.dropout, None),
                       ("lora_target", targets, "'all' = every Linear of the parts that train (LF excludes frozen parts)")]
            if parts.projector:
                method.append(("additional_target", "merger",
                               "LF never puts LoRA on the projector: it trains fully (modules_to_save)"))
        method += [("freeze_vision_tower", not parts.vision_tower, None),
                   ("freeze_multi_modal_projector", not parts.projector, None),
                   ("freeze_language_model", not parts.language_model, None)]
        ds = recipe.distributed.deepspeed
        if ds != "none":
            method.append(("deepspeed", str(run_dir / f"ds_{ds}.json"), None))
        save = tr.save
        output: list = [("output_dir", str(self.output_dir(run_dir)), None),
                        ("logging_steps", tr.logging_steps, None),
                        ("save_strategy", {"end": "no", "no": "no"}.get(save.strategy, save.strategy),
                         "the final adapter/model is always saved at the end"),
                        ("plot_loss", False, None), ("overwrite_output_dir", True, None),
                        ("report_to", hf_report_to(recipe), None)]
        if save.strategy == "steps":
            output.append(("save_steps", save.steps, None))
        if save.total_limit:
            output.append(("save_total_limit", save.total_limit, None))
        train: list = [("per_device_train_batch_size", tr.per_device_batch, None),
                       ("gradient_accumulation_steps", tr.grad_accum, None),
                       ("learning_rate", tr.lr, None)]
        train.append(("max_steps", tr.max_steps, None) if tr.max_steps else ("num_train_epochs", tr.num_epochs, None))
        train += [("lr_scheduler_type", tr.scheduler, None), ("warmup_ratio", tr.warmup_ratio, None)]
        train += optimizer_items(recipe)
        train += [("bf16", prec == "bf16", "fp32 on CPU" if on_cpu(recipe) else None), ("fp16", prec == "fp16", None),
                  ("seed", tr.seed, None), ("ddp_timeout", 180000000, None),
                  ("disable_gradient_checkpointing", not tr.gradient_checkpointing,
                   "LF turns gradient checkpointing on unless disabled")]
        sections = [
            ("model", [("model_name_or_path", model_path, view_note), ("trust_remote_code", True, None),
                       ("image_max_pixels", NO_PRERESIZE_MAX,
                        "LF's own pre-resize off: the processor's smart_resize decides the grid"),
                       ("image_min_pixels", 1, None)]),
            ("method", method),
            ("dataset", [("dataset_dir", str(Path(export.files["dataset_info"]).parent), None), ("dataset", export.meta.get("dataset", DATASET_NAME), None),
                         ("template", template, None),
                         ("cutoff_len", tr.max_length or 1_000_000, "None in the recipe = never truncate"),
                         ("mask_history", True, "train on the final (target) turn only"),
                         ("overwrite_cache", True, None), ("preprocessing_num_workers", None, None),
                         ("dataloader_num_workers", 0, None)]),
            ("output", output),
            ("train", train),
        ]
        return apply_overrides(sections, overrides)

    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        sections = self.config_values(recipe, export, run_dir)
        path = run_dir / "llamafactory_sft.yaml"
        path.write_text(self.render("sft.yaml.j2", sections=sections, recipe=recipe.name, path=str(path)),
                        encoding="utf-8")
        files = {"config": path}
        ds = recipe.distributed.deepspeed
        if ds != "none":
            files["deepspeed"] = run_dir / f"ds_{ds}.json"
            files["deepspeed"].write_text(self.render(f"ds_{ds}.json.j2"), encoding="utf-8")
        return files

    def resume(self, run_dir: Path, configs: dict[str, Path], checkpoint: Path) -> None:
        resume_hf_yaml(configs["config"], checkpoint)

    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        cfg = Path(run_dir) / "llamafactory_sft.yaml"
        env = {"TOKENIZERS_PARALLELISM": "false", **torchrun_env(recipe, force_var="FORCE_TORCHRUN"),
               **tracking_env(recipe, run_dir), **cpu_env(recipe)}
        return LaunchSpec(argv=[python, "-m", "llamafactory.cli", "train", str(cfg)], env=env, cwd=Path(run_dir))

    # -- metrics ----------------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return self.output_dir(run_dir) / "trainer_log.jsonl"

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        a = yaml.safe_load(Path(files["config"]).read_text(encoding="utf-8"))
        return hf_plan(a, recipe.distributed.world_size, 1)


def model_view(model: str, px: Optional[Pixels], run_dir: Path) -> tuple[str, Optional[str]]:
    """LLaMA-Factory runs the model's processor with the bounds of the model's own preprocessor_config.json.

    When the policy's bounds differ, return a run-local view of the model directory: symlinks to every file
    (zero copy) except ``preprocessor_config.json`` and ``processor_config.json`` (whose nested image processor
    transformers reads first), rewritten with the policy's bounds. A hub id is returned
    unchanged (its bounds are what the processor has; bridge check reports any mismatch)."""
    src = Path(model)
    own = processor_pixels(src) if src.is_dir() else None
    if own is None or px is None or (own.min_pixels, own.max_pixels) == (px.min_pixels, px.max_pixels):
        return model, None
    view = Path(run_dir) / "model_view"
    if view.exists():
        shutil.rmtree(view)
    view.mkdir(parents=True)
    def bounded(cfg: dict) -> dict:
        return {**cfg, "min_pixels": px.min_pixels, "max_pixels": px.max_pixels,
                "size": {"shortest_edge": px.min_pixels, "longest_edge": px.max_pixels}}

    rewritten = {"preprocessor_config.json", "processor_config.json"}
    for item in src.iterdir():
        if item.name not in rewritten or not item.is_file():
            (view / item.name).symlink_to(item.resolve())
    (view / "preprocessor_config.json").write_text(
        json.dumps(bounded(json.loads((src / "preprocessor_config.json").read_text(encoding="utf-8"))), indent=2),
        encoding="utf-8")
    proc = src / "processor_config.json"
    if proc.is_file():   # newer layouts nest the image processor here, and transformers reads it first
        cfg = json.loads(proc.read_text(encoding="utf-8"))
        if isinstance(cfg.get("image_processor"), dict):
            cfg["image_processor"] = bounded(cfg["image_processor"])
        (view / "processor_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return str(view), (f"view of {model} (symlinks) whose processor uses the recipe's pixel bounds "
                       f"[{px.min_pixels}, {px.max_pixels}]")
