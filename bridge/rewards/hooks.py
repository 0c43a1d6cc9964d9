"""The reward library behind each trainer's own reward signature (docs/backends.md).

==========  ===============================================================  ================================
backend     entry point                                                      ground truth comes from
==========  ===============================================================  ================================
verl        ``compute_score(data_source, solution_str, ground_truth,         ``reward_model.ground_truth``
            extra_info=None, **kw) -> {"score", <parts>}``
ms-swift    ``swift_reward(completions: list[str], **columns)`` wrapped by   extra column (``ground_truth``)
            the ORM in :mod:`bridge.backends.swift.reward_plugin`
TRL 1.x     ``trl_reward(prompts, completions, **columns)``; per-component   extra column (``ground_truth``)
            callables from :func:`trl_reward_funcs` (``__name__`` set)
VLM-R1      ``vlmr1_reward(completions, solution, **kw)``;                   ``solution`` (``<answer> … </answer>``-
            :func:`vlmr1_reward_funcs` for its registry                      wrapped by VLM-R1) or the column
==========  ===============================================================  ================================

Which rewards: an explicit ``spec`` argument (verl: ``reward_kwargs.reward_spec`` or ``extra_info["reward_spec"]``)
wins; else the spec given to :func:`configure` (what a generated hook module calls, see
:func:`hook_module_source`); else the environment variable ``BRIDGE_REWARD_SPEC`` (JSON/YAML text or a file
path); else :data:`~bridge.rewards.spec.DEFAULT_SPEC`. A sample whose scoring fails is logged and scored 0.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Optional

from ..errors import BridgeError
from .parse import completion_text, strip_answer_tags
from .spec import DEFAULT_SPEC, Scorer, build_scorer, safe_call

SPEC_ENV = "BRIDGE_REWARD_SPEC"
GT_COLUMN = "ground_truth"

_configured: Optional[Scorer] = None
_cache: dict[str, Scorer] = {}


def configure(spec: Any) -> Scorer:
    """Set the spec every hook uses when none is passed explicitly (validated now, not at the first sample)."""
    global _configured
    _configured = build_scorer(spec)
    return _configured


def scorer_for(spec: Any = None) -> Scorer:
    """The scorer for an explicit spec, else the configured one, else ``$BRIDGE_REWARD_SPEC``, else the default."""
    if spec is None:
        if _configured is not None:
            return _configured
        spec = os.environ.get(SPEC_ENV) or DEFAULT_SPEC
    if isinstance(spec, Scorer):
        return spec
    key = spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True, default=str)
    scorer = _cache.get(key)
    if scorer is None:
        scorer = _cache[key] = build_scorer(spec)
    return scorer


def _plain(value: Any) -> Any:
    """Parquet/Arrow readers hand structs back with numpy arrays inside; make them JSON-plain."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _plain(value.tolist())
    return value


def _gt_value(value: Any) -> Any:
    if isinstance(value, str):
        return strip_answer_tags(value)
    return _plain(value)


def _column(kwargs: dict, name: str, n: int, backend: str) -> list:
    if name not in kwargs:
        raise BridgeError(f"{backend}: the reward needs the ground-truth column {name!r}, which the trainer did not "
                          f"pass (got: {', '.join(sorted(kwargs)) or 'no columns'})",
                          hint="export the data with gui-bridge (it adds the column); for TRL keep "
                               "remove_unused_columns=False")
    col = list(kwargs[name])
    if len(col) != n:
        raise BridgeError(f"{backend}: {len(col)} ground truths for {n} completions in column {name!r}")
    return col


def score_batch(texts: list[str], gts: list, spec: Any = None, key: str = "score") -> list[float]:
    """Scores (or one part, ``key``) for aligned completions and ground truths."""
    scorer = scorer_for(spec)
    return [safe_call(scorer, t, _gt_value(g))[key] for t, g in zip(texts, gts)]


# ------------------------------------------------------------------------------------------------- verl
def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict[str, float]:
    """verl ≥0.9 custom reward (``reward.custom_reward_function.name=compute_score``): ``{"score", <parts>}``.
    ``reward_spec`` may come from ``reward.custom_reward_function.reward_kwargs`` or the row's ``extra_info``."""
    spec = kwargs.get("reward_spec")
    if spec is None and isinstance(extra_info, dict):
        spec = extra_info.get("reward_spec")
    return safe_call(scorer_for(spec), completion_text(solution_str), _gt_value(ground_truth))


# --------------------------------------------------------------------------------------------- ms-swift
def swift_reward(completions: list, spec: Any = None, gt_column: str = GT_COLUMN, **kwargs) -> list[float]:
    """ms-swift 4.x ORM body: ``completions`` are strings, ``kwargs`` every extra dataset column (plus
    ``messages``, ``images``, ``trainer_state``)."""
    texts = [completion_text(c) for c in completions]
    return score_batch(texts, _column(kwargs, gt_column, len(texts), "ms-swift"), spec)


# -------------------------------------------------------------------------------------------------- TRL
def trl_reward(prompts=None, completions=None, **kwargs) -> list[float]:
    """TRL 1.x reward callable using the configured spec (dotted path ``bridge.rewards.hooks.trl_reward``)."""
    texts = [completion_text(c) for c in completions]
    return score_batch(texts, _column(kwargs, GT_COLUMN, len(texts), "TRL"))


def _identifier(key: str) -> str:
    return re.sub(r"\W", "_", key).strip("_") or "reward"


def trl_reward_funcs(spec: Any = None, gt_column: str = GT_COLUMN, split: bool = True
                     ) -> tuple[list[Callable], list[float]]:
    """Callables for ``GRPOTrainer(reward_funcs=…)`` and the matching ``GRPOConfig.reward_weights``.

    With ``split`` each spec component becomes its own callable (``__name__`` = ``bridge_<key>``) so TRL logs
    every component and applies the weights itself; otherwise one callable returns the weighted total."""
    scorer = scorer_for(spec)
    parts = [(c.key, build_scorer([{"name": c.reward.name, "options": c.options}]), c.weight)
             for c in scorer.components] if split else [(scorer.name, scorer, 1.0)]
    funcs = []
    for key, sub, _ in parts:
        def reward(prompts=None, completions=None, _sub=sub, **kwargs) -> list[float]:
            texts = [completion_text(c) for c in completions]
            return score_batch(texts, _column(kwargs, gt_column, len(texts), "TRL"), _sub)
        reward.__name__ = reward.__qualname__ = "bridge_" + _identifier(key)
        funcs.append(reward)
    return funcs, [w for _, _, w in parts]


# ----------------------------------------------------------------------------------------------- VLM-R1
def vlmr1_reward(completions, solution, **kwargs) -> list[float]:
    """VLM-R1 reward (``reward_funcs_registry`` entry): ``completions[i][0]["content"]`` is the text;
    ground truth from ``solution`` (VLM-R1 re-wraps it as ``<answer> … </answer>``) or a ``ground_truth`` column."""
    texts = [completion_text(c) for c in completions]
    gts = kwargs[GT_COLUMN] if GT_COLUMN in kwargs else solution
    if gts is None or len(gts) != len(texts):
        raise BridgeError(f"VLM-R1: {0 if gts is None else len(gts)} solutions for {len(texts)} completions")
    return score_batch(texts, list(gts))


def vlmr1_reward_funcs(spec: Any = None) -> dict[str, Callable]:
    """``{name: fn}`` to insert into VLM-R1's ``reward_funcs_registry``: ``bridge`` (weighted total) and one
    ``bridge_<key>`` per component (unweighted)."""
    scorer = scorer_for(spec)
    out: dict[str, Callable] = {}
    for key, sub in [("bridge", scorer)] + [("bridge_" + _identifier(c.key),
                                             build_scorer([{"name": c.reward.name, "options": c.options}]))
                                            for c in scorer.components]:
        def reward(completions, solution, _sub=sub, **kwargs) -> list[float]:
            texts = [completion_text(c) for c in completions]
            gts = kwargs[GT_COLUMN] if GT_COLUMN in kwargs else solution
            return score_batch(texts, list(gts), _sub)
        reward.__name__ = reward.__qualname__ = key
        out[key] = reward
    return out


# ----------------------------------------------------------------------------------- generated modules
def hook_module_source(spec: Any) -> str:
    """Python source of a tiny module that pins ``spec`` and re-exports every hook — what an adapter writes
    next to a run (verl: ``reward.custom_reward_function.path=<file> name=compute_score``; ms-swift:
    ``--external_plugins <file>`` also registers the ORMs; TRL/VLM-R1: import its callables)."""
    canonical = build_scorer(spec).to_list()
    payload = json.dumps(canonical, sort_keys=True)
    return ('"""Generated by gui-bridge: reward hook pinned to one reward spec. Do not edit; re-export instead."""\n'
            "import json as _json\n\n"
            "from bridge.rewards import hooks as _hooks\n\n"
            f"SPEC = _json.loads({payload!r})\n"
            "_hooks.configure(SPEC)\n\n"
            "from bridge.rewards.hooks import compute_score, swift_reward, trl_reward, vlmr1_reward  # noqa: E402,F401\n"
            "\ntry:  # inside ms-swift's --external_plugins: register the ORMs too\n"
            "    import swift.rewards  # noqa: F401\n"
            "except ImportError:\n"
            "    pass\n"
            "else:\n"
            "    from bridge.rewards import swift_plugin  # noqa: F401\n")


def write_hook_module(path: str, spec: Any) -> str:
    """Write :func:`hook_module_source` to ``path`` atomically; returns the path."""
    import tempfile

    source = hook_module_source(spec)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".py.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(source)
    os.replace(tmp, path)
    return path
