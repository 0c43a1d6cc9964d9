"""VLM-R1 launcher: runs INSIDE the VLM-R1 environment (transformers 4.49, trl 0.17), one process per GPU.

    python -m torch.distributed.run --nproc_per_node N ... -m bridge.backends.vlmr1.launcher \\
        --root /path/to/VLM-R1 --reward-spec run_dir/vlmr1_rewards.json [--resolved FILE] [--keep-question-template] \\
        -- <grpo_jsonl.py arguments>

VLM-R1 has no plugin mechanism: its ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py`` picks reward functions
by name from the module-level dict ``reward_funcs_registry`` inside ``main``. This launcher imports that file as
a module (its ``__main__`` block does not run), adds bridge's functions to the registry — ``bridge`` (the weighted
total of the spec, what every backend scores) and ``bridge_<key>`` per component — then parses the arguments with
the module's own ``TrlParser((GRPOScriptArguments, GRPOConfig, GRPOModelConfig))`` and calls its ``main``.

VLM-R1 wraps the human text in a question template (``"{Question} First output the thinking process …"``) chosen
by its VLM module's ``get_question_template``; unless ``--keep-question-template`` is given the launcher makes it
``"{Question}"`` so the model sees the prompt text of every other backend.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

from bridge.rewards import hooks
from bridge.rewards.spec import load_spec

EXIT_CONFIG = 2
SCRIPT = Path("src/open-r1-multimodal/src/open_r1/grpo_jsonl.py")
IDENTITY_TEMPLATE = "{Question}"


class LaunchProblem(Exception):
    """Something the launcher cannot work with (printed without a traceback, exit code 2)."""


def load_module(root: Path):
    """Import VLM-R1's grpo_jsonl.py as module ``grpo_jsonl`` with the import paths its own launch gives it
    (``python src/open_r1/grpo_jsonl.py`` from src/open-r1-multimodal: the script folder and ``src``)."""
    script = Path(root) / SCRIPT
    if not script.is_file():
        raise LaunchProblem(f"{root} is not a VLM-R1 checkout: {SCRIPT} not found (backends.vlmr1.root)")
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
                            "(it needs the VLM-R1 environment: bridge env install vlmr1; flash-attn for its "
                            "Qwen2.5-VL patch)") from None
    return module


def register(module, spec: Any) -> list[str]:
    """Add bridge's reward functions to ``module.reward_funcs_registry``; returns the names added."""
    registry = getattr(module, "reward_funcs_registry", None)
    if not isinstance(registry, dict):
        raise LaunchProblem("grpo_jsonl.py has no dict `reward_funcs_registry`: this VLM-R1 version selects "
                            "rewards differently; the bridge launcher cannot register its rewards")
    hooks.configure(spec)
    funcs = hooks.vlmr1_reward_funcs(spec)
    clash = sorted(set(funcs) & set(registry))
    if clash:
        raise LaunchProblem(f"VLM-R1 already registers reward functions named {clash}")
    registry.update(funcs)
    return list(funcs)


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
    a = ap.parse_args(ours)
    try:
        spec = load_spec(a.reward_spec)
        module = load_module(Path(a.root))
        names = register(module, spec)
        patched = False if a.keep_question_template else patch_question_template(module)
        if not a.keep_question_template and not patched:
            print("vlmr1_grpo: grpo_jsonl.py has no get_vlm_module; VLM-R1's question template stays",
                  file=sys.stderr)
        script_args, training_args, model_args = parse(module, theirs)
        unknown = [f for f in script_args.reward_funcs if f not in module.reward_funcs_registry]
        if unknown:
            raise LaunchProblem(f"unknown reward function(s) {unknown}; registered: "
                                f"{', '.join(module.reward_funcs_registry)}")
    except LaunchProblem as e:
        print(f"vlmr1_grpo: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if a.resolved and int(os.environ.get("RANK", "0")) == 0:
        Path(a.resolved).write_text(json.dumps({
            "registered": names, "registry": list(module.reward_funcs_registry),
            "reward_funcs": list(script_args.reward_funcs), "question_template_patched": patched,
            "data_file_paths": script_args.data_file_paths, "image_folders": script_args.image_folders,
            "output_dir": training_args.output_dir}, indent=2) + "\n", encoding="utf-8")
    module.main(script_args, training_args, model_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
