"""VLM-R1 adapter (om-ai-lab/VLM-R1, GitHub only; GRPO via its ``src/open_r1/grpo_jsonl.py`` under torchrun).
Facts: docs/backends.md ("VLM-R1") and VLM-R1's ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py`` /
``trainer/grpo_trainer.py`` (https://github.com/om-ai-lab/VLM-R1). The checkout (a full clone or its
``src/open-r1-multimodal`` folder, :mod:`.checkout`) is ``backends.vlmr1.root``, else the one its environment was
built from (``bridge env install vlmr1 --checkout PATH``).

Export (``bridge convert --backend vlmr1 --method grpo``)::

    OUT/train.jsonl          {"id", "image": [paths relative to the image folder], "conversations":
                               [{"from": "human", "value": "<image>…prompt"}, {"from": "gpt", "value": target}],
                              "ground_truth": "<canonical GroundTruth JSON>"}
    OUT/export.json          the ExportResult (written by bridge convert / run); meta.image_folder = the folder
                             the image paths are relative to

* VLM-R1 reads only ``conversations[0]`` and ``[1]``, deletes every ``<image>`` from the human text and puts the
  images before it: it has no system prompt and no multi-turn. The export folds the system prompt into the human
  turn — message texts joined by a newline, exactly :attr:`bridge.samples.Sample.prompt_text` — so after VLM-R1
  strips the markers its ``problem`` is the prompt text every other backend shows. A prompt with earlier
  assistant turns (multi-turn styles) cannot be folded without losing its roles and is refused.
* VLM-R1 wraps its question template around ``problem`` ("{Question} First output the thinking process …");
  the launcher replaces it with ``{Question}`` so the text stays identical (``--keep-question-template`` keeps it).
* The ground truth travels as the extra ``ground_truth`` column (VLM-R1 hands every column to reward functions);
  the ``gpt`` value is the style's target (VLM-R1 turns it into ``solution``; bridge rewards do not read it).
* Images are zero-copy: paths relative to the common folder of the dataset's screenshots.

Launch: ``python -m torch.distributed.run … -m bridge.backends.vlmr1.launcher --root <checkout> --reward-spec …
-- <grpo_jsonl.py arguments>``; the launcher registers bridge rewards into VLM-R1's ``reward_funcs_registry``
and calls its ``main``.

* CPU (smoke runs, tests): fp32 (``--torch_dtype float32``, which the launcher hands to the trainer), ``--use_cpu``,
  sdpa attention (the launcher's choice without flash-attn). A model directory written by transformers 5 (the tiny
  models) is read through a transformers-4 view (:mod:`.tf4`) in the run folder, named so that VLM-R1's
  name-based class choice finds it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from ...errors import BridgeError, Problem
from ...frames import effective_pixels
from ...recipe import Recipe, batch_plan, model_family, optimizer_settings, reward_spec
from ...rewards import hooks
from ...rewards.spec import DEFAULT_SPEC, build_scorer
from ...tracking import TENSORBOARD_DIR, tracking_env
from ..base import Adapter, Capabilities, ExportResult, LaunchSpec
from ..common import (encode_row, export_dir, gpu_count, node_rank, pixels_for, read_jsonl, resolved_model, staged,
                      text_messages)
from ..logs import hf_plan
from ..verl.logs import scalar
from . import tf4
from .checkout import CheckoutError, merged_requirements, project_dir

if TYPE_CHECKING:
    from ...samples import Sample

TRAIN_FILE = "train.jsonl"
ARGS_FILE = "vlmr1_args.json"
SPEC_FILE = "vlmr1_rewards.json"
GT_COLUMN = "ground_truth"
#: where grpo_jsonl.py lives inside a VLM-R1 clone (or, without the prefix, inside its src/open-r1-multimodal)
SCRIPT = Path("src/open-r1-multimodal/src/open_r1/grpo_jsonl.py")
#: DeepSpeed configs, relative to the open-r1-multimodal folder
DEEPSPEED = {"zero2": "local_scripts/zero2.json", "zero3": "local_scripts/zero3.json"}
#: VLM-R1 picks its VLM module and model class from the model path's name (grpo_jsonl.py:919-925,
#: vlm_modules/qwen_module.py:17-22): a Qwen path must contain one of these
MODEL_NAMES = ("Qwen2-VL", "Qwen2.5-VL")
TORCH_DTYPE = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
#: reward function registered by the launcher: the weighted total of the recipe's spec (= every backend's score)
REWARD_FUNC = "bridge"
SMOKE_REWARD = "smoke_aux"
LAUNCHER = "bridge.backends.vlmr1.launcher"
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


def human_value(sample: "Sample", file: str, line: int) -> tuple[str, list[Problem]]:
    """The folded human turn: every prompt message's content (``<image>`` where the style put an image), messages
    joined by a newline. Removing the markers gives ``sample.prompt_text`` exactly."""
    messages, problems = text_messages(sample, file, line)
    prompt = messages[:-1]
    for i, m in enumerate(prompt):
        if m["role"] == "assistant":
            problems.append(Problem(file, "VLM-R1 reads one human turn: a prompt with earlier assistant turns "
                                    "(multi-turn history) cannot be folded into it; use history 0 or another style",
                                    line=line, record=sample.id, field=f"messages[{i}]"))
            break
    return "\n".join(m["content"] for m in prompt), problems


def image_folder(paths: Iterable[str]) -> str:
    """The deepest folder containing every image (VLM-R1 joins each relative path to it)."""
    folder = FolderOf()
    for p in paths:
        folder.add(p)
    return folder.path


class FolderOf:
    """The common folder of the images seen so far, in constant memory: ``os.path.commonpath`` of every image's
    folder (commonpath is associative), recomputed only when a folder outside the current one appears."""

    def __init__(self) -> None:
        self.common: Optional[str] = None
        self._last = None

    def add(self, path: str) -> None:
        d = os.path.dirname(path)
        if d == self._last:
            return
        self._last = d
        c = self.common
        if c is None:
            self.common = os.path.commonpath([d])
        elif not (d == c or d.startswith(c + "/") or c == "/"):
            self.common = os.path.commonpath([c, d])

    @property
    def path(self) -> str:
        return "/" if self.common is None else self.common


def relative_to(folder: str):
    """``os.path.relpath(p, folder)`` for the images (under ``folder``): a slice for normalised paths."""
    cut = 1 if folder == "/" else len(folder) + 1

    def rel(p: str) -> str:
        if p.startswith(folder) and p[cut - 1:cut] == "/" and os.path.normpath(p) == p:
            return p[cut:]
        return os.path.relpath(p, folder)
    return rel


def _relocate_images(src, dst, folder: str) -> None:
    """Second pass of the streamed export: each line's absolute ``image`` list (written second, after ``id``)
    made relative to ``folder``, the rest of the line copied as is (so the bytes equal one json.dumps)."""
    decode, rel = json.JSONDecoder().raw_decode, relative_to(folder)
    key = ', "image": '
    for line in src:
        _, end = decode(line, 7)                  # '{"id": ' then the id string
        images, stop = decode(line, end + len(key))
        dst.write(line[:end] + key + encode_row([rel(p) for p in images]) + line[stop:])


class VlmR1Adapter(Adapter):
    name = "vlmr1"
    methods = frozenset({"grpo"})
    version = "1"
    families = {"qwen2_vl": frozenset({"grpo"}), "qwen2_5_vl": frozenset({"grpo"})}
    family_gaps = {"qwen3_vl": "VLM-R1 pins transformers 4.49.0 (requirements.txt), which has no Qwen3-VL "
                               "(Qwen3VLForConditionalGeneration arrived in transformers 4.57)"}
    tested = True    # make test builds its environment from ../shared/vendor/vlm-r1 (Makefile VLMR1_CHECKOUT)
    needs_checkout = True
    gaps = {"check": "no in-environment check script: tests/test_vlmr1.py runs VLM-R1's own grpo_jsonl.py (reading, "
                     "registration, a 2-step GRPO smoke run) instead",
            "readback": "its LoRA targets every Linear outside `visual` (trainer/grpo_trainer.py:258-276), so the "
                        "conformance read-back (LoRA on the vision tower too) cannot be honoured; "
                        "tests/test_vlmr1.py reads its language-model-only adapter back"}
    description = "VLM-R1 (GitHub): conversations JSONL + grpo_jsonl.py under torchrun, bridge rewards registered"
    packages = ("transformers", "trl", "torch", "peft", "accelerate", "deepspeed", "datasets", "flash-attn")

    @classmethod
    def env_requirements(cls, checkout: Path) -> list[str]:
        """The checkout's setup.py install_requires with requirements.txt's overrides (:mod:`.checkout`)."""
        try:
            return merged_requirements(checkout, cls.requirements_file().read_text(encoding="utf-8"))
        except CheckoutError as e:
            raise BridgeError(f"vlmr1: {e}", hint="--checkout / backends.vlmr1.root: a clone of "
                                                  "https://github.com/om-ai-lab/VLM-R1 or its src/open-r1-multimodal")

    capabilities = Capabilities(
        finetune=("full", "lora"),
        lora_vision=False,            # its LoRA targets every Linear outside `visual` (user targets are ignored)
        train_vision_tower=True,      # full fine-tuning trains `visual` unless --freeze_vision_modules
        train_projector=True,
        freeze_language_model=False,
        explicit_targets=False,
        multi_image=True,
        system_prompt=False,          # folded into the human turn by the export
        precision=("fp32", "bf16", "fp16"), gradient_checkpointing=True, deepspeed=("zero2", "zero3"),
        multi_node="torchrun", cpu=True, rollout_engines=("hf",),
        grpo_loss_types=("grpo",),    # fixed in VLMGRPOTrainer.compute_loss: token mean per completion, then mean
        grpo_max_prompt_length=False,  # its trainer forces max_prompt_length to None
        grpo_epsilon_high=True, grpo_top_p=False, requires_gpu=False,
        # its GenerationConfig(do_sample=True, temperature=1) keeps transformers' default top_k=50
        # (trainer/grpo_trainer.py:373-378); the other backends sample from the whole vocabulary
        grpo_top_k=50,
        # one tracker: its transformers 4.49 parses --report_to as a single string (HfArgumentParser on a Union)
        trackers=("tensorboard",))

    #: what VLM-R1's grpo_jsonl.py does with our rows (grpo_jsonl.py:1002-1008; docs/backends.md "VLM-R1")
    prompt_layout = {"prompt_images": "all before the text, one user turn",
                     "system_prompt": "the chat template's default (You are a helpful assistant.); the style's "
                                      "in the user text"}

    # -- recipe rules beyond the capability table ----------------------------------------------------------------
    def recipe_problems(self, recipe: Recipe, file: str = "<recipe>") -> list[Problem]:
        out = super().recipe_problems(recipe, file)

        def bad(field: str, msg: str, expected: Any = None, found: Any = None) -> None:
            out.append(Problem(file, f"vlmr1: {msg}", field=field,
                               expected=None if expected is None else str(expected), found=found))

        ft, parts = recipe.finetune, recipe.finetune.train
        if ft.type == "full" and parts.vision_tower != parts.projector:
            bad("finetune.train", "--freeze_vision_modules freezes every parameter under `visual` (tower and "
                "merger together)", "vision_tower == projector", parts.model_dump())
        if ft.type == "lora" and parts.projector:
            bad("finetune.train.projector", "LoRA never touches `visual` (merger included)", "false", True)
        g = recipe.grpo
        if g is not None and g.temperature != 1.0:
            bad("grpo.temperature", "VLMGRPOTrainer samples with a fixed GenerationConfig(temperature=1)", 1.0,
                g.temperature)
        named = any(n in recipe.model for n in MODEL_NAMES)
        if not recipe.is_tiny and not named and not tf4.needs_view(recipe.model):
            bad("model", "VLM-R1 picks the model class from the model path's name (its "
                "vlm_modules/qwen_module.py:17-22); name the folder after the model", " or ".join(MODEL_NAMES),
                recipe.model)
        return out

    # -- export -----------------------------------------------------------------------------------------------
    def export(self, samples: Iterable["Sample"], out: Path, method: str, recipe: Optional[Recipe]) -> ExportResult:
        if method not in self.methods:
            raise BridgeError(f"vlmr1: method {method!r} not supported (VLM-R1 trains with GRPO: --method grpo)")
        out = Path(out).resolve()
        file = str(out / TRAIN_FILE)
        problems: list[Problem] = []
        px = style = None
        n = images = 0
        folder = FolderOf()
        # Streamed (issue 16): rows go to a first file with absolute image paths while the common image folder
        # is learnt; a second pass makes the paths relative to it. Memory stays constant in the sample count.
        first = out / (TRAIN_FILE + ".abs")
        with export_dir(out):
            with staged(first) as f:
                for n, s in enumerate(samples, 1):
                    human, bad = human_value(s, file, n)
                    problems += bad
                    if px is None:
                        px, style = pixels_for(recipe, s.ground_truth.frame), s.ground_truth.style
                    for p in s.images:
                        folder.add(p)
                    images += len(s.images)
                    if not problems:
                        f.write(encode_row({"id": s.id, "image": s.images, "conversations": [
                            {"from": "human", "value": human}, {"from": "gpt", "value": s.target}],
                            GT_COLUMN: s.ground_truth.to_json()}) + "\n")
                if problems:
                    raise BridgeError(f"{len(problems)} problem(s): these samples cannot be exported for VLM-R1",
                                      problems=problems)
                if not n:
                    raise BridgeError("no samples to export (empty dataset, or the style refused every step)")
                if ":" in folder.path or ":" in str(out):
                    raise BridgeError(f"vlmr1: VLM-R1 splits --image_folders and --data_file_paths on ':'; "
                                      f"rename the folder ({folder.path if ':' in folder.path else out})")
            try:
                with open(first, encoding="utf-8", newline="\n") as src, staged(out / TRAIN_FILE) as dst:
                    _relocate_images(src, dst, folder.path)
            finally:
                first.unlink(missing_ok=True)
        result = ExportResult(out=out, method=method, files={"train": out / TRAIN_FILE}, samples=n,
                              meta={"backend": self.name, "style": style, "image_folder": folder.path,
                                    "images": images,
                                    "model": recipe.model if recipe else None,
                                    "pixels": px.to_dict() if px else None})
        return result

    # -- config -----------------------------------------------------------------------------------------------
    def root(self, recipe: Recipe) -> Path:
        """The user's VLM-R1 checkout: ``backends.vlmr1.root``, else the one its environment was built from;
        checked to hold grpo_jsonl.py (either layout)."""
        from ...envs import env_checkout

        root = recipe.backend(self.name).root or env_checkout(self.name)
        if not root:
            raise BridgeError("vlmr1: the recipe does not say where VLM-R1 is checked out",
                              hint="git clone https://github.com/om-ai-lab/VLM-R1 and set backends.vlmr1.root: "
                                   "/path/to/VLM-R1 in the recipe (or bridge env install vlmr1 --checkout PATH)")
        try:
            project_dir(root)
        except CheckoutError as e:
            raise BridgeError(f"vlmr1: {e}", hint="backends.vlmr1.root: a clone of om-ai-lab/VLM-R1 or its "
                                                  "src/open-r1-multimodal folder") from None
        return Path(root)

    def script_args(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> list[str]:
        """grpo_jsonl.py's command line (TrlParser over its script, GRPOConfig and model arguments)."""
        model = resolved_model(recipe)
        px = effective_pixels(model, recipe.data.min_pixels, recipe.data.max_pixels,
                              model_family(model) or recipe.model_family())
        if tf4.needs_view(model):   # a transformers-5 folder (tiny model): its transformers-4 files (module doc)
            model = str(tf4.write_view(model, Path(run_dir) / "model"))
        g, t, ft, d = recipe.grpo, recipe.train, recipe.finetune, recipe.distributed
        if g is None:
            raise BridgeError("vlmr1: the recipe has no grpo section (VLM-R1 trains with GRPO: method: grpo)")
        folders = [export.meta.get("image_folder", "/")]
        data = [str(export.files["train"])]
        prec = t.precision
        args: dict[str, Any] = {
            "model_name_or_path": model, "dataset_name": "not_used",   # TRL's ScriptArguments requires it
            "data_file_paths": ":".join(data), "image_folders": ":".join(folders),
            # smoke runs add TRL's dense smoke_aux (registered by the launcher's --smoke), summed with weight 1 as in TRL
            "reward_funcs": [REWARD_FUNC, *([SMOKE_REWARD] if export.meta.get("smoke") else [])],
            # the processor's resize bounds = the resize policy, so its grid is smart_resize(h, w, factor, min, max)
            "min_pixels": px.min_pixels, "max_pixels": px.max_pixels,
            "output_dir": str(self.output_dir(run_dir)),
            "num_generations": g.num_generations, "max_completion_length": g.max_completion_length,
            "beta": g.beta, "epsilon": g.epsilon, "temperature": g.temperature, "use_vllm": False,
            # its TRL 0.17 fork counts completions per device: prompts x num_generations (see bridge.recipe)
            "learning_rate": t.lr, "per_device_train_batch_size": batch_plan(recipe)["per_device_samples"],
            "gradient_accumulation_steps": t.grad_accum, "lr_scheduler_type": t.scheduler,
            "warmup_ratio": t.warmup_ratio, **optimizer_settings(recipe),
            "seed": t.seed, "bf16": prec == "bf16", "fp16": prec == "fp16",
            # the model's load dtype (its trainer defaults to bfloat16; the launcher passes this one on)
            "torch_dtype": TORCH_DTYPE.get(prec, "bfloat16"),
            "gradient_checkpointing": t.gradient_checkpointing, "logging_steps": t.logging_steps,
            "report_to": (list(t.report_to) or ["none"])[0], "remove_unused_columns": False,
            "save_strategy": {"end": "no", "no": "no"}.get(t.save.strategy, t.save.strategy),
            "freeze_vision_modules": not ft.train.vision_tower,
        }
        if "tensorboard" in t.report_to:   # its transformers 4.49 reads logging_dir, not TENSORBOARD_LOGGING_DIR
            args["logging_dir"] = str(Path(run_dir) / TENSORBOARD_DIR)
        if t.device == "cpu":
            args["use_cpu"] = True
        if g.epsilon_high is not None:
            args["epsilon_high"] = g.epsilon_high
        if t.max_steps is not None:
            args["max_steps"] = t.max_steps
        else:
            args["num_train_epochs"] = t.num_epochs
        if t.save.steps is not None:
            args["save_steps"] = t.save.steps
        if t.save.total_limit is not None:
            args["save_total_limit"] = t.save.total_limit
        if ft.type == "lora":
            args.update(use_peft=True, lora_r=ft.rank, lora_alpha=ft.lora_alpha, lora_dropout=ft.dropout)
        if d.deepspeed != "none":
            args["deepspeed"] = str(project_dir(self.root(recipe)) / DEEPSPEED[d.deepspeed])
        args.update(recipe.backend(self.name).overrides)
        return cli_args(args)

    def render_config(self, recipe: Recipe, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        argv = self.script_args(recipe, export, run_dir)
        path = run_dir / ARGS_FILE
        path.write_text(json.dumps({"vlmr1_root": str(self.root(recipe)), "script": str(SCRIPT),
                                    "reward_funcs": [REWARD_FUNC], "args": argv}, indent=2) + "\n",
                        encoding="utf-8")
        return {"args": path, "rewards": self.reward_hook(recipe, run_dir)}

    def reward_hook(self, recipe: Recipe, run_dir: Path) -> Optional[Path]:
        """The canonical reward spec the launcher registers (``bridge`` = weighted total, ``bridge_<key>`` each)."""
        path = Path(run_dir) / SPEC_FILE
        path.write_text(json.dumps(build_scorer(reward_spec(recipe) or DEFAULT_SPEC).to_list(), indent=2) + "\n",
                        encoding="utf-8")
        return path

    def command(self, recipe: Recipe, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        run_dir = Path(run_dir)
        spec = json.loads((run_dir / ARGS_FILE).read_text(encoding="utf-8"))
        d = recipe.distributed
        rank = node_rank(d)
        argv = [python, "-m", "torch.distributed.run", "--nnodes", str(d.nnodes), "--nproc_per_node",
                str(d.nproc_per_node), "--node_rank", str(rank), "--master_addr", d.master_addr,
                "--master_port", str(d.master_port),
                "-m", LAUNCHER, "--root", spec["vlmr1_root"],
                "--reward-spec", str(run_dir / SPEC_FILE), "--resolved", str(run_dir / "vlmr1_resolved.json"),
                *(["--smoke"] if export.meta.get("smoke") else []), "--", *spec["args"]]
        env = {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1", **tracking_env(recipe, run_dir)}
        if Path(resolved_model(recipe)).is_dir():
            env["HF_HUB_OFFLINE"] = "1"   # a local model never needs the hub (and smoke runs must not touch it)
        return LaunchSpec(argv, env=env, cwd=run_dir)

    def preflight(self, recipe: Recipe, python: str) -> None:
        if recipe.train.device == "cuda" and gpu_count() == 0:
            raise BridgeError("train.device is cuda and this machine has no GPU. Nothing was launched.",
                              hint="run it on a GPU machine, or train.device: cpu (fp32, sdpa attention)")
        self.root(recipe)

    # -- metrics and read-back ------------------------------------------------------------------------------------
    def metrics_log(self, run_dir: Path) -> Optional[Path]:
        return self.output_dir(run_dir) / "trainer_state.json"

    def read_export(self, export: ExportResult) -> dict[str, dict[str, Any]]:
        """VLM-R1 reads ``conversations[0]`` and ``[1]`` only, deletes every ``<image>`` and joins each image path
        to the image folder."""
        folder = export.meta["image_folder"]
        return {r["id"]: {"prompt_text": r["conversations"][0]["value"].replace("<image>", ""),
                          "images": [os.path.join(folder, p) for p in r["image"]],
                          "ground_truth": r[GT_COLUMN], "row": r} for r in read_export(export.files["train"])}

    def hook_scores(self, row: dict[str, Any], completions: list[str]) -> list[float]:
        """``completions[i][0]["content"]``, the gpt value wrapped as ``solution``, the other columns as kwargs."""
        n = len(completions)
        human, gpt = row["conversations"]
        cols = {"image_path": [[]] * n, "problem": [human["value"].replace("<image>", "")] * n, "id": [row["id"]] * n,
                "accu_reward_method": ["default"] * n, GT_COLUMN: [row[GT_COLUMN]] * n}
        return hooks.vlmr1_reward_funcs()["bridge"]([[{"role": "assistant", "content": t}] for t in completions],
                                                    [f"<answer> {gpt['value']} </answer>"] * n, **cols)

    def read_config(self, files: dict[str, Path], recipe: Recipe) -> dict[str, Any]:
        """grpo_jsonl.py's argument list as HfArgumentParser converts it (int, float, else YAML)."""
        argv = json.loads(Path(files["args"]).read_text(encoding="utf-8"))["args"]
        a: dict[str, Any] = {}
        key = None
        for tok in argv:
            if tok.startswith("--"):
                key = tok[2:]
                a[key] = None
            elif key is not None:
                a[key] = tok if a[key] is None else [*a[key], tok] if isinstance(a[key], list) else [a[key], tok]
        conv = {k: scalar(v) if isinstance(v, str) else v for k, v in a.items()}
        conv["loss_type"] = "grpo"   # fixed in VLMGRPOTrainer.compute_loss (its only loss; capability grpo only)
        conv["top_k"] = self.caps().grpo_top_k   # fixed in its GenerationConfig (capabilities above)
        gens = recipe.grpo.num_generations if recipe.grpo else 1
        return hf_plan(conv, recipe.distributed.world_size, gens)


def cli_args(args: dict[str, Any]) -> list[str]:
    """``{"lora_r": 8, "reward_funcs": ["a", "b"], "use_peft": True}`` -> ``--lora_r 8 --reward_funcs a b
    --use_peft true`` (HfArgumentParser's syntax: booleans as words, lists as separate values)."""
    out: list[str] = []
    for k, v in args.items():
        if v is None:
            continue
        out.append(f"--{k}")
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (list, tuple)):
            out += [str(x) for x in v]
        else:
            out.append(str(v))
    return out


def read_export(path: Path) -> list[dict[str, Any]]:
    """The rows of a VLM-R1 export (for checks and tests)."""
    return read_jsonl(Path(path))
