"""``evaluate(dataset, predictions, style, profile) -> Report``: parse every prediction with the style, judge it
with the profile against the canonical ground truth, aggregate per step, per action type and per episode."""
from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Optional, Union

from ..schema import Episode
from ..styles.base import Parsed, Style
from .profiles import Profile, get_profile
from .report import EXAMPLES, Report, StepResult


def step_id(episode_id: str, index: int) -> str:
    """The id a prediction names its step by (the same as :class:`bridge.samples.Sample` ids)."""
    return f"{episode_id}/{index}"


def resolve_style(style: Union[str, Style]) -> Style:
    """A style instance from a name (``bridge.styles.get_style``) or the instance itself."""
    if isinstance(style, str):
        from ..styles import get_style

        style = get_style(style)
    if isinstance(style, type):
        style = style()
    return style


def _episodes(dataset: Any) -> Iterable[Episode]:
    if isinstance(dataset, (str, os.PathLike)):
        from ..dataset import open_dataset

        return open_dataset(dataset)
    return dataset


def _parse(style: Style, text: str, width: int, height: int) -> Parsed:
    try:
        return style.parse_action(text, width, height)
    except Exception as e:   # the contract says parsers never raise; a buggy one must not stop an evaluation
        return Parsed(None, error=f"parser raised {type(e).__name__}: {e}")


def evaluate(dataset: Any, predictions: Mapping[str, str], style: Union[str, Style],
             profile: Union[str, Profile], synthetic: Optional[bool] = None, strict: Optional[bool] = None) -> Report:
    """Score ``predictions`` (step id → model completion) on every step of ``dataset`` (a dataset path, a
    :class:`~bridge.dataset.Dataset` or any iterable of episodes).

    Missing predictions and unparsable ones count as wrong and are counted apart; prediction ids that name no
    step are counted as ``unexpected``. Steps are taken in ``index`` order within each episode (episode
    success and goal progress depend on that order).
    """
    profile = get_profile(profile)
    style = resolve_style(style)
    score_synthetic = profile.SCORE_SYNTHETIC if synthetic is None else synthetic
    strict = profile.STRICT_PARSE if strict is None else strict
    report = Report(profile=profile.name, style=getattr(style, "name", type(style).__name__))
    seen: set[str] = set()
    for episode in _episodes(dataset):
        results = []
        for step in sorted(episode.steps, key=lambda s: s.index):
            sid = step_id(episode.episode_id, step.index)
            seen.add(sid)
            if not score_synthetic and (step.meta or {}).get("synthetic"):
                report.excluded += 1
                if len(report.excluded_ids) < EXAMPLES:
                    report.excluded_ids.append(sid)
                continue
            text = predictions.get(sid)
            if text is None:
                v = profile.judge(step, None)
                r = StepResult(sid, step.action.type, "missing", grounded=v.grounded, category=v.category,
                               part=v.part)
            else:
                parsed = profile.strict_parse(text, step) if strict else _parse(style, text, step.width,
                                                                                 step.height)
                if not parsed.ok:
                    v = profile.judge(step, None)
                    r = StepResult(sid, step.action.type, "parse_failure", grounded=v.grounded,
                                   error=parsed.error or "unparsable", category=v.category, part=v.part)
                else:
                    v = profile.judge(step, parsed.action)
                    r = StepResult(sid, step.action.type, "ok", v.type_match, v.success, v.grounded,
                                   pred_type=parsed.action.type, note=v.note, category=v.category, part=v.part)
            report.add_step(r)
            results.append(r)
        report.add_episode(results)
    extra = [k for k in predictions if k not in seen]
    report.unexpected = len(extra)
    report.unexpected_ids = extra[:EXAMPLES]
    aggregate = getattr(profile, "aggregate", None)
    if aggregate is not None:
        report.published = aggregate(report.step_results)
    return report
