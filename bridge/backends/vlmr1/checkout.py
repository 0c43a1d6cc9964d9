"""A user's VLM-R1 checkout (om-ai-lab/VLM-R1, GitHub only): where its code lies and what its setup.py pins.

Two layouts are accepted: a full clone (``ROOT/src/open-r1-multimodal/src/open_r1/grpo_jsonl.py``) or its
``src/open-r1-multimodal`` folder alone (``ROOT/src/open_r1/grpo_jsonl.py``). Everything here is read as text —
setup.py is parsed, never executed — and uses the standard library only (the launcher imports it in the VLM-R1
environment, the adapter and ``bridge env install`` on the host).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Optional

#: grpo_jsonl.py relative to the ``open-r1-multimodal`` project folder (the one holding setup.py)
SCRIPT = Path("src/open_r1/grpo_jsonl.py")
#: the project folder inside a full clone
PROJECT = Path("src/open-r1-multimodal")
LAYOUTS = (Path("."), PROJECT)


class CheckoutError(ValueError):
    """Not a usable VLM-R1 checkout (printed as a one-line error)."""


def project_dir(root) -> Path:
    """The ``open-r1-multimodal`` folder of ``root`` (a full clone or that folder itself)."""
    root = Path(root).expanduser()
    for sub in LAYOUTS:
        if (root / sub / SCRIPT).is_file():
            return (root / sub).resolve()
    raise CheckoutError(f"{root} is not a VLM-R1 checkout: neither {PROJECT / SCRIPT} (a clone of om-ai-lab/VLM-R1) "
                        f"nor {SCRIPT} (its src/open-r1-multimodal folder) exists there")


def script(root) -> Path:
    return project_dir(root) / SCRIPT


def _name(spec: str) -> str:
    """``"huggingface-hub[cli]>=0.19.2,<1.0"`` -> ``"huggingface-hub"`` (setup.py's own key rule)."""
    return re.split(r"[!=<>~ \[;]", spec.strip(), maxsplit=1)[0]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def setup_requirements(root) -> list[str]:
    """``install_requires`` of the checkout's setup.py as requirement strings: its ``_deps`` list looked up by the
    ``deps["<name>"]`` entries of ``install_requires`` — read from the syntax tree, nothing executed."""
    path = project_dir(root) / "setup.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError) as e:
        raise CheckoutError(f"{path}: cannot be read ({e})") from None
    deps: Optional[list[str]] = None
    wanted: Optional[list[str]] = None
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if name == "_deps":
            deps = [e.value for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant)]
        elif name == "install_requires" and isinstance(node.value, ast.List):
            wanted = [e.slice.value for e in node.value.elts
                      if isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Constant)]
    if deps is None or wanted is None:
        raise CheckoutError(f"{path}: no `_deps` list or `install_requires = [deps[...], ...]`; this VLM-R1 version "
                            "declares its dependencies differently")
    by_name = {_name(d): d for d in deps}
    missing = [w for w in wanted if w not in by_name]
    if missing:
        raise CheckoutError(f"{path}: install_requires names {missing}, which `_deps` does not define")
    return [by_name[w] for w in wanted]


def merged_requirements(root, ours: str) -> list[str]:
    """The environment's requirement lines: the checkout's install_requires with our overrides applied.

    ``ours`` is bridge/backends/vlmr1/requirements.txt: a line ``NAME<spec>`` replaces the checkout's entry for
    NAME (or adds one), a line ``-NAME`` drops it; comments say why."""
    replace: dict[str, str] = {}
    drop: set[str] = set()
    for raw in ours.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            drop.add(canonical(line[1:].strip()))
        else:
            replace[canonical(_name(line))] = line
    out = []
    for spec in setup_requirements(root):
        key = canonical(_name(spec))
        if key in drop:
            continue
        out.append(replace.pop(key, spec))
    return out + list(replace.values())
