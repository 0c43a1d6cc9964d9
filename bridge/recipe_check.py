"""``bridge validate-recipe``: everything ``bridge run`` checks before it starts, with no side effect (no model
built, no export, no run directory, no environment touched)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .backends import DEFAULT_BACKEND, backend_names, get_adapter
from .dataset import EPISODES_FILE
from .envs import status
from .errors import BridgeError, Problem
from .runs import smoke_recipe


def check_recipe(recipe: Any, backends: list[str], smoke: bool = False, file: str = "<recipe>") -> dict[str, Any]:
    """``{"backends": {name: [problems]}, "problems": [...], "notes": [...]}`` for a loaded recipe.

    ``backends``: names or ``all``; empty = the default backend plus every backend the recipe configures."""
    names = backend_names() if "all" in backends else list(dict.fromkeys(
        backends or [DEFAULT_BACKEND, *recipe.backends]))
    problems: list[Problem] = []
    for key in ("train", "eval"):
        d = getattr(recipe.data, key)
        if d and not (Path(d) / EPISODES_FILE).is_file():
            problems.append(Problem(file, "not a canonical dataset" if Path(d).exists() else "no such dataset",
                                    field=f"data.{key}", expected=f"a directory with {EPISODES_FILE} "
                                    "(bridge import / bridge synth)", found=d))
    if Path(recipe.model).is_absolute() and not Path(recipe.model).exists():
        problems.append(Problem(file, "model directory not found", field="model", found=recipe.model))
    verdict: dict[str, list[Any]] = {}
    notes: list[str] = []
    for name in names:
        try:
            adapter = get_adapter(name)
            r = smoke_recipe(recipe) if smoke else recipe
            if smoke and not adapter.caps().cpu:
                raise BridgeError("--smoke", problems=[Problem(file, f"backend {name!r} cannot train on CPU")])
            verdict[name] = list(adapter.recipe_problems(r, file))
        except BridgeError as e:
            verdict[name] = e.problems or [Problem(file, e.message)]
            continue
        if not recipe.backend(name).python:
            try:
                st = status(name)
                if st.state != "ok":
                    notes.append(f"{name}: environment {st.state} ({st.path}); bridge env install {name}")
            except BridgeError as e:
                notes.append(f"{name}: {e.message}")
    return {"name": recipe.name, "method": recipe.method, "backends": verdict, "problems": problems,
            "notes": notes}
