"""Dataset statistics, streamed (memory grows with the number of *distinct* values only, not with steps).

Image sizes come from the records' ``width``/``height`` (no image is opened); ``bridge validate`` is what
checks them against the files.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from .dataset import open_dataset
from .errors import BridgeError

NONE = "(none)"


def compute_stats(path) -> dict[str, Any]:
    """Counts and distributions of a dataset: episodes, steps, action types, platforms, sources, apps, splits,
    screenshot sizes and steps per episode. Records that fail to parse are counted in ``invalid_records``
    (``bridge validate`` lists them) and otherwise skipped."""
    ds = open_dataset(path)
    types, platforms, sources, apps, splits, sizes = Counter(), Counter(), Counter(), Counter(), Counter(), Counter()
    episodes = steps = invalid = 0
    spe_min = spe_max = None
    shown: list = []  # the first problems of invalid records (for the error that follows the statistics)
    for _, ep, problems in read_records(ds):
        if ep is None:
            invalid += 1
            shown.extend(problems[:max(0, 10 - len(shown))])
            continue
        episodes += 1
        n = len(ep.steps)
        steps += n
        spe_min = n if spe_min is None else min(spe_min, n)
        spe_max = n if spe_max is None else max(spe_max, n)
        platforms[ep.platform] += 1
        sources[ep.source] += 1
        apps[ep.app or NONE] += 1
        splits[ep.split or NONE] += 1
        for st in ep.steps:
            types[st.action.type] += 1
            sizes[(st.width, st.height)] += 1
    return {
        "dataset": str(ds.root),
        "episodes": episodes,
        "steps": steps,
        "invalid_records": invalid,
        "action_types": dict(types.most_common()),
        "platforms": dict(platforms.most_common()),
        "sources": dict(sources.most_common()),
        "apps": dict(apps.most_common()),
        "splits": dict(splits.most_common()),
        "steps_per_episode": {"min": spe_min, "mean": round(steps / episodes, 3) if episodes else None,
                              "max": spe_max},
        "image_sizes": _sizes(sizes),
        "invalid_problems": [str(p) for p in shown],
    }


def read_records(ds):
    """ds.records(), with I/O errors turned into a BridgeError (no traceback)."""
    try:
        yield from ds.records()
    except OSError as e:  # e.g. permissions, I/O error mid-file
        raise BridgeError(f"{ds.episodes_path}: cannot read the episodes file: {e.strerror or e}") from None


def _sizes(sizes: Counter) -> dict[str, Any]:
    if not sizes:
        return {"distinct": 0, "min_width": None, "max_width": None, "min_height": None, "max_height": None,
                "most_common": []}
    ws = [w for w, _ in sizes]
    hs = [h for _, h in sizes]
    return {"distinct": len(sizes), "min_width": min(ws), "max_width": max(ws), "min_height": min(hs),
            "max_height": max(hs),
            "most_common": [{"width": w, "height": h, "steps": c} for (w, h), c in sizes.most_common(5)]}


def format_stats(s: dict[str, Any], top: int = 10) -> str:
    """Human-readable rendering of :func:`compute_stats` output."""
    def counts(d: dict) -> str:
        items = list(d.items())
        text = ", ".join(f"{k} {v}" for k, v in items[:top])
        return text + (f", … ({len(items) - top} more)" if len(items) > top else "") if items else "-"

    lines = [f"dataset        {s['dataset']}",
             f"episodes       {s['episodes']}",
             f"steps          {s['steps']}"]
    if s["invalid_records"]:
        lines.append(f"invalid        {s['invalid_records']} records skipped (run `bridge validate`)")
    spe = s["steps_per_episode"]
    if spe["min"] is not None:
        lines.append(f"steps/episode  min {spe['min']}  mean {spe['mean']:g}  max {spe['max']}")
    lines.append("action types")
    width = max((len(t) for t in s["action_types"]), default=0)
    for t, c in s["action_types"].items():
        lines.append(f"  {t:<{width}}  {c:>8}  {100.0 * c / s['steps']:5.1f}%")
    for name in ("platforms", "sources", "apps", "splits"):
        lines.append(f"{name:<14} {counts(s[name])}")
    im = s["image_sizes"]
    if im["distinct"]:
        common = ", ".join(f"{d['width']}x{d['height']} ({d['steps']})" for d in im["most_common"])
        lines.append(f"image sizes    {im['distinct']} distinct; width {im['min_width']}..{im['max_width']}, "
                     f"height {im['min_height']}..{im['max_height']}; most common {common}")
    return "\n".join(lines)
