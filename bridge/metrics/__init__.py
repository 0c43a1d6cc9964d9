"""Offline metrics (docs/rewards.md, docs/eval.md): step type accuracy, grounding accuracy, step success,
per-action-type breakdown, episode success and goal progress under named profiles reproducing the published
evaluators (``aitw``, ``androidcontrol``, ``agentcpm``, ``agentcpm-ac``, ``gui-r1``, ``gui-odyssey``,
``screenspot``). Predictions are parsed by the same style parsers the rewards use.

    from bridge.metrics import evaluate
    report = evaluate("data/synth", {"ep0/0": "<completion>", ...}, style="qwen2vl", profile="androidcontrol")
    print(report.render()); json.dumps(report.to_dict())
"""
from .aggregate import evaluate, resolve_style, step_id
from .profiles import PROFILES, Profile, Verdict, get_profile, is_point_step
from .report import Report, StepResult, TypeStats

__all__ = ["evaluate", "resolve_style", "step_id", "PROFILES", "Profile", "Verdict", "get_profile",
           "is_point_step", "Report", "StepResult", "TypeStats"]
