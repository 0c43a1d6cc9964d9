"""One reward library for every backend (docs/rewards.md).

Rewards score a completion against the canonical ground truth (:class:`bridge.groundtruth.GroundTruth`), in
original pixels after the style's parser (generic rewards), or in the published frame and format (presets).

    from bridge.rewards import get_reward, build_scorer
    get_reward("gui-r1")(completion, gt)            # {"score": …, "format": …, "accuracy": …}
    build_scorer([{"preset": "gui-r1"}, {"name": "format", "weight": 0.5}])(completion, gt)

Backend signatures live in :mod:`bridge.rewards.hooks`; ms-swift's ORM in :mod:`bridge.backends.swift.reward_plugin`.
"""
from __future__ import annotations

from .base import ENTRY_POINT_GROUP, REWARDS, RewardInfo, all_rewards, as_parts, get_reward, register
from .spec import DEFAULT_SPEC, RewardSpec, Scorer, build_scorer, load_spec
from . import generic, judge, presets  # noqa: E402,F401  (register the built-ins: REWARDS is complete on import)

__all__ = ["ENTRY_POINT_GROUP", "REWARDS", "RewardInfo", "all_rewards", "as_parts", "get_reward", "register",
           "DEFAULT_SPEC", "RewardSpec", "Scorer", "build_scorer", "load_spec"]
