"""ms-swift 4.6.0 adapter (SFT via ``swift sft``, GRPO via ``swift rlhf --rlhf_type grpo``). Facts:
docs/backends.md ("ms-swift"), checked against the installed 4.6.0 wheel (``swift/cli/main.py``,
``swift/arguments``, ``swift/template/base.py``).

Export (``bridge convert --backend swift [--method grpo]``)::

    OUT/train.jsonl         {"id", "messages": [{"role", "content"}...], "images": [absolute paths]
                             (+ "chat_template_kwargs": {"min_pixels", "max_pixels"} when needed, see below)
                             (+ GRPO: "ground_truth": "<canonical GroundTruth JSON>")}
    OUT/export.json         the ExportResult (written by bridge convert / bridge run; read by bridge check)

* One literal ``<image>`` per image, in order (same text as the LLaMA-Factory export).
* Resize policy: ms-swift resizes every image with ``qwen_vl_utils.fetch_image`` (smart_resize with the row's
  ``chat_template_kwargs`` min/max_pixels, else IMAGE_MIN/MAX_TOKEN_NUM x factor^2, which ms-swift derives from
  MIN_PIXELS/MAX_PIXELS by integer division) and then calls the processor with ``do_resize=False``. We set the
  environment; when a bound is not a whole number of tokens the rows also carry the exact bounds. Either way its
  grid equals ``smart_resize(h, w, factor, min, max)``. ``--max_pixels`` is NOT passed: it pre-shrinks the image
  (int-truncated torchvision resize) before fetch_image, which can change the grid.
* Earlier assistant turns in a prompt (multi-turn styles) carry ``"loss": false``: only the target trains.
* GRPO rows are the SFT rows plus ``ground_truth``: ms-swift drops a trailing assistant turn before generating
  (``remove_response``) and passes every extra column to the reward (ORM) as a keyword, one entry per completion.

Config: ``swift sft swift_sft.yaml`` / ``swift rlhf swift_grpo.yaml`` (ms-swift reads an args YAML; its ``ENV``
block sets environment variables) rendered from ``templates/{sft,grpo}.yaml.j2``.

GRPO rewards: ``swift_reward.py`` (from ``templates/reward_plugin.py.j2``, importing ``reward_plugin.py`` here) pins the run's reward spec and
registers in ``swift.rewards.orms`` one ORM per component, ``bridge_<key>`` (unweighted); the config passes it with
``external_plugins`` and lists them in ``reward_funcs`` with the spec's weights as ``reward_weights``, so ms-swift
applies the weights and logs each component as ``rewards/bridge_<key>/mean``. Smoke runs add the TRL launcher's
dense auxiliary reward (``smoke_aux``, logged under that name as in TRL) so a random tiny model gets non-zero advantages.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import yaml

from ...errors import BridgeError, Problem
from ...frames import Pixels
from ...recipe import Recipe, batch_plan, reward_spec
from ...rewards import hooks
from ...rewards.hooks import _identifier
from ...rewards.spec import DEFAULT_SPEC, build_scorer
from ...tracking import TRACKERS, tracking_env
from ..base import Adapter, Capabilities, ExportResult, LaunchSpec
from ..common import (TRAIN_FILE, apply_overrides, cpu_env, export_rows, model_family, on_cpu, optimizer_items,
                      pixels_for, policy_pixels, precision, resolved_model, resume_hf_yaml, torchrun_env)
from ..logs import hf_plan

if TYPE_CHECKING:
    from ...samples import Sample

#: ``top_k`` for sampling from the whole vocabulary with the transformers engine: ms-swift turns a top_k <= 0 into
#: None (swift/infer_engine/utils.py ``prepare_generation_config``) and fills every None from the model's
#: generation_config (then transformers does too, generation/utils.py ``_prepare_generation_config``) — top_k 1
#: in Qwen2-VL-7B-Instruct's generation_config.json, i.e. every completion of a group greedy. transformers keeps
#: min(top_k, vocabulary) tokens, so any k above every vocabulary is exactly "no top-k".
WHOLE_VOCABULARY = 1 << 20

#: model family -> (--model_type, --template); a local directory needs both (template auto-match is ambiguous)
MODEL_TYPES = {"qwen2_vl": ("qwen2_vl", "qwen2_vl"), "qwen2_5_vl": ("qwen2_5_vl", "qwen2_5_vl"),
               "qwen3_vl": ("qwen3_vl", "qwen3_vl")}
#: module-name prefixes of the trainable parts (transformers 5 Qwen-VL layout), for explicit LoRA targets
PART_PREFIXES = {"language_model": r"language_model", "vision_tower": r"visual\.(?:blocks|patch_embed)",
                 "projector": r"visual\.merger"}
DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
#: ``loss_type`` values ms-swift 4.6.0's GRPO loss accepts (``rlhf_trainers/grpo_trainer.py``)
SWIFT_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "real", "fipo")
CONFIGS = {"sft": "swift_sft.yaml", "grpo": "swift_grpo.yaml"}
PLUGIN_FILE = "swift_reward.py"
SMOKE_REWARD = "smoke_aux"   # the TRL launcher's function name: both backends log reward/smoke_aux


def target_regex(targets: list[str], parts) -> str:
    """PEFT full-match regex: modules named like one of ``targets`` inside the parts that train only."""
    scopes = "|".join(PART_PREFIXES[p] for p in ("language_model", "vision_tower", "projector") if getattr(parts, p))
    names = "|".join(re.escape(t) for t in targets)
    return rf"^(?:.*\.)?(?:{scopes})\.(?:.*\.)?(?:{names})$"


def token_exact(px: Pixels) -> bool:
    """Whether MIN/MAX_PIXELS reach qwen_vl_utils exactly: ms-swift passes them on as whole-token counts."""
    return px.min_pixels % px.factor ** 2 == 0 and px.max_pixels % px.factor ** 2 == 0


def pixel_env(px: Pixels) -> dict[str, str]:
    """The policy's bounds for ms-swift: MAX/MIN_PIXELS, and the token counts it derives from them (set
    explicitly so a stray IMAGE_MAX_TOKEN_NUM in the user's environment cannot win)."""
    f2 = px.factor ** 2
    return {"MAX_PIXELS": str(px.max_pixels), "MIN_PIXELS": str(px.min_pixels),
            "IMAGE_MAX_TOKEN_NUM": str(px.max_pixels // f2), "IMAGE_MIN_TOKEN_NUM": str(-(-px.min_pixels // f2))}


def reward_funcs(spec: list[dict[str, Any]], smoke: bool) -> tuple[list[str], list[float]]:
    """``(reward_funcs, reward_weights)``: the ``bridge_<key>`` ORM of each spec component (as registered by
    :func:`bridge.backends.swift.reward_plugin.register_orms`) with its weight; smoke runs add the dense auxiliary
    one."""
    comps = build_scorer(spec).components
    names, weights = ["bridge_" + _identifier(c.key) for c in comps], [float(c.weight) for c in comps]
    if smoke:
        names, weights = [*names, SMOKE_REWARD], [*weights, 1.0]
    return names, weights


class SwiftAdapter(Adapter):
    name = "swift"
    version = "3"   # export format (bump on change: part of the export cache key)
    methods = frozenset({"sft", "grpo"})
    #: ms-swift 4.6.0 registers model_type and template qwen2_vl, qwen2_5_vl and qwen3_vl (MODEL_TYPES)
    families = {f: frozenset({"sft", "grpo"}) for f in MODEL_TYPES}
    description = "ms-swift 4.6.0: messages + images JSONL, swift sft / swift rlhf --rlhf_type grpo args YAML"
    packages = ("ms-swift", "transformers", "torch", "peft", "trl", "accelerate", "datasets", "qwen-vl-utils")
    capabilities = Capabilities(
        finetune=("full", "lora"), lora_vision=True, train_vision_tower=True, train_projector=True,
        freeze_language_model=True, explicit_targets=True, multi_image=True, system_prompt=True,
        precision=("fp32", "bf16", "fp16"), gradient_checkpointing=True, deepspeed=("zero2", "zero3"),
        multi_node="torchrun", cpu=True, rollout_engines=("hf", "vllm"), grpo_loss_types=SWIFT_LOSS_TYPES,
        grpo_max_prompt_length=True,   # GRPO's max_length bounds the prompt (completions: max_completion_length)
        grpo_epsilon_high=True, grpo_top_p=True, trackers=TRACKERS, resume=True)

    # -- recipe rules beyond the capability table ----------------------------------------------------------------
    def recipe_problems(self, recipe: Recipe, file: str = "<recipe>") -> list[Problem]:
        out = super().recipe_problems(recipe, file)
        g = recipe.grpo
        if recipe.method != "grpo" or g is None:
            return out

        def bad(field: str, msg: str, expected: Any = None, found: Any = None) -> None:
            out.append(Problem(file, f"{self.name}: {msg}", field=field,
                               expected=None if expected is None else str(expected), found=found))

        t = recipe.train
        if t.max_length is not None:
            bad("train.max_length", "GRPO has no total-length limit; bound the prompt with grpo.max_prompt_length "
                "and the completion with grpo.max_completion_length", "unset", t.max_length)
        if g.rollout.engine == "vllm" and t.device == "cpu":
            bad("grpo.rollout.engine", "the vLLM rollout needs a GPU (train.device is cpu)", "hf", "vllm")
        return out

    # -- export -----------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe]) -> ExportResult:
        if method not in self.methods:
            raise BridgeError(f"swift: method {method!r} not supported", hint="methods: sft, grpo")
        out = Path(out).resolve()
        holder: dict[str, Any] = {}

        def row(s: "Sample", messages: list[dict[str, Any]]) -> dict[str, Any]:
            if "px" not in holder:   # the policy's bounds: the style frame's (recipe's or style defaults)
                holder["px"] = pixels_for(recipe, s.ground_truth.frame)
            px = holder["px"]
            msgs = [dict(m, loss=False) if m["role"] == "assistant" and i < len(messages) - 1 else m
                    for i, m in enumerate(messages)]
            out_row = {"id": s.id, "messages": msgs, "images": list(s.images)}
            if not token_exact(px):   # only then does the data depend on the bounds (keeps exports model-free)
                out_row["chat_template_kwargs"] = {"min_pixels": px.min_pixels, "max_pixels": px.max_pixels}
            if method == "grpo":      # an extra column: ms-swift hands it to every ORM call
                out_row["ground_truth"] = s.ground_truth.to_json()
            return out_row

        n, info = export_rows(samples, out, row)
        px = holder["px"]
        result = ExportResult(out=out, method=method, samples=n, files={"train": out / TRAIN_FILE},
                              meta={"backend": self.name, "style": info["style"], "images": info["images"],
                                    "model": recipe.model if recipe else None, "pixels": px.to_dict(),
                                    "frame": info["frame"].to_dict(), "row_pixels": not token_exact(px)})
        return result

    # -- config -----------------------------------------------------------------------------------------------
    def config_values(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> tuple[list, dict[str, str]]:
        """(sections of (key, value, comment), ENV block); overrides replace or extend keys."""
        model = resolved_model(recipe)
        family = model_family(recipe, model)
        overrides = dict(recipe.backend(self.name).overrides)
        mt = MODEL_TYPES.get(family or "")
        if mt is None and not ("model_type" in overrides and "template" in overrides):
            raise BridgeError(f"swift: no model_type/template known for model {recipe.model!r} (family {family})",
                              hint="set backends.swift.overrides.model_type and .template")
        model_type, template = mt or (overrides["model_type"], overrides["template"])
        px = policy_pixels(recipe, export)
        grpo = recipe.method == "grpo"
        ft, parts, tr = recipe.finetune, recipe.finetune.train, recipe.train
        prec = precision(recipe)
        model_sec: list = [("model", model, None), ("model_type", model_type, "local dirs need model_type + template"),
                           ("template", template, None), ("use_hf", True, "never query the ModelScope hub"),
                           ("torch_dtype", DTYPES[prec], "float32 on CPU" if on_cpu(recipe) else None),
                           ("fp16", prec == "fp16", "explicit: ms-swift turns fp16 on for float32 weights"),
                           ("bf16", prec == "bf16", None)]
        tuner: list = [("tuner_type", ft.type, None)]
        if ft.type == "lora":
            tuner += [("lora_rank", ft.rank, None), ("lora_alpha", ft.lora_alpha, None),
                      ("lora_dropout", ft.dropout, None)]
            if ft.target_modules == "all-linear":
                tuner.append(("target_modules", ["all-linear"], "LLM/ViT/aligner linears as the freeze flags allow"))
            else:
                tuner.append(("target_regex", target_regex(ft.target_modules, parts),
                              "explicit targets, restricted to the parts that train"))
        tuner += [("freeze_vit", not parts.vision_tower, None), ("freeze_aligner", not parts.projector, None),
                  ("freeze_llm", not parts.language_model, None)]
        if recipe.distributed.deepspeed != "none":
            tuner.append(("deepspeed", recipe.distributed.deepspeed, None))
        data: list = [("dataset", [str(export.files["train"])], None), ("split_dataset_ratio", 0.0, None),
                      ("strict", True, "raise on a malformed row instead of dropping it"),
                      ("dataset_num_proc", 1, None), ("dataloader_num_workers", 0, None),
                      ("dataset_shuffle", False, "no extra pre-shuffle with data_seed: the trainer's seeded sampler "
                       "alone orders the data, as in TRL and LLaMA-Factory (same first batch)")]
        if "eval" in export.files:
            data.append(("val_dataset", [str(export.files["eval"])], None))
        if grpo and recipe.grpo.max_prompt_length:
            data += [("max_length", recipe.grpo.max_prompt_length, "GRPO: bounds the prompt, image tokens included"),
                     ("truncation_strategy", "delete", "an over-long prompt is replaced by another sample (never cut "
                      "through image tokens)")]
        elif tr.max_length:
            data.append(("max_length", tr.max_length, None))
        save = tr.save
        output: list = [("output_dir", str(self.output_dir(run_dir)), None),
                        ("add_version", False, "write into output_dir itself (no v0-<time> subfolder)"),
                        ("logging_steps", tr.logging_steps, None),
                        ("save_strategy", {"end": "steps"}.get(save.strategy, save.strategy),
                         "ms-swift saves the final step only when a save strategy is on"),
                        ("report_to", list(recipe.train.report_to) or ["none"], None)]
        if save.strategy in ("steps", "end"):
            output.append(("save_steps", save.steps if save.strategy == "steps" else 10 ** 9,
                           None if save.strategy == "steps" else "end only: output/checkpoint-<last step>"))
        if save.total_limit:
            output.append(("save_total_limit", save.total_limit, None))
        if "eval" in export.files:   # once at the end of a max_steps run, else every epoch (as the TRL adapter)
            output += [("eval_strategy", "steps" if tr.max_steps else "epoch", None),
                       ("per_device_eval_batch_size", recipe.grpo.num_generations if grpo else tr.per_device_batch,
                        "one prompt's group of completions per device" if grpo else None)]
            if tr.max_steps:
                output.append(("eval_steps", tr.max_steps, None))
        plan = batch_plan(recipe)
        train: list = [("per_device_train_batch_size", plan["per_device_samples"],
                        f"completions per device: {tr.per_device_batch} prompt(s) x {recipe.grpo.num_generations} "
                        "generations (ms-swift counts completions)" if grpo else None),
                       ("gradient_accumulation_steps", tr.grad_accum, None), ("learning_rate", tr.lr, None)]
        train.append(("max_steps", tr.max_steps, None) if tr.max_steps else ("num_train_epochs", tr.num_epochs, None))
        train += [("lr_scheduler_type", tr.scheduler, None), ("warmup_ratio", tr.warmup_ratio, None)]
        train += [(k, v, "explicit: ms-swift 4.6 defaults to weight_decay 0.1, adam_beta2 0.95" if i == 0 else c)
                  for i, (k, v, c) in enumerate(optimizer_items(recipe))]
        train += [("seed", tr.seed, None), ("data_seed", tr.seed, "ms-swift shuffles with data_seed (default 42)"),
                  ("gradient_checkpointing", tr.gradient_checkpointing, None)]
        if on_cpu(recipe) and recipe.distributed.world_size > 1:
            # accelerate's PartialState makes a CPU torchrun MULTI_CPU (gloo) only when asked for the CPU
            # (accelerate/state.py _prepare_backend); without it transformers warns "parallel_mode !=
            # ParallelMode.DISTRIBUTED" and every process trains its own copy on its shard, no DDP
            train.append(("use_cpu", True, "CPU processes in one DDP group (gloo)"))
        sections = [("model", model_sec), ("tuner", tuner), ("data", data), ("output", output), ("train", train)]
        if grpo:
            sections = [("rlhf", [("rlhf_type", "grpo", None)])] + sections + self.grpo_sections(recipe, export,
                                                                                                  run_dir, px)
        if mt is None:
            overrides.pop("model_type", None)
        return apply_overrides(sections, overrides), pixel_env(px)

    def grpo_sections(self, recipe: Recipe, export: ExportResult, run_dir: Path, px) -> list:
        """The GRPO sections of ``swift_grpo.yaml``: algorithm, rewards (the generated plugin), rollout engine."""
        g = recipe.grpo
        algo: list = [("num_generations", g.num_generations, None),
                      ("beta", g.beta, "KL coefficient; 0 loads no reference model"),
                      ("epsilon", g.epsilon, None)]
        if g.epsilon_high is not None:
            algo.append(("epsilon_high", g.epsilon_high, None))
        algo += [("temperature", g.temperature, "explicit: ms-swift's default is 0.9"), ("top_p", g.top_p, None),
                 ("top_k", g.top_k or (-1 if g.rollout.engine == "vllm" else WHOLE_VOCABULARY),
                  None if g.top_k else "the whole vocabulary" + ("" if g.rollout.engine == "vllm" else ": -1 would "
                  "take the model's generation_config top_k (1 in Qwen2-VL-Instruct)")),
                 ("max_completion_length", g.max_completion_length, None),
                 ("loss_type", g.loss_type, None),
                 ("steps_per_generation", recipe.train.grad_accum, "one generation round per optimiser step"),
                 ("num_iterations", 1, None), ("scale_rewards", "group", None)]
        names, weights = reward_funcs(reward_spec(recipe) or DEFAULT_SPEC, bool(export.meta.get("smoke")))
        rewards: list = [("external_plugins", [str(Path(run_dir) / PLUGIN_FILE)],
                          "registers the bridge_<component> ORMs in swift.rewards.orms"),
                         ("reward_funcs", names, "one ORM per reward component: ms-swift logs each" +
                          ("; smoke_aux: smoke runs only (dense, so a random model's gradients are non-zero)"
                           if SMOKE_REWARD in names else "")),
                         ("reward_weights", weights, "the spec's weights, applied by ms-swift")]
        r = g.rollout
        if r.engine == "vllm":
            rollout: list = [("use_vllm", True, None), ("vllm_mode", "colocate", None),
                             ("vllm_gpu_memory_utilization", r.gpu_memory_utilization, None),
                             ("vllm_tensor_parallel_size", r.tensor_parallel_size, None),
                             ("vllm_engine_kwargs", {"mm_processor_kwargs": {"min_pixels": px.min_pixels,
                                                                              "max_pixels": px.max_pixels}},
                              "vLLM's processor gets the policy's bounds too (a resized image stays as it is)")]
            if recipe.data.prev_image:
                rollout.append(("vllm_limit_mm_per_prompt", {"image": 2}, "current + previous screenshot"))
        else:
            rollout = [("use_vllm", False, "generation with the training model (transformers generate)")]
        return [("grpo", algo), ("rewards", rewards), ("rollout", rollout)]

    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        sections, env = self.config_values(recipe, export, run_dir)
        path = run_dir / CONFIGS[recipe.method]
        path.write_text(self.render(f"{recipe.method}.yaml.j2", sections=sections, env=env, recipe=recipe.name,
                               path=str(path)), encoding="utf-8")
        files = {"config": path}
        if recipe.method == "grpo":
            files["reward"] = self.write_plugin(recipe, run_dir, bool(export.meta.get("smoke")))
        return files

    def write_plugin(self, recipe: Recipe, run_dir: Path, smoke: bool) -> Path:
        """``swift_reward.py``: the ``--external_plugins`` module pinning the run's reward spec (see module doc)."""
        spec = build_scorer(reward_spec(recipe) or DEFAULT_SPEC).to_list()
        names, _ = reward_funcs(spec, smoke)
        path = Path(run_dir) / PLUGIN_FILE
        path.write_text(self.render("reward_plugin.py.j2", recipe=recipe.name, names=names, smoke=smoke,
                               spec_json=repr(json.dumps(spec, sort_keys=True)), smoke_name=SMOKE_REWARD),
                        encoding="utf-8")
        return path

    def reward_hook(self, recipe: Recipe, run_dir: Path) -> Optional[Path]:
        """The plugin :meth:`render_config` wrote (it knows whether the run is a smoke run), else a fresh one."""
        path = Path(run_dir) / PLUGIN_FILE
        return path if path.is_file() else self.write_plugin(recipe, run_dir, smoke=False)

    def resume(self, run_dir: Path, configs: dict[str, Path], checkpoint: Path) -> None:
        resume_hf_yaml(configs["config"], checkpoint)

    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        cfg = Path(run_dir) / CONFIGS[recipe.method]
        # unbuffered: bridge times each step's log line as it arrives (runs.step_clock) and streams progress
        env = {**pixel_env(policy_pixels(recipe, export)), "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
               **torchrun_env(recipe),
               **tracking_env(recipe, run_dir), **cpu_env(recipe)}
        sub = "rlhf" if recipe.method == "grpo" else "sft"
        return LaunchSpec(argv=[python, "-m", "swift.cli.main", sub, str(cfg)], env=env, cwd=Path(run_dir))

    # -- metrics ----------------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return self.output_dir(run_dir) / "logging.jsonl"

    def read_export(self, export: ExportResult) -> dict[str, dict[str, Any]]:
        rows = [json.loads(x) for x in Path(export.files["train"]).read_text(encoding="utf-8").splitlines()]

        def prompt(messages: list[dict[str, Any]]) -> str:
            if messages and messages[-1]["role"] == "assistant":   # ms-swift GRPO drops a trailing assistant turn
                messages = messages[:-1]
            return "\n".join(m["content"] for m in messages).replace("<image>", "")

        return {r["id"]: {"prompt_text": prompt(r["messages"]), "images": r["images"],
                          "ground_truth": r.get("ground_truth"), "row": r} for r in rows}

    def hook_scores(self, row: dict[str, Any], completions: list[str]) -> list[float]:
        """The ORM body: completion strings, every extra column repeated per completion."""
        return hooks.swift_reward(completions, **{k: [v] * len(completions) for k, v in row.items()})

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        args = yaml.safe_load(Path(files["config"]).read_text(encoding="utf-8"))
        if args.get("top_k") in (-1, WHOLE_VOCABULARY):   # ms-swift's spellings of the whole vocabulary (above)
            args["top_k"] = 0
        gens = recipe.grpo.num_generations if recipe.method == "grpo" and recipe.grpo else 1
        return hf_plan(args, recipe.distributed.world_size, gens)
