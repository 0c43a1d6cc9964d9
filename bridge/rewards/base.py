"""Reward registry: every reward is a function ``(completion: str, gt: GroundTruth, **options) -> float | dict``.

A reward returning a dict gives its total under ``"score"`` and its parts under other keys (e.g. GUI-R1's
``{"score", "format", "accuracy"}``). Rewards register with :func:`register`; third parties add theirs through
the entry-point group ``gui_bridge.rewards`` (an entry point resolves to a reward function carrying the
attributes set by :func:`register`, or to a :class:`RewardInfo`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ..errors import BridgeError

log = logging.getLogger("bridge.rewards")

ENTRY_POINT_GROUP = "gui_bridge.rewards"

RewardFn = Callable[..., Union[float, dict]]


@dataclass(frozen=True)
class RewardInfo:
    """A registered reward: its function plus what ``bridge rewards list`` shows."""

    name: str
    fn: RewardFn
    description: str
    kind: str = "generic"              # "generic" (parses with any style) | "preset" (a published function)
    style: Optional[str] = None        # the completion format a preset expects (None: any style's parser)
    parts: tuple[str, ...] = ()        # keys besides "score" the reward returns
    source: str = ""                   # where the published definition lives
    options: dict[str, Any] = field(default_factory=dict)   # option name -> default (documentation)

    def __call__(self, completion: str, gt, **options) -> dict[str, float]:
        return as_parts(self.fn(completion, gt, **options))


REWARDS: dict[str, RewardInfo] = {}
_entry_points_loaded = False


def register(name: str, description: str, *, kind: str = "generic", style: Optional[str] = None,
             parts: tuple[str, ...] = (), source: str = "", options: Optional[dict[str, Any]] = None):
    """Decorator adding a reward function to :data:`REWARDS` under ``name``."""

    def deco(fn: RewardFn) -> RewardFn:
        REWARDS[name] = RewardInfo(name, fn, description, kind, style, tuple(parts), source, dict(options or {}))
        fn.reward_name = name
        return fn

    return deco


def as_parts(result: Union[float, int, bool, dict]) -> dict[str, float]:
    """Normalise a reward result to ``{"score": float, <part>: float, ...}``."""
    if isinstance(result, dict):
        out = {k: float(v) for k, v in result.items()}
        if "score" not in out:
            raise TypeError(f"a reward returning a dict must include 'score' (got keys {sorted(out)})")
        return out
    return {"score": float(result)}


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin must not break the built-in rewards
            log.warning("could not load reward plugin %s (%s): %s", ep.name, ep.value, e)
            continue
        if isinstance(obj, RewardInfo):
            REWARDS.setdefault(ep.name, obj)
        elif callable(obj):
            REWARDS.setdefault(ep.name, RewardInfo(ep.name, obj, (obj.__doc__ or "").strip().split("\n")[0],
                                                   kind="plugin", source=ep.value))


def _load_builtins() -> None:
    from . import generic, judge, presets  # noqa: F401  (modules register on import)


def all_rewards() -> dict[str, RewardInfo]:
    """Every known reward (built-ins and entry-point plugins), by name."""
    _load_builtins()
    _load_entry_points()
    return REWARDS


def get_reward(name: str) -> RewardInfo:
    """The reward registered as ``name`` (``-`` and ``_`` are interchangeable); BridgeError if unknown."""
    rewards = all_rewards()
    for candidate in (name, name.replace("_", "-"), name.replace("-", "_")):
        if candidate in rewards:
            return rewards[candidate]
    raise BridgeError(f"unknown reward {name!r}", hint="known rewards: " + ", ".join(sorted(rewards))
                      + " (see `bridge rewards list`)")
