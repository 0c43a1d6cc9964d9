"""Measurement hook for bench/gpu_bench.py, loaded by every Python process started through the bench's
interpreter wrappers (this folder is first on their PYTHONPATH; Python imports ``sitecustomize`` at start-up).

Only in a training process (argv names the TRL launcher or LLaMA-Factory's CLI) and only when
``BENCH_HOOK_OUT`` names a folder, it registers a global optimizer-step post-hook
(``torch.optim.optimizer.register_optimizer_step_post_hook``, public PyTorch API) and writes
``BENCH_HOOK_OUT/<pid>.json`` after every step and at exit: the wall time of each optimizer step's end (after a
CUDA synchronise, so the interval between two ends is one whole step: rollout, forward, backward, update),
``torch.cuda.max_memory_allocated/reserved`` and the attention implementation of the model being trained. The
same numbers for every backend, read the same way; nothing in the trainers is changed.
"""
import os
import sys

_OUT = os.environ.get("BENCH_HOOK_OUT")
# sys.argv is not final yet when sitecustomize runs (``python -m M`` shows ``['-m', ...]``); orig_argv is.
_TRAINING = any(a in ("bridge.backends.trl.launcher", "llamafactory.cli") for a in getattr(sys, "orig_argv", ()))


def _install() -> None:
    import atexit
    import json
    import time

    import torch
    from torch.optim.optimizer import register_optimizer_step_post_hook

    state = {"argv": sys.orig_argv, "pid": os.getpid(), "t0": time.time(), "step_ends": [], "attn": None}
    path = os.path.join(_OUT, f"{os.getpid()}.json")

    def dump() -> None:
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
            state["max_reserved_mib"] = torch.cuda.max_memory_reserved() / 2 ** 20
            state["device"] = torch.cuda.get_device_name()
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, path)

    def attn() -> dict:
        import gc
        import warnings

        try:
            from transformers import PreTrainedModel
        except ImportError:
            return {}
        with warnings.catch_warnings():   # isinstance on deprecated module aliases warns (seen: reduce_op)
            warnings.simplefilter("ignore")
            models = [o for o in gc.get_objects() if isinstance(o, PreTrainedModel)]
        if not models:
            return {}
        o, cfg = models[0], models[0].config
        subs = {k: getattr(getattr(cfg, k, None), "_attn_implementation", None) for k in ("text_config", "vision_config")}
        return {"model": type(o).__name__, "attn": getattr(cfg, "_attn_implementation", None), **subs,
                "dtype": str(o.dtype)}

    def on_step(optimizer, args, kwargs) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        state["step_ends"].append(time.time())
        if state["attn"] is None:
            state["attn"] = attn()
        dump()

    register_optimizer_step_post_hook(on_step)
    atexit.register(dump)


if _OUT and _TRAINING:
    try:
        _install()
    except Exception as e:  # measurement must never break a run
        print(f"bench hook not installed: {type(e).__name__}: {e}", file=sys.stderr)
