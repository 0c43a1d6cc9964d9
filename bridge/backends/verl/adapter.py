"""verl 0.9.1 adapter (GRPO via ``python -m verl.trainer.main_ppo``; GPU only). Facts: docs/backends.md ("verl"),
checked against the installed 0.9.1 wheel (``verl/utils/dataset/rl_dataset.py``, ``verl/trainer/config``).

Export (``bridge convert --backend verl --method grpo``)::

    OUT/train.parquet        one row per sample (schema below), read by verl's own RLHFDataset
    OUT/export.json          the ExportResult (written by bridge convert / bridge run; read by bridge check)

    data_source   "gui-bridge:<style>"            (reward_fn_key; our reward ignores it)
    prompt        [{"role", "content"}...]        ends with the user turn; one literal <image> per image, in order
    images        [{"image": "/abs/path.png" | "bytes": b"...", "min_pixels", "max_pixels"}...]
    ability       "gui"
    reward_model  {"style": "rule", "ground_truth": "<canonical GroundTruth JSON>"}
    extra_info    {"index", "split", "id", "target", "reward_spec"}   reward_spec: JSON text or null

* ``<image>`` markers: verl's ``_build_messages`` splits the content on them and asserts one per ``images`` entry.
* Images are absolute paths (zero copy; verl opens them inside Ray workers, so every node must see the same path)
  or, by option, the encoded file bytes (multi-node clusters without a shared filesystem):
  ``backends.verl.overrides.images: bytes`` in a recipe, ``BRIDGE_VERL_IMAGES=bytes`` for ``bridge convert``.
* Resize policy: verl resizes each image with ``qwen_vl_utils.fetch_image`` using the ``min_pixels``/``max_pixels``
  keys of the image entry (without them qwen_vl_utils' own defaults apply: 16384 tokens, not the processor's),
  then runs the HF processor, which gets the same bounds through ``data.mm_processor_kwargs`` (also forwarded to
  the rollout engine). The grid therefore equals ``smart_resize(h, w, factor, min, max)`` of the policy.
  A cached export made with other bounds or image mode is re-materialised into the run directory.
* ``extra_info.reward_spec`` documents the spec at export time; the generated reward module of a run pins the run's
  spec explicitly (it wins), so a reused export never scores with a stale spec.

Run: Hydra overrides rendered from ``templates/overrides.txt.j2`` (one per line, ``verl_overrides.txt``),
the reward module ``verl_reward.py`` (``reward.custom_reward_function.path/name`` — the 0.9 keys; the old top-level
``custom_reward_function`` is silently ignored by main_ppo) and, for ``distributed.nnodes > 1``, ``multinode.sh``
with the Ray head/worker commands. Version traps found in the 0.9.1 source:

* ``actor.freeze_vision_tower`` is declared but read by no code: full fine-tuning always trains the whole model;
  LoRA keeps the ViT and merger out through ``model.exclude_modules`` (vLLM cannot serve LoRA on them either).
* ``data.image_patch_size`` defaults to 14 (wrong for Qwen3-VL's 16) and ``rollout.tensor_model_parallel_size`` to 2.
* ``actor_rollout_ref.rollout.name`` has no default; ``hf`` is no longer a rollout backend.
"""
from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from ... import __version__
from ...envs import env_python, resolve_python
from ...families import FAMILY_NAMES
from ...errors import BridgeError, Problem
from ...frames import Pixels
from ...images import image_size
from ...recipe import GrpoSpec, Recipe, RolloutSpec, reward_spec
from ...rewards import hooks
from ...tracking import TRACKERS, tracking_env
from ...rewards.spec import DEFAULT_SPEC, build_scorer
from .. import preflight
from ..base import Adapter, Capabilities, ExportResult, LaunchSpec
from ..common import export_dir, gpu_count, pixels_for, resolved_model, staged, text_messages
from ..templating import hydra_value
from .logs import scalar

if TYPE_CHECKING:
    from ...samples import Sample

TRAIN_FILE = "train.parquet"
OVERRIDES_FILE = "verl_overrides.txt"
REWARD_FILE = "verl_reward.py"
MULTINODE_FILE = "multinode.sh"
METRICS_FILE = "verl_metrics.jsonl"
DATA_SOURCE = "gui-bridge"   # data_source = "gui-bridge:<style>" (no "/": verl puts it inside metric names)
IMAGE_MODES = ("paths", "bytes")
IMAGES_ENV = "BRIDGE_VERL_IMAGES"
#: bridge-level keys of ``backends.verl.overrides`` (everything else is a Hydra override for main_ppo)
BRIDGE_KEYS = ("images",)
RAY_PORT = 6379
RAY_TOKEN_FILE = "ray_auth_token"   # multinode.sh head writes the cluster's Ray token here
ROLLOUT_ENGINES = ("vllm", "sglang")
#: recipe ``grpo.loss_type`` -> ``actor.loss_agg_mode``: TRL's names for the same normalisations, or verl's own
LOSS_AGG_MODES = {"grpo": "seq-mean-token-mean", "dapo": "token-mean", "dr_grpo": "seq-mean-token-sum-norm",
                  "token-mean": "token-mean", "seq-mean-token-sum": "seq-mean-token-sum",
                  "seq-mean-token-mean": "seq-mean-token-mean", "seq-mean-token-sum-norm": "seq-mean-token-sum-norm"}
#: ``actor.loss_agg_mode`` -> the recipe's loss_type name (read-back)
LOSS_NAMES = {"seq-mean-token-mean": "grpo", "token-mean": "dapo", "seq-mean-token-sum-norm": "dr_grpo"}
SCHEDULERS = {"cosine": "cosine", "constant": "constant", "constant_with_warmup": "constant"}
DTYPES = {"bf16": "bfloat16", "fp16": "float16"}
#: vLLM's largest LoRA rank (verl's get_vllm_max_lora_rank rounds up to its table, whose top is 512)
VLLM_MAX_LORA_RANK = 512
#: chat-template tokens around messages and images that the byte bound below does not see
TEMPLATE_SLACK = 64
#: ``save.strategy: end`` — verl saves when ``save_freq > 0`` and (last step or step % save_freq == 0)
SAVE_AT_END_ONLY = 10 ** 9


# ---------------------------------------------------------------------------------------------------------
# Hydra override values
# ---------------------------------------------------------------------------------------------------------

def parse_overrides(text: str) -> list[str]:
    """The override lines of a rendered overrides file (blank lines and ``#`` comments dropped)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def override_key(line: str) -> str:
    """``+a.b=1`` -> ``a.b`` (the key a line sets, without Hydra's ``+``/``++``/``~`` prefix)."""
    return line.split("=", 1)[0].lstrip("+~").strip()


def merge_overrides(text: str, extra: dict[str, Any]) -> str:
    """Apply the recipe's ``backends.verl.overrides`` to a rendered overrides file: a key the template already
    sets is replaced in place (Hydra refuses two values for one key), a new key is appended (write it with
    Hydra's ``+`` prefix when verl's config does not declare it). Bridge-level keys (``images``) are not Hydra's."""
    pending = {k.lstrip("+~"): (k, v) for k, v in extra.items() if k not in BRIDGE_KEYS}
    out = []
    for ln in text.splitlines():
        s = ln.strip()
        if s and not s.startswith("#") and override_key(s) in pending:
            k, v = pending.pop(override_key(s))
            out += [f"# recipe override (backends.verl.overrides); rendered value was: {s}", f"{k}={hydra_value(v)}"]
        else:
            out.append(ln)
    if pending:
        out.append("# recipe overrides (backends.verl.overrides)")
        out += [f"{k}={hydra_value(v)}" for k, v in pending.values()]
    return "\n".join(out).rstrip("\n") + "\n"


#: verl's attention default: ``HFModelConfig`` loads the actor and reference with
#: ``override_config.get("attn_implementation", "flash_attention_2")`` (verl/workers/config/model.py)
FLASH = "flash_attention_2"
ATTN_KEY = "actor_rollout_ref.model.override_config.attn_implementation"


def attention(recipe: Recipe) -> str:
    """The attention implementation the rendered config asks for: the recipe's override
    (``backends.verl.overrides``: ``+actor_rollout_ref.model.override_config.attn_implementation``), else
    flash-attention 2 (verl's default) where the environment that runs verl has flash-attn, else PyTorch's
    ``sdpa`` (the verl environment `bridge env install verl` builds has no flash-attn: verl's default would fail
    to load the model with an ImportError)."""
    over = {k.lstrip("+~"): v for k, v in recipe.backend("verl").overrides.items()}
    if ATTN_KEY in over:
        return str(over[ATTN_KEY])
    try:
        python = resolve_python("verl", recipe.backend("verl").python)
    except BridgeError:
        return "sdpa"   # no environment yet (a dry run): what any torch has
    return FLASH if not preflight.missing(python, ["flash_attn"]) else "sdpa"


# ---------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------

def image_mode(recipe: Optional[Recipe]) -> str:
    """``paths`` (default) or ``bytes``: recipe ``backends.verl.overrides.images``, else ``$BRIDGE_VERL_IMAGES``."""
    mode = None
    if recipe is not None:
        mode = recipe.backend("verl").overrides.get("images")
    mode = mode or os.environ.get(IMAGES_ENV) or "paths"
    if mode not in IMAGE_MODES:
        raise BridgeError(f"verl: unknown image mode {mode!r}", hint="images: paths (default) or bytes "
                          f"(recipe backends.verl.overrides.images, or ${IMAGES_ENV})")
    return mode


def _image_entry(path: str, mode: str, px: Pixels) -> dict[str, Any]:
    """One ``images`` entry: verl spreads its keys into the content item qwen_vl_utils resizes."""
    entry: dict[str, Any] = {"image": path} if mode == "paths" else {"bytes": Path(path).read_bytes()}
    entry.update(min_pixels=px.min_pixels, max_pixels=px.max_pixels)
    return entry


def _schema(mode: str):
    image = pa.struct([("image", pa.string()) if mode == "paths" else ("bytes", pa.binary()),
                       ("min_pixels", pa.int64()), ("max_pixels", pa.int64())])
    return pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(image)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("index", pa.int64()), ("split", pa.string()), ("id", pa.string()),
                                  ("target", pa.string()), ("reward_spec", pa.string())])),
    ])


def write_parquet(path: Path, rows: list[dict[str, Any]], mode: str) -> None:
    """Write ``rows`` atomically with the explicit schema (never inferred: empty lists must keep their type)."""
    table = pa.Table.from_pylist(rows, schema=_schema(mode))
    tmp = path.with_name(path.name + f".partial-{os.getpid()}")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: rows per parquet row group of a streamed export (memory is bounded by one batch, not the dataset)
BATCH_ROWS = 1024
#: image sizes remembered per path: a step's previous screenshot is the one just read, so a short memory suffices
RECENT_SIZES = 64


def read_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def _split_of(out: Path) -> str:
    # bridge.runs writes the eval export to ".../eval" (through a ".eval.tmp-<pid>" sibling); everything else trains
    return "eval" if "eval" in Path(out).name.split(".") else "train"


def sample_row(sample: "Sample", index: int, split: str, mode: str, px, spec: Optional[str], file: str,
               problems: list[Problem]) -> dict[str, Any]:
    """One parquet row for ``sample`` (problems are appended, never raised, so all are reported at once)."""
    messages, bad = text_messages(sample, file, index + 1)
    problems += bad
    prompt = messages[:-1]            # the target is generated, not given: the prompt ends with the user turn
    if not prompt or prompt[-1]["role"] != "user":
        problems.append(Problem(file, "the prompt must end with a user turn", line=index + 1, record=sample.id,
                                found=prompt[-1]["role"] if prompt else "no message"))
    return {"data_source": f"{DATA_SOURCE}:{sample.ground_truth.style}", "prompt": prompt,
            "images": [_image_entry(p, mode, px) for p in sample.images] if not bad else [],
            "ability": "gui",
            "reward_model": {"style": "rule", "ground_truth": sample.ground_truth.to_json()},
            "extra_info": {"index": index, "split": split, "id": sample.id, "target": sample.target,
                           "reward_spec": spec}}


def _prompt_stats(sample: "Sample", stats: dict[str, Any], sizes: set[tuple[int, int]],
                  recent: dict[str, tuple[int, int]]) -> None:
    """What bounds the prompt length without a tokenizer: UTF-8 bytes of the text (a byte-level BPE never
    emits more tokens than bytes), image count, and the distinct screenshot sizes (``recent``: a bounded memory
    of the last images' sizes, so a previous screenshot is not read twice)."""
    text = sum(len(b["text"].encode("utf-8")) for m in sample.messages for b in m["content"] if b["type"] == "text")
    stats["max_text_bytes"] = max(stats["max_text_bytes"], text)
    stats["max_images"] = max(stats["max_images"], len(sample.images))
    for p in sample.images:
        if p not in recent:
            if len(recent) >= RECENT_SIZES:
                recent.clear()
            recent[p] = image_size(p)
            sizes.add(recent[p])


def prompt_length_bound(stats: dict[str, Any], px) -> int:
    """An upper bound of any exported prompt's length in tokens, image tokens included (data.max_prompt_length):
    text bytes + the most images x the largest image's tokens (+ vision start/end) + chat-template slack."""
    per_image = max((px.tokens(w, h) for w, h in stats.get("image_sizes", [])), default=0) + 2
    return int(stats["max_text_bytes"] + stats["max_images"] * per_image + TEMPLATE_SLACK)


def grpo_settings(recipe: Recipe) -> GrpoSpec:
    """The recipe's GRPO section; for a recipe without one (``bridge check``), defaults with verl's vllm rollout."""
    return recipe.grpo or GrpoSpec(rollout=RolloutSpec(engine="vllm"))


class VerlAdapter(Adapter):
    name = "verl"
    methods = frozenset({"grpo"})
    version = "1"
    #: verl 0.9.1 patches Qwen2-VL/Qwen2.5-VL (verl/models/transformers/qwen2_vl.py) and Qwen3-VL (qwen3_vl.py)
    #: for its rope-index/position ids; its RLHFDataset path runs on all three here (conformance suite, CPU)
    families = {f: frozenset({"grpo"}) for f in FAMILY_NAMES}
    gaps = {"readback": "trains on GPUs only (its preflight refuses a CPU machine)"}
    description = "verl 0.9.1: parquet + python -m verl.trainer.main_ppo (Hydra overrides, Ray; GPU only)"
    packages = ("verl", "transformers", "torch", "peft", "ray", "vllm", "sglang", "qwen-vl-utils", "datasets",
                "transferqueue")
    capabilities = Capabilities(
        finetune=("full", "lora"),
        lora_vision=False,            # LoRA stays off the ViT/merger (exclude_modules); vLLM cannot serve it there
        train_vision_tower=True,      # full fine-tuning trains everything (freeze_vision_tower is unused in 0.9.1)
        train_projector=True,
        freeze_language_model=False,
        explicit_targets=True, multi_image=True, system_prompt=True,
        precision=("bf16", "fp16"),   # FSDP mixed-precision dtype: bfloat16 | float16
        gradient_checkpointing=True, deepspeed=(), multi_node="ray", cpu=False,
        rollout_engines=ROLLOUT_ENGINES, grpo_loss_types=tuple(LOSS_AGG_MODES),
        grpo_max_prompt_length=True, grpo_epsilon_high=True, grpo_top_p=True, requires_gpu=True, trackers=TRACKERS,
        resume=True)

    # -- recipe rules beyond the capability table ----------------------------------------------------------------
    def recipe_problems(self, recipe: Recipe, file: str = "<recipe>") -> list[Problem]:
        out = super().recipe_problems(recipe, file)

        def bad(field: str, msg: str, expected: Any = None, found: Any = None) -> None:
            out.append(Problem(file, f"verl: {msg}", field=field,
                               expected=None if expected is None else str(expected), found=found))

        ft, parts, t = recipe.finetune, recipe.finetune.train, recipe.train
        if ft.type == "full" and not (parts.vision_tower and parts.projector):
            bad("finetune.train", "full fine-tuning trains the whole model: verl 0.9.1 declares "
                "actor.freeze_vision_tower but no code reads it (use LoRA to keep the vision tower frozen)",
                "vision_tower: true, projector: true", parts.model_dump())
        if ft.type == "lora" and parts.projector:
            bad("finetune.train.projector", "LoRA is kept off the visual module (merger included); vLLM cannot "
                "serve LoRA there", "false", True)
        if ft.type == "lora" and ft.dropout > 0 and "dropout" in ft.model_fields_set:
            # an unset dropout (the recipe default) trains with verl's 0, recorded in run.json's effective settings
            bad("finetune.dropout", "verl 0.9.1 builds its LoraConfig from rank, alpha, target and exclude modules "
                "only (verl/workers/engine/fsdp/transformer_impl.py, the `lora_config` dict): LoRA dropout would "
                "silently be 0", "0 (or leave it unset)", ft.dropout)
        if ft.type == "lora" and ft.rank > VLLM_MAX_LORA_RANK:
            bad("finetune.rank", "vLLM serves LoRA ranks up to 512", f"<= {VLLM_MAX_LORA_RANK}", ft.rank)
        if t.scheduler not in SCHEDULERS:
            bad("train.scheduler", "verl's optimizer has constant and cosine schedules only",
                " | ".join(SCHEDULERS), t.scheduler)
        if t.max_steps is None and t.epochs is not None and t.epochs != int(t.epochs):
            bad("train.epochs", "verl counts whole epochs (trainer.total_epochs)", "an integer", t.epochs)
        if t.device == "cpu":
            bad("train.device", "verl trains on GPUs only (its trainer needs NCCL)", "auto | cuda", "cpu")
        if t.max_grad_norm == 0:
            bad("train.max_grad_norm", "optim.clip_grad is always applied (0 would zero every gradient, not turn "
                "clipping off)", "> 0", 0)
        mode = recipe.backend(self.name).overrides.get("images")
        if mode is not None and mode not in IMAGE_MODES:
            bad("backends.verl.overrides.images", "unknown image mode", " | ".join(IMAGE_MODES), mode)
        return out

    # -- export -----------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe]) -> ExportResult:
        if method not in self.methods:
            raise BridgeError(f"verl: method {method!r} not supported (verl trains with RL: --method grpo)")
        out = Path(out).resolve()
        mode = image_mode(recipe)
        spec = json.dumps(reward_spec(recipe), sort_keys=True) if recipe is not None and recipe.grpo else None
        split = _split_of(out)
        file = str(out / TRAIN_FILE)
        batch: list[dict[str, Any]] = []
        problems: list[Problem] = []
        stats: dict[str, Any] = {"max_text_bytes": 0, "max_images": 0}
        sizes: set[tuple[int, int]] = set()
        recent: dict[str, tuple[int, int]] = {}
        px = style = None
        images = n = 0
        schema = _schema(mode)
        # Streamed (issue 16): one row group per BATCH_ROWS rows, so memory does not grow with the dataset
        with export_dir(out), staged(out / TRAIN_FILE, "wb") as f:
            writer = pq.ParquetWriter(f, schema)
            try:
                for n, s in enumerate(samples, 1):
                    if px is None:
                        px, style = pixels_for(recipe, s.ground_truth.frame), s.ground_truth.style
                    row = sample_row(s, n - 1, split, mode, px, spec, file, problems)
                    _prompt_stats(s, stats, sizes, recent)
                    images += len(s.images)
                    if problems:
                        batch.clear()
                        continue
                    batch.append(row)
                    if len(batch) >= BATCH_ROWS:
                        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                        batch.clear()
                if batch:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            finally:
                writer.close()
            if problems:
                raise BridgeError(f"{len(problems)} problem(s): these samples cannot be exported for verl",
                                  problems=problems)
            if not n:
                raise BridgeError("no samples to export (empty dataset, or the style refused every step)")
        stats["image_sizes"] = [list(v) for v in sorted(sizes)]
        result = ExportResult(out=out, method=method, files={"train": out / TRAIN_FILE}, samples=n,
                              meta={"backend": self.name, "style": style, "images": images, "image_mode": mode,
                                    "model": recipe.model if recipe else None, "pixels": px.to_dict() if px else None,
                                    "prompt_stats": stats,
                                    "reward_spec": spec})
        return result

    def materialise(self, recipe: Recipe, export: ExportResult, run_dir: Path, px) -> dict[str, Path]:
        """Data files for this run: the export's own when its image mode and pixel bounds are the run's, else a
        copy in ``run_dir`` rewritten with them (a cached export may come from another recipe)."""
        mode = image_mode(recipe)
        want = px.to_dict()
        files = {}
        for role in ("train", "eval"):
            src = export.files.get(role)
            if src is None:
                continue
            if export.meta.get("image_mode", "paths") == mode and export.meta.get("pixels") == want:
                files[role] = Path(src)
                continue
            rows = read_rows(Path(src))
            for row in rows:
                row["images"] = [_rebuild_image(e, mode, px) for e in row["images"]]
            dst = Path(run_dir) / f"{role}.parquet"
            write_parquet(dst, rows, mode)
            files[role] = dst
        return files

    # -- config -----------------------------------------------------------------------------------------------
    def context(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Any]:
        """Every value the overrides template writes, computed from the recipe and the export."""
        # The resize policy (docs/backends.md): the style frame's bounds, as the export and the other backends use.
        px = pixels_for(recipe)
        files = self.materialise(recipe, export, run_dir, px)
        g, t, ft, d = grpo_settings(recipe), recipe.train, recipe.finetune, recipe.distributed
        parts = ft.train
        n_gpus = d.world_size
        prompts_per_step = t.per_device_batch * t.grad_accum * n_gpus
        stats = export.meta.get("prompt_stats") or {}
        max_prompt = g.max_prompt_length or (prompt_length_bound(stats, px) if stats else 4096)
        steps_per_epoch = max(1, export.samples // prompts_per_step)
        save = t.save
        save_freq = {"no": -1, "end": SAVE_AT_END_ONLY, "steps": save.steps, "epoch": steps_per_epoch}[save.strategy]
        lora = ft.type == "lora"
        exclude = None
        if lora and not parts.vision_tower:
            exclude = ".*visual.*"    # ViT blocks, patch embedding and merger (Qwen2/2.5/3-VL all nest them there)
        train = files["train"]
        has_eval = "eval" in files
        attn = attention(recipe)   # one look into the environment (a subprocess) per render
        return {
            "recipe": recipe.name, "model": resolved_model(recipe), "reward_file": str(Path(run_dir) / REWARD_FILE),
            "attn_implementation": attn, "remove_padding": attn == FLASH,
            "train_files": [str(train)], "val_files": [str(files.get("eval", train))], "has_eval": has_eval,
            "max_prompt_length": int(max_prompt), "max_prompt_length_source":
                "grpo.max_prompt_length" if g.max_prompt_length else "upper bound from the export",
            "max_response_length": g.max_completion_length, "train_batch_size": prompts_per_step,
            "image_patch_size": px.factor // 2,   # merge 2: factor 28 -> patch 14, 32 -> 16
            "mm_processor_kwargs": {"min_pixels": px.min_pixels, "max_pixels": px.max_pixels},
            "pixels": px.to_dict(), "seed": t.seed,
            "lora_rank": ft.rank if lora else 0, "lora_alpha": ft.lora_alpha,
            "target_modules": ft.target_modules, "exclude_modules": exclude,
            "freeze_vision_tower": not parts.vision_tower,
            "gradient_checkpointing": t.gradient_checkpointing,
            "lr": t.lr, "warmup_ratio": t.warmup_ratio, "scheduler": SCHEDULERS.get(t.scheduler, t.scheduler),
            # ppo_mini_batch_size counts prompts (verl multiplies it by rollout.n), micro batches count sequences:
            # one mini-batch = one optimiser step of grad_accum micro-batches of per_device_batch x n completions
            "mini_batch_size": prompts_per_step, "micro_batch_size_per_gpu": t.per_device_batch * g.num_generations,
            "weight_decay": t.weight_decay, "betas": [t.adam_beta1, t.adam_beta2], "adam_epsilon": t.adam_epsilon,
            "max_grad_norm": t.max_grad_norm,
            "use_kl_loss": g.beta > 0, "kl_coef": g.beta,
            "clip_low": g.epsilon, "clip_high": g.epsilon_high if g.epsilon_high is not None else g.epsilon,
            "loss_agg_mode": LOSS_AGG_MODES[g.loss_type],
            "dtype": DTYPES.get(t.precision, "bfloat16"),
            "rollout_name": g.rollout.engine, "rollout_n": g.num_generations,
            "tensor_parallel_size": g.rollout.tensor_parallel_size,
            "gpu_memory_utilization": g.rollout.gpu_memory_utilization,
            "temperature": g.temperature, "top_p": g.top_p, "top_k": g.top_k or -1,   # -1: the whole vocabulary
            "limit_images": stats.get("max_images", 1) if g.rollout.engine == "vllm" and
                            stats.get("max_images", 1) > 1 else None,
            "n_gpus_per_node": d.nproc_per_node, "nnodes": d.nnodes,
            "output_dir": str(self.output_dir(run_dir)), "project": "gui-bridge",
            "loggers": ["console", "file", *recipe.train.report_to],
            "total_training_steps": t.max_steps, "total_epochs": int(t.num_epochs),
            "save_freq": save_freq, "max_ckpt_to_keep": save.total_limit,
            "test_freq": save_freq if has_eval else -1,
        }

    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        ctx = self.context(recipe, export, run_dir)
        text = merge_overrides(self.render("overrides.txt.j2", o=ctx, bridge_version=__version__),
                               recipe.backend(self.name).overrides)
        path = run_dir / OVERRIDES_FILE
        path.write_text(text, encoding="utf-8")     # the single truth of what main_ppo receives
        lines = parse_overrides(text)
        files = {"overrides": path, "reward": self.reward_hook(recipe, run_dir)}
        if recipe.distributed.nnodes > 1:
            files["multinode"] = self.multinode_script(recipe, run_dir, lines)
        return files

    #: verl's console logger (verl/utils/logger/aggregate_logger.py ``concat_dict_to_str``), once per step,
    #: possibly behind Ray's ``(TaskRunner pid=...)`` prefix
    log_line = re.compile(r"\bstep:\d+ - ")

    def last_checkpoint(self, run_dir: Path) -> Optional[Path]:
        """verl's checkpoint manager writes ``<trainer.default_local_dir>/global_step_<n>``."""
        found = [p for p in self.output_dir(run_dir).glob("global_step_*") if p.name.rpartition("_")[2].isdigit()]
        return max(found, key=lambda p: int(p.name.rpartition("_")[2]), default=None)

    def resume(self, run_dir: Path, configs: dict[str, Path], checkpoint: Path) -> None:
        """``trainer.resume_mode=resume_path`` + ``trainer.resume_from_path`` (verl/trainer/config/ppo_trainer.yaml)."""
        path = Path(run_dir) / OVERRIDES_FILE
        keep = [ln for ln in path.read_text(encoding="utf-8").splitlines()
                if not ln.startswith(("trainer.resume_mode=", "trainer.resume_from_path="))]
        keep += ["trainer.resume_mode=resume_path", f"trainer.resume_from_path={hydra_value(str(checkpoint))}"]
        path.write_text("\n".join(keep) + "\n", encoding="utf-8")

    def overrides(self, run_dir: Path) -> list[str]:
        """The Hydra overrides rendered into ``run_dir`` (what main_ppo receives, in order)."""
        return parse_overrides((Path(run_dir) / OVERRIDES_FILE).read_text(encoding="utf-8"))

    def reward_hook(self, recipe: Recipe, run_dir: Path) -> Optional[Path]:
        spec = build_scorer(reward_spec(recipe) or DEFAULT_SPEC).to_list()
        path = Path(run_dir) / REWARD_FILE
        path.write_text(self.render("reward.py.j2", spec_json=repr(json.dumps(spec, sort_keys=True)),
                               recipe=recipe.name), encoding="utf-8")
        return path

    def multinode_script(self, recipe: Recipe, run_dir: Path, lines: list[str]) -> Path:
        """``multinode.sh head|worker|train``: Ray head, Ray workers, then main_ppo on the head (docs/backends.md)."""
        d = recipe.distributed
        python = recipe.backend(self.name).python or str(env_python(self.name))
        env = self.launch_env(recipe, run_dir)
        path = Path(run_dir) / MULTINODE_FILE
        path.write_text(self.render("multinode.sh.j2", recipe=recipe.name, nnodes=d.nnodes,
                               gpus=d.nproc_per_node, head=shlex.quote(d.master_addr), port=RAY_PORT,
                               python=shlex.quote(python), run_dir=shlex.quote(str(run_dir)),
                               token=shlex.quote(str(Path(run_dir) / RAY_TOKEN_FILE)),
                               env=" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k != "RAY_ADDRESS"),
                               overrides=" \\\n    ".join(shlex.quote(x) for x in lines)), encoding="utf-8")
        path.chmod(0o755)
        return path

    def launch_env(self, recipe: Recipe, run_dir: Path) -> dict[str, str]:
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
               "VERL_FILE_LOGGER_PATH": str(Path(run_dir) / METRICS_FILE), **tracking_env(recipe, run_dir)}
        if recipe.distributed.nnodes > 1:   # join the cluster multinode.sh started instead of a local one
            env["RAY_ADDRESS"] = f"{recipe.distributed.master_addr}:{RAY_PORT}"
        return env

    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        lines = self.overrides(run_dir)
        return LaunchSpec([python, "-m", "verl.trainer.main_ppo", *lines], env=self.launch_env(recipe, run_dir),
                          cwd=Path(run_dir))

    def requires(self, recipe: Recipe) -> list[preflight.Requirement]:
        """The rollout engine as verl 0.9.1 pins it (its extras ``verl[vllm]`` / ``verl[sglang]``: vllm 0.24.0 /
        sglang 0.5.12 with the torch 2.11 and transformers 5.9 they are built for), flash-attn when the config asks
        for it."""
        out = []
        engine = grpo_settings(recipe).rollout.engine
        out.append(preflight.Requirement(engine, f"grpo.rollout.engine: {engine} (actor_rollout_ref.rollout.name)",
                                         f"'verl[{engine}]==0.9.1'"))
        if attention(recipe) == FLASH:
            out.append(preflight.Requirement("flash_attn", f"{ATTN_KEY}={FLASH}"))
        return out

    def preflight(self, recipe: Recipe, python: str) -> None:
        """verl needs GPUs (measured on CPU: "Total available GPUs 0 is less than total desired GPUs 1")."""
        n = gpu_count()
        want = recipe.distributed.nproc_per_node
        if n == 0:
            raise BridgeError("verl needs GPUs and this machine has none: main_ppo would start Ray and then fail "
                              "with 'Total available GPUs 0 is less than total desired GPUs "
                              f"{recipe.distributed.world_size}'. Nothing was launched.",
                              hint="run on a GPU machine; here, `bridge run --backend verl --dry-run RECIPE` renders "
                                   "everything and `bridge check --backend verl EXPORT` runs verl's own data and "
                                   "reward loading on CPU; `bridge run RECIPE --smoke` trains on CPU with TRL")
        if n is not None and n < want:
            raise BridgeError(f"verl: the recipe asks for {want} GPU(s) per node (distributed.nproc_per_node) and "
                              f"this machine has {n}. Nothing was launched.",
                              hint=f"set distributed.nproc_per_node: {n}")

    # -- metrics ----------------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return Path(run_dir) / METRICS_FILE

    # -- read-back ------------------------------------------------------------------------------------------------
    def read_export(self, export: ExportResult) -> dict[str, dict[str, Any]]:
        rows = read_rows(Path(export.files["train"]))
        return {r["extra_info"]["id"]: {
            "prompt_text": "\n".join(m["content"] for m in r["prompt"]).replace("<image>", ""),
            "images": [e["image"] for e in r["images"]], "ground_truth": r["reward_model"]["ground_truth"], "row": r}
            for r in rows}

    def hook_scores(self, row: dict[str, Any], completions: list[str]) -> list[float]:
        """NaiveRewardManager: one ``compute_score`` call per completion, keywords, the parquet row's fields."""
        return [hooks.compute_score(data_source=row["data_source"], solution_str=t,
                                    ground_truth=row["reward_model"]["ground_truth"],
                                    extra_info={**row["extra_info"], "num_turns": 2})["score"] for t in completions]

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        """The override list as main_ppo receives it, in the vocabulary of :meth:`Adapter.read_config`; the batch
        mapping must be one optimiser step per training step (else BridgeError)."""
        o = {override_key(x): scalar(x.split("=", 1)[1])
             for x in parse_overrides(Path(files["overrides"]).read_text(encoding="utf-8"))}
        p = "actor_rollout_ref.actor."
        n, prompts = o["actor_rollout_ref.rollout.n"], o["data.train_batch_size"]
        gpus = o["trainer.n_gpus_per_node"] * o["trainer.nnodes"]
        per_gpu = prompts * n // gpus
        checks = {"ppo_mini_batch_size == data.train_batch_size": o[p + "ppo_mini_batch_size"] == prompts,
                  "ppo_epochs == 1": o[p + "ppo_epochs"] == 1,
                  "micro batches divide the sequences per GPU": per_gpu % o[p + "ppo_micro_batch_size_per_gpu"] == 0,
                  "optim.clip_grad == grad_clip": o[p + "optim.clip_grad"] == o[p + "grad_clip"],
                  "HF cosine schedule (min_lr_ratio 0, num_cycles 0.5, warmup by ratio)":
                      (o[p + "optim.min_lr_ratio"], o[p + "optim.num_cycles"], o[p + "optim.lr_warmup_steps"])
                      == (0.0, 0.5, -1),
                  "std-normalised group advantages": o["algorithm.norm_adv_by_std_in_grpo"] is True}
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise BridgeError(f"verl: {files['overrides']}: inconsistent overrides: " + "; ".join(bad))
        return {"lr": o[p + "optim.lr"], "scheduler": o[p + "optim.lr_scheduler_type"],
                "warmup": o[p + "optim.lr_warmup_steps_ratio"], "seed": o["data.seed"],
                "precision": {"bfloat16": "bf16", "float16": "fp16"}[o[p + "fsdp_config.dtype"]],
                "weight_decay": o[p + "optim.weight_decay"], "adam_beta1": o[p + "optim.betas"][0],
                "adam_beta2": o[p + "optim.betas"][1],
                "adam_epsilon": hydra_dict(o[p + "optim.override_optimizer_config"])["eps"],
                "max_grad_norm": o[p + "optim.clip_grad"], "prompts_per_step": prompts,
                "completions_per_step": prompts * n, "loss_type": LOSS_NAMES[o[p + "loss_agg_mode"]],
                "num_generations": n, "beta": o[p + "kl_loss_coef"] if o[p + "use_kl_loss"] else 0.0,
                "epsilon": o[p + "clip_ratio_low"], "temperature": o["actor_rollout_ref.rollout.temperature"],
                "top_p": o["actor_rollout_ref.rollout.top_p"], "top_k": max(0, o["actor_rollout_ref.rollout.top_k"]),
                "max_completion_length": o["data.max_response_length"],
                # grad accumulation = micro-batches per optimiser step (sequences per GPU / micro batch)
                "grad_accum": per_gpu // o[p + "ppo_micro_batch_size_per_gpu"],
                "attn_implementation": o.get(ATTN_KEY, FLASH),
                # verl's LoraConfig has no dropout (recipe_problems refuses an explicit one)
                **({"lora_dropout": 0.0} if o["actor_rollout_ref.model.lora_rank"] else {})}


def hydra_dict(value: Any) -> dict[str, Any]:
    """``{eps:1e-06}`` (Hydra's dict syntax, which YAML reads differently) -> {"eps": 1e-06}."""
    if isinstance(value, dict) and all(v is None for v in value.values()) and len(value) == 1:
        value = "{" + next(iter(value)) + "}"      # YAML read {eps:1e-06} as one key
    items = str(value).strip("{}").split(",")
    return {k.strip(): scalar(v.strip()) for k, v in (i.split(":", 1) for i in items)}


def _rebuild_image(entry: dict[str, Any], mode: str, px) -> dict[str, Any]:
    """An exported image entry in ``mode`` with the bounds of ``px``."""
    if mode == "paths":
        if not entry.get("image"):
            raise BridgeError("verl: this export embeds image bytes and has no paths to switch back to",
                              hint="re-export with images: paths")
        return {"image": entry["image"], "min_pixels": px.min_pixels, "max_pixels": px.max_pixels}
    data = entry.get("bytes") or Path(entry["image"]).read_bytes()
    return {"bytes": data, "min_pixels": px.min_pixels, "max_pixels": px.max_pixels}
