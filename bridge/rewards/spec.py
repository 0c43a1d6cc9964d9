"""Reward specs (what recipes write) and the scorer they build.

A spec is a reward name, or a list of entries::

    - preset: gui-r1                       # a preset (any reward name works with `name:` too)
    - {name: format, weight: 0.5}
    - {name: point_in_box, weight: 1.0, options: {inclusive: false}, key: click_hit}

The scorer returns ``{"score": Σ weight·component, <key>: component, "<key>/<part>": part, ...}``; ``key``
defaults to the reward name (``#2``, ``#3`` … for repeats). Weights default to 1. The whole spec is validated
at once: every problem (unknown reward, unknown option, bad weight, unknown entry key) is reported together.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import BridgeError, Problem
from .base import RewardInfo, get_reward
from .options import option_problem
from .parse import ground_truth_from_json

ENTRY_KEYS = {"name", "preset", "weight", "options", "key"}
#: What a spec may be: a reward name, or a list of names / ``{name|preset, weight, options, key}`` mappings
#: (also accepted: ``{"rewards": [...]}``, JSON/YAML text, a .json/.yaml path, or a built :class:`Scorer`).
RewardSpec = Union[str, list[Union[str, dict[str, Any]]]]
DEFAULT_SPEC: list[dict[str, Any]] = [{"name": "format", "weight": 0.2}, {"name": "action_match", "weight": 0.8}]


@dataclass
class Component:
    key: str
    reward: RewardInfo
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.reward.name, "weight": self.weight}
        if self.options:
            d["options"] = self.options
        if self.key != self.reward.name:
            d["key"] = self.key
        return d


class Scorer:
    """A weighted composite of rewards; call it with ``(completion, ground_truth)``."""

    def __init__(self, components: list[Component]):
        self.components = components

    @property
    def keys(self) -> list[str]:
        """Every key the result dict has, in order ("score" first)."""
        out = ["score"]
        for c in self.components:
            out.append(c.key)
            out += [f"{c.key}/{p}" for p in c.reward.parts]
        return out

    @property
    def name(self) -> str:
        return "+".join(c.key for c in self.components)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.components]

    def __call__(self, completion: str, gt) -> dict[str, float]:
        try:
            gt = ground_truth_from_json(gt) if isinstance(gt, str) else _ground_truth(gt)
        except Exception as e:
            raise RewardError(f"reward {self.name}: cannot read the ground truth ({type(e).__name__}: "
                              f"{str(e)[:300]}): {str(gt)[:200]!r}") from e
        out: dict[str, float] = {"score": 0.0}
        for c in self.components:
            try:
                parts = c.reward(completion, gt, **c.options)
            except Exception as e:  # named, never a silent 0 (issue 11 item 3)
                raise RewardError(f"reward component {c.key!r} ({c.reward.name}, options {c.options}) raised "
                                  f"{type(e).__name__}: {str(e)[:300]} on completion {completion[:200]!r}") from e
            out[c.key] = parts["score"]
            for k, v in parts.items():
                if k != "score":
                    out[f"{c.key}/{k}"] = v
            out["score"] += c.weight * parts["score"]
        return out

    def zeros(self) -> dict[str, float]:
        return {k: 0.0 for k in self.keys}


def _ground_truth(value: Any):
    from ..groundtruth import GroundTruth   # lazily: pydantic's Action model (not for `bridge --help`)

    return GroundTruth.from_any(value)


def load_spec(value: Union[str, os.PathLike, list, dict]) -> Any:
    """A spec from a JSON/YAML string or a .json/.yaml/.yml file path (lists and dicts pass through)."""
    if not isinstance(value, (str, os.PathLike)):
        return value
    text = str(value)
    if text.endswith((".json", ".yaml", ".yml")) and os.path.isfile(text):
        try:
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as e:
            raise BridgeError(f"cannot read reward spec {value}: {e}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise BridgeError(f"reward spec is neither JSON nor YAML: {e}") from None


def build_scorer(spec: Any, source: str = "reward spec") -> Scorer:
    """Validate ``spec`` in full and build its :class:`Scorer` (a Scorer passes through)."""
    if isinstance(spec, Scorer):
        return spec
    spec = load_spec(spec)
    if isinstance(spec, dict) and "rewards" in spec:
        spec = spec["rewards"]
    if isinstance(spec, (str, dict)):
        spec = [spec]
    if not isinstance(spec, list) or not spec:
        raise BridgeError(f"{source}: expected a reward name or a non-empty list of entries",
                          [Problem(source, "not a reward spec", expected="list of {name|preset, weight, options}",
                                   found=spec)])
    problems: list[Problem] = []
    components: list[Component] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(spec):
        where = f"[{i}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            problems.append(Problem(source, "entry must be a name or a mapping", field=where, found=entry))
            continue
        for k in sorted(set(entry) - ENTRY_KEYS):
            problems.append(Problem(source, "unknown key", field=f"{where}.{k}",
                                    expected=" | ".join(sorted(ENTRY_KEYS))))
        names = [entry[k] for k in ("name", "preset") if k in entry]
        if len(names) != 1 or not isinstance(names[0], str):
            problems.append(Problem(source, "each entry needs exactly one of 'name' or 'preset' (a string)",
                                    field=where, found=entry))
            continue
        try:
            info = get_reward(names[0])
        except BridgeError as e:
            problems.append(Problem(source, e.message, field=f"{where}.{'name' if 'name' in entry else 'preset'}",
                                    expected=e.hint))
            continue
        if "preset" in entry and info.kind not in ("preset", "plugin"):
            problems.append(Problem(source, f"{info.name!r} is a generic reward, not a preset (use 'name:')",
                                    field=f"{where}.preset"))
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
            problems.append(Problem(source, "weight must be a finite number", field=f"{where}.weight", found=weight))
            weight = 1.0
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            problems.append(Problem(source, "options must be a mapping", field=f"{where}.options", found=options))
            options = {}
        if info.kind != "plugin":
            for k in sorted(set(options) - set(info.options), key=str):
                problems.append(Problem(source, f"unknown option for {info.name}", field=f"{where}.options.{k}",
                                        expected=", ".join(sorted(info.options)) or "no options"))
            for k in sorted(set(options) & set(info.options), key=str):
                bad = option_problem(info.name, k, options[k])
                if bad:
                    problems.append(Problem(source, bad[0], field=f"{where}.options.{k}", expected=bad[1],
                                            found=options[k]))
        key = entry.get("key") or info.name
        if not isinstance(key, str):
            problems.append(Problem(source, "key must be a string", field=f"{where}.key", found=key))
            key = info.name
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key}#{seen[key]}"
        components.append(Component(key, info, float(weight), dict(options)))
    if problems:
        raise BridgeError(f"{source}: {len(problems)} problem(s)", problems)
    return Scorer(components)


class RewardError(BridgeError):
    """A reward that raised while scoring: the message names the component (its key, reward and options)."""


def safe_call(scorer: Scorer, completion: str, gt) -> dict[str, float]:
    """Score for a training hook. A reward that raises (bad ground truth, a plugin bug, an option value only
    some completions reach) stops the run with a :class:`RewardError` naming the component: scoring it 0 would
    silently train on a wrong signal — possibly 0 for exactly the correct completions."""
    return scorer(completion, gt)
