"""LLaMA-Factory 0.9.5 adapter (SFT; 0.9.5 has no GRPO stage). Facts: shared/reference/backends.md §1, §7.

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

Config (``llamafactory-cli train sft.yaml``) from ``bridge/templates/llamafactory/sft.yaml.j2``; resize policy,
LoRA/freezing mapping and the multi-node environment are documented in docs/backends.md.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ..errors import BridgeError, Problem
from .base import Adapter, Capabilities, ExportResult, LaunchSpec

if TYPE_CHECKING:
    from ..recipe import Recipe
    from ..samples import Sample

DATASET_NAME = "gui_sft"
TRAIN_FILE = "train.jsonl"
#: text LLaMA-Factory / ms-swift read as "an image goes here" (never allowed inside our text)
PLACEHOLDERS = ("<image>", "<video>", "<audio>")
#: LLaMA-Factory resizes any image above this area before its processor runs; set far above any screenshot so
#: only the processor's smart_resize (with the policy's bounds) decides the grid.
NO_PRERESIZE_MAX = 1 << 40
TEMPLATES = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_vl", "qwen3_vl": "qwen3_vl_nothink"}
TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


# ---------------------------------------------------------------------------------------------------------
# Helpers shared with the ms-swift adapter (both take OpenAI-style string messages with <image> markers)
# ---------------------------------------------------------------------------------------------------------

def text_messages(sample: "Sample", file: str, line: int) -> tuple[list[dict[str, str]], list[Problem]]:
    """The sample's prompt + target as ``[{"role", "content"}]`` with one ``<image>`` per image block.

    Returns problems (never raises) for text that contains a placeholder literally (the backend would take it for
    an image) and for image blocks that disagree with ``sample.images``."""
    problems: list[Problem] = []
    out: list[dict[str, str]] = []
    images: list[str] = []
    for i, m in enumerate(sample.messages):
        content = m["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        parts = []
        for b in blocks:
            if b["type"] == "image":
                images.append(str(b["image"]))
                parts.append("<image>")
            else:
                text = b["text"]
                for ph in PLACEHOLDERS:
                    if ph in text:
                        problems.append(Problem(file, f"the prompt text contains {ph} literally; the backend would "
                                                "read it as a media placeholder", line=line, record=sample.id,
                                                field=f"messages[{i}]"))
                parts.append(text)
        out.append({"role": m["role"], "content": "".join(parts)})
    for ph in PLACEHOLDERS:
        if ph in sample.target:
            problems.append(Problem(file, f"the target text contains {ph} literally", line=line, record=sample.id,
                                    field="target"))
    if images != [str(p) for p in sample.images]:
        problems.append(Problem(file, "image blocks and sample.images disagree", line=line, record=sample.id,
                                expected=str(sample.images), found=str(images)))
    for p in sample.images:
        if not os.path.isabs(p):
            problems.append(Problem(file, "image path is not absolute", line=line, record=sample.id, found=p))
    out.append({"role": "assistant", "content": sample.target})
    return out, problems


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows atomically (a temp file renamed into place; nothing left behind on error)."""
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def has_gpu() -> bool:
    """Cheap GPU probe that imports nothing heavy (the launching machine is the training machine)."""
    return shutil.which("nvidia-smi") is not None or Path("/dev/nvidia0").exists() or Path("/dev/kfd").exists()


def on_cpu(recipe: "Recipe") -> bool:
    return recipe.train.device == "cpu" or (recipe.train.device == "auto" and not has_gpu())


def precision(recipe: "Recipe") -> str:
    """``fp32`` on CPU (bf16/fp16 mixed precision needs a GPU), else the recipe's."""
    return "fp32" if on_cpu(recipe) else recipe.train.precision


def optimizer_items(recipe: "Recipe") -> list[tuple[str, Any, Optional[str]]]:
    """The recipe's AdamW settings as config items, always explicit (ms-swift's own defaults differ)."""
    from ..recipe import optimizer_settings

    items = list(optimizer_settings(recipe).items())
    return [(k, v, "explicit: the recipe's AdamW settings (no backend default)" if i == 0 else None)
            for i, (k, v) in enumerate(items)]


def model_family(recipe: "Recipe", model: str) -> Optional[str]:
    from ..recipe import model_family as fam

    return fam(model) or recipe.model_family()


def render(template: str, **ctx: Any) -> str:
    """Render ``bridge/templates/<template>`` (StrictUndefined: a missing variable is a bug, not a blank)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    # JSON scalars are valid YAML and quote every string that needs it
    env.filters["yaml"] = yaml_scalar
    return env.get_template(template).render(**ctx)


def yaml_scalar(value: Any) -> str:
    """``value`` as inline YAML: JSON, except that floats always carry a dot (YAML 1.1 loaders — PyYAML, hence
    LLaMA-Factory and ms-swift — read ``1e-08`` as a *string*; ``1.0e-08`` is a float)."""
    if isinstance(value, float):
        text = json.dumps(value)
        if "e" in text and "." not in text.split("e")[0]:
            text = text.replace("e", ".0e", 1)
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {yaml_scalar(v)}" for k, v in value.items()) + "}"
    return json.dumps(value, ensure_ascii=False)


def resolved_model(recipe: "Recipe") -> str:
    """The recipe's model as a backend can load it (``tiny:<arch>`` built once into $BRIDGE_HOME)."""
    from ..checks import local_model

    return local_model(recipe.model) if recipe.is_tiny else recipe.model


def pixels_for(recipe: Optional["Recipe"], frame=None):
    """The resize policy's bounds (docs/backends.md): the style's frame — the recipe's data.min/max_pixels, or
    the style's defaults when the recipe leaves them unset — which is also what the coordinates assume."""
    from ..checks import Pixels, effective_pixels

    if frame is None and recipe is not None:
        try:
            from ..runs import make_style, prompt_options

            frame = make_style(recipe.data.style, prompt_options(recipe.data)).frame()
        except BridgeError:   # unknown style: the model's processor bounds
            return effective_pixels(recipe.model, recipe.data.min_pixels, recipe.data.max_pixels,
                                    recipe.model_family())
    if frame is None:
        return None
    return Pixels(frame.factor, frame.min_pixels, frame.max_pixels)


def policy_pixels(recipe: "Recipe", export: ExportResult):
    """The bounds a config must apply: the export's (its frame), which must agree with the recipe's."""
    from ..checks import Pixels

    px = pixels_for(recipe)
    got = export.meta.get("pixels")
    if got:
        exported = Pixels.from_dict(got)
        if px is not None and exported != px:
            raise BridgeError(f"the export at {export.out} was made for pixel bounds [{exported.min_pixels}, "
                              f"{exported.max_pixels}] (factor {exported.factor}) but this recipe's style frame has "
                              f"[{px.min_pixels}, {px.max_pixels}] (factor {px.factor})",
                              hint="re-export the dataset with this recipe (bridge run does it automatically)")
        return exported
    return px


def export_rows(samples: Iterable["Sample"], out: Path, row) -> tuple[int, dict[str, Any]]:
    """Build ``out/train.jsonl`` from ``row(sample, messages) -> dict``; all problems are reported at once."""
    problems: list[Problem] = []
    info: dict[str, Any] = {"style": None, "frame": None, "images": 0}
    file = str(out / TRAIN_FILE)
    rows = []
    for n, s in enumerate(samples, 1):
        messages, bad = text_messages(s, file, n)
        problems += bad
        if info["style"] is None:
            info["style"], info["frame"] = s.ground_truth.style, s.ground_truth.frame
        info["images"] += len(s.images)
        rows.append(row(s, messages))
    if problems:
        raise BridgeError(f"{len(problems)} sample(s) cannot be exported", problems=problems)
    if not rows:
        raise BridgeError("no samples to export (empty dataset, or the style refused every step)")
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / TRAIN_FILE, rows)
    return len(rows), info


def torchrun_env(recipe: "Recipe", force_var: Optional[str] = None) -> dict[str, str]:
    """torchrun variables for multi-GPU / multi-node runs (empty for a single process)."""
    d = recipe.distributed
    if d.world_size <= 1:
        return {}
    env = {"NNODES": str(d.nnodes), "NPROC_PER_NODE": str(d.nproc_per_node),
           "NODE_RANK": str(d.node_rank if d.node_rank is not None else os.environ.get("NODE_RANK", "0")),
           "MASTER_ADDR": d.master_addr, "MASTER_PORT": str(d.master_port)}
    if force_var:
        env[force_var] = "1"
    return env


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        continue   # a line being written while we read
    except OSError:
        pass
    return rows


# ---------------------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------------------

class LlamaFactoryAdapter(Adapter):
    name = "llamafactory"
    methods = frozenset({"sft"})
    description = "LLaMA-Factory 0.9.5: sharegpt data + dataset_info.json, llamafactory-cli train YAML"
    packages = ("llamafactory", "transformers", "torch", "peft", "trl", "accelerate", "datasets")
    capabilities = Capabilities(
        finetune=("full", "lora"), lora_vision=True, train_vision_tower=True, train_projector=True,
        freeze_language_model=True, explicit_targets=True, multi_image=True, system_prompt=True,
        precision=("fp32", "bf16", "fp16"), gradient_checkpointing=True, deepspeed=("zero2", "zero3"),
        multi_node="torchrun", cpu=True)

    # -- export -----------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional["Recipe"]) -> ExportResult:
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
    def config_values(self, recipe: "Recipe", export: ExportResult, run_dir: Path) -> list[tuple[str, list]]:
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
                        ("plot_loss", False, None), ("overwrite_output_dir", True, None), ("report_to", "none", None)]
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
        if overrides:
            known = {k for _, items in sections for k, _, _ in items}
            for _, items in sections:
                for i, (k, v, c) in enumerate(items):
                    if k in overrides:
                        items[i] = (k, overrides[k], "recipe override")
            extra = [(k, v, "recipe override") for k, v in overrides.items() if k not in known]
            if extra:
                sections.append(("overrides", extra))
        return sections

    def render_config(self, recipe: "Recipe", export: ExportResult, run_dir: Path) -> dict[str, Path]:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        sections = self.config_values(recipe, export, run_dir)
        path = run_dir / "llamafactory_sft.yaml"
        path.write_text(render("llamafactory/sft.yaml.j2", sections=sections, recipe=recipe.name, path=str(path)),
                        encoding="utf-8")
        files = {"config": path}
        ds = recipe.distributed.deepspeed
        if ds != "none":
            files["deepspeed"] = run_dir / f"ds_{ds}.json"
            files["deepspeed"].write_text(render(f"llamafactory/ds_{ds}.json.j2"), encoding="utf-8")
        return files

    def command(self, recipe: "Recipe", export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        cfg = Path(run_dir) / "llamafactory_sft.yaml"
        env = {"TOKENIZERS_PARALLELISM": "false", **torchrun_env(recipe, force_var="FORCE_TORCHRUN")}
        return LaunchSpec(argv=[python, "-m", "llamafactory.cli", "train", str(cfg)], env=env, cwd=Path(run_dir))

    # -- metrics ----------------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return self.output_dir(run_dir) / "trainer_log.jsonl"

    def parse_metrics(self, run_dir: Path) -> list[dict[str, Any]]:
        """Per-step rows from the HF trainer state (has grad_norm), else LF's trainer_log.jsonl."""
        from ..logs import parse_metrics   # bridge.logs reads every backend's own logs into one vocabulary

        return parse_metrics(self.name, run_dir)


def model_view(model: str, px, run_dir: Path) -> tuple[str, Optional[str]]:
    """LLaMA-Factory runs the model's processor with the bounds of the model's own preprocessor_config.json.

    When the policy's bounds differ, return a run-local view of the model directory: symlinks to every file
    (zero copy) except ``preprocessor_config.json`` and ``processor_config.json`` (whose nested image processor
    transformers reads first), rewritten with the policy's bounds. A hub id is returned
    unchanged (its bounds are what the processor has; bridge check reports any mismatch)."""
    from ..checks import processor_pixels

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
