"""Before launching: can the backend's environment import what the rendered configuration names?

A rendered config can ask for a rollout engine (vLLM, SGLang), an attention kernel (flash-attn) or DeepSpeed that
the environment lacks; the backend would then fail minutes later — after Ray or torchrun started, the model loaded
— with an ImportError deep in its own code. Each adapter declares what its configuration for a recipe needs
(:meth:`bridge.backends.base.Adapter.requires`); :func:`check` looks for all of it in the environment's interpreter
in one subprocess (``importlib.util.find_spec``: present, without the seconds a vLLM import costs) and refuses with
the setting that asked and the command that installs it. Nothing is launched."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
from dataclasses import dataclass

from ..errors import BridgeError

#: pip names and pins of what the rendered configs can ask for, for a GPU node (CUDA builds). vLLM/SGLang follow
#: the versions verl 0.9.1 declares for its extras (``verl[vllm]``: vllm==0.24.0, ``verl[sglang]``: sglang==0.5.12,
#: its METADATA); DeepSpeed and flash-attn are the trainers' own optional dependencies, unpinned here.
PIP = {"vllm": "vllm==0.24.0", "sglang": "sglang==0.5.12", "deepspeed": "deepspeed",
       "flash_attn": "flash-attn --no-build-isolation"}


@dataclass(frozen=True)
class Requirement:
    """One module the rendered configuration needs: ``module`` (import name), ``setting`` (the recipe field and
    the backend key that asked for it), ``pip`` (what installs it into the environment)."""

    module: str
    setting: str
    pip: str = ""

    def install(self, python: str) -> str:
        return f"{python} -m pip install {self.pip or PIP.get(self.module, self.module)}"


def pinned(adapter, name: str) -> str:
    """The requirement line for pip package ``name`` in the adapter's environment file (``deepspeed==0.16.4``),
    so a hint installs the version the environment was built and tested with; "" where it pins none."""
    path = adapter.requirements_file()
    lines = path.read_text(encoding="utf-8").splitlines() if path else []
    for line in (raw.split("#", 1)[0].strip() for raw in lines):
        if re.match(rf"{re.escape(name)}\s*(==|>=|~=|<=|\[)", line, re.I):
            return shlex.quote(line)
    return ""


_FIND = ("import importlib.util, json, sys\n"
         "print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))")


def missing(python: str, modules: list[str]) -> list[str]:
    """The ``modules`` that interpreter ``python`` cannot find."""
    if not modules:
        return []
    try:
        proc = subprocess.run([python, "-c", _FIND, *modules], capture_output=True, text=True, timeout=120)
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as e:
        raise BridgeError(f"cannot ask the backend environment ({python}) what it has installed: {e}") from None
    return [m for m in modules if not found.get(m)]


def check(backend: str, python: str, requirements: list[Requirement]) -> None:
    """Raise a :class:`BridgeError` naming every requirement ``python``'s environment lacks, with its install."""
    absent = set(missing(python, sorted({r.module for r in requirements})))
    lacking = [r for r in requirements if r.module in absent]
    if not lacking:
        return
    lines = [f"  {r.module}: asked for by {r.setting}" for r in lacking]
    fixes = list(dict.fromkeys(r.install(python) for r in lacking))
    raise BridgeError(f"the {backend} environment cannot import what the rendered configuration needs; nothing was "
                      "launched:\n" + "\n".join(lines),
                      hint="install it into that environment (vLLM, SGLang and flash-attn are GPU builds) with:\n  "
                           + "\n  ".join(fixes) + "\nor change the setting")
