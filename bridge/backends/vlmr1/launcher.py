"""VLM-R1 launcher: runs INSIDE the VLM-R1 environment (transformers 4.49, trl 0.17), one process per GPU (or CPU).

    python -m torch.distributed.run --nproc_per_node N ... -m bridge.backends.vlmr1.launcher \\
        --root /path/to/VLM-R1 --reward-spec run_dir/vlmr1_rewards.json [--resolved FILE] [--keep-question-template] \\
        [--smoke] -- <grpo_jsonl.py arguments>

VLM-R1 has no plugin mechanism: its ``src/open_r1/grpo_jsonl.py`` (under ``src/open-r1-multimodal`` in a full clone)
picks reward functions by name from the module-level dict ``reward_funcs_registry`` inside ``main``. This launcher
imports that file as a module (its ``__main__`` block does not run), adds bridge's functions to the registry —
``bridge`` (the weighted total of the spec, what every backend scores) and ``bridge_<key>`` per component — then
parses the arguments with the module's own ``TrlParser((GRPOScriptArguments, GRPOConfig, GRPOModelConfig))``, does
what its ``__main__`` does, and calls its ``main``. What it changes around VLM-R1's code, never in it:

* question template: VLM-R1 wraps the human text in ``"{Question} First output the thinking process …"``
  (vlm_modules/qwen_module.py:84-85); unless ``--keep-question-template`` it becomes ``"{Question}"`` so the model
  sees the prompt text of every other backend;
* dtype: ``VLMGRPOTrainer.__init__`` loads the model in ``torch_dtype="bfloat16"`` unless
  ``GRPOConfig.model_init_kwargs`` names one (trainer/grpo_trainer.py:218,235-236), and grpo_jsonl.py never passes
  the ``--torch_dtype`` its ``GRPOModelConfig`` parses (grpo_jsonl.py:1040-1053): the launcher copies it into
  ``model_init_kwargs`` (float32 for CPU and fp32 recipes);
* attention: ``main`` passes ``--attn_implementation`` through (grpo_jsonl.py:1049); when unset the launcher picks
  ``flash_attention_2`` where flash-attn is installed and a GPU is present, else ``sdpa`` (CPU machines);
* per-component rewards: the trainer logs ``rewards/<function name>`` for the functions it sums
  (trainer/grpo_trainer.py:697-703); training on the total ``bridge`` alone would hide the parts, so while
  ``bridge`` scores it also appends each component's mean to the trainer's metrics as ``rewards/bridge_<key>``
  (this process's batch; logged and cleared with the others by its ``log``, grpo_trainer.py:780-787);
* ``--smoke`` adds TRL's dense ``smoke_aux`` reward (a random tiny model scores 0 on every task reward).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from bridge.backends.vlmr1.checkout import SCRIPT, CheckoutError, project_dir
from bridge.rewards import hooks
from bridge.rewards.parse import completion_text
from bridge.rewards.spec import load_spec, safe_call

EXIT_CONFIG = 2
IDENTITY_TEMPLATE = "{Question}"
DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
          "float16": "float16", "fp16": "float16", "auto": "auto"}


class LaunchProblem(Exception):
    """Something the launcher cannot work with (printed without a traceback, exit code 2)."""


def load_module(root: Path):
    """Import VLM-R1's grpo_jsonl.py as module ``grpo_jsonl`` with the import paths its own launch gives it
    (``python src/open_r1/grpo_jsonl.py`` from src/open-r1-multimodal: the script folder and ``src``)."""
    try:
        script = project_dir(root) / SCRIPT
    except CheckoutError as e:
        raise LaunchProblem(f"{e} (backends.vlmr1.root)") from None
    for p in (script.parent.parent, script.parent):   # .../src (for open_r1.*) and .../src/open_r1 (utils.*)
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    spec = importlib.util.spec_from_file_location("grpo_jsonl", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["grpo_jsonl"] = module
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        raise LaunchProblem(f"VLM-R1's grpo_jsonl.py cannot be imported in this environment: {e}\n"
                            "(it needs the VLM-R1 environment: bridge env install vlmr1 --checkout PATH)") from None
    return module


#: the live trainer, for the per-component reward metrics (set by the subclass :func:`instrument` installs)
_trainer: list = []


def register(module, spec: Any, smoke: bool = False) -> list[str]:
    """Add bridge's reward functions to ``module.reward_funcs_registry``; returns the names added. ``bridge`` (the
    weighted total) also records each component's batch mean in the live trainer's metrics."""
    registry = getattr(module, "reward_funcs_registry", None)
    if not isinstance(registry, dict):
        raise LaunchProblem("grpo_jsonl.py has no dict `reward_funcs_registry`: this VLM-R1 version selects "
                            "rewards differently; the bridge launcher cannot register its rewards")
    scorer = hooks.configure(spec)
    funcs = hooks.vlmr1_reward_funcs(spec)
    parts = [(c.key, "rewards/bridge_" + hooks._identifier(c.key)) for c in scorer.components]

    def bridge(completions, solution, **kwargs) -> list[float]:
        gts = kwargs[hooks.GT_COLUMN] if hooks.GT_COLUMN in kwargs else solution
        out = [safe_call(scorer, completion_text(c), hooks._gt_value(g)) for c, g in zip(completions, gts)]
        metrics = getattr(_trainer[0], "_metrics", None) if _trainer else None
        if metrics is not None and out:
            for key, name in parts:
                metrics[name].append(sum(o[key] for o in out) / len(out))
        return [o["score"] for o in out]

    funcs["bridge"] = bridge
    if smoke:
        from bridge.backends.trl.launcher import smoke_aux
        funcs["smoke_aux"] = smoke_aux
    clash = sorted(set(funcs) & set(registry))
    if clash:
        raise LaunchProblem(f"VLM-R1 already registers reward functions named {clash}")
    registry.update(funcs)
    return list(funcs)


def instrument(module) -> None:
    """``main`` builds ``VLMGRPOTrainer`` by its module-level name (grpo_jsonl.py:1036): a subclass that only
    remembers the live trainer (for the component metrics of :func:`register`) takes that name."""
    base = getattr(module, "VLMGRPOTrainer", None)
    if base is None:
        return

    class VLMGRPOTrainer(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _trainer[:] = [self]

    module.VLMGRPOTrainer = VLMGRPOTrainer


def prepare_args(module, training_args, model_args) -> dict[str, Any]:
    """What grpo_jsonl.py's ``__main__`` does after parsing, plus the dtype and attention choices (module doc)."""
    import importlib.util

    import torch

    if training_args.deepspeed and "zero3" in training_args.deepspeed:   # grpo_jsonl.py:1070-1072
        module.monkey_patch_qwen2_5vl_forward()
    dtype = model_args.torch_dtype
    if dtype is not None:
        if dtype not in DTYPES:
            raise LaunchProblem(f"--torch_dtype {dtype!r}: expected one of {', '.join(sorted(DTYPES))}")
        training_args.model_init_kwargs = {**(training_args.model_init_kwargs or {}), "torch_dtype": DTYPES[dtype]}
    if model_args.attn_implementation is None:
        gpu = torch.cuda.is_available() and not getattr(training_args, "use_cpu", False)
        model_args.attn_implementation = ("flash_attention_2" if gpu and importlib.util.find_spec("flash_attn")
                                          else "sdpa")
    return {"torch_dtype": (training_args.model_init_kwargs or {}).get("torch_dtype", "bfloat16"),
            "attn_implementation": model_args.attn_implementation}


def patch_question_template(module, template: str = IDENTITY_TEMPLATE) -> bool:
    """Make every VLM module ``get_vlm_module`` returns answer ``template`` from ``get_question_template``."""
    original = getattr(module, "get_vlm_module", None)
    if original is None:
        return False

    def get_vlm_module(*args, **kwargs):
        cls = original(*args, **kwargs)
        return type(cls.__name__, (cls,), {"get_question_template": staticmethod(lambda *a, **k: template)})

    module.get_vlm_module = get_vlm_module
    return True


def parse(module, argv: list[str]):
    """grpo_jsonl.py's own argument parsing (what its ``__main__`` block does)."""
    try:
        parser = module.TrlParser((module.GRPOScriptArguments, module.GRPOConfig, module.GRPOModelConfig))
    except AttributeError as e:
        raise LaunchProblem(f"grpo_jsonl.py lacks what its __main__ uses ({e}); unsupported VLM-R1 version") from None
    old = sys.argv
    sys.argv = [str(SCRIPT)] + list(argv)
    try:
        return parser.parse_args_and_config()
    finally:
        sys.argv = old


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ours, theirs = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(prog="python -m bridge.backends.vlmr1.launcher",
                                 description="Register bridge rewards into VLM-R1 and run its grpo_jsonl.py main.")
    ap.add_argument("--root", required=True, help="VLM-R1 checkout (repository root)")
    ap.add_argument("--reward-spec", required=True, help="bridge reward spec (JSON/YAML file)")
    ap.add_argument("--resolved", default=None, help="write what was registered and parsed to this JSON file")
    ap.add_argument("--keep-question-template", action="store_true",
                    help="keep VLM-R1's think/answer question template (the prompt text then differs from the "
                         "other backends')")
    ap.add_argument("--smoke", action="store_true", help="add the dense smoke_aux reward (smoke runs)")
    a = ap.parse_args(ours)
    try:
        spec = load_spec(a.reward_spec)
        module = load_module(Path(a.root))
        names = register(module, spec, a.smoke)
        instrument(module)
        patched = False if a.keep_question_template else patch_question_template(module)
        if not a.keep_question_template and not patched:
            print("vlmr1_grpo: grpo_jsonl.py has no get_vlm_module; VLM-R1's question template stays",
                  file=sys.stderr)
        script_args, training_args, model_args = parse(module, theirs)
        unknown = [f for f in script_args.reward_funcs if f not in module.reward_funcs_registry]
        if unknown:
            raise LaunchProblem(f"unknown reward function(s) {unknown}; registered: "
                                f"{', '.join(module.reward_funcs_registry)}")
        chosen = prepare_args(module, training_args, model_args)
    except LaunchProblem as e:
        print(f"vlmr1_grpo: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if a.resolved and int(os.environ.get("RANK", "0")) == 0:
        Path(a.resolved).write_text(json.dumps({
            "registered": names, "registry": list(module.reward_funcs_registry),
            "reward_funcs": list(script_args.reward_funcs), "question_template_patched": patched,
            "data_file_paths": script_args.data_file_paths, "image_folders": script_args.image_folders,
            "output_dir": training_args.output_dir, **chosen}, indent=2) + "\n", encoding="utf-8")
    module.main(script_args, training_args, model_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
