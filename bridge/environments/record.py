"""Data from an environment: episodes played by the scripted oracle, written as a canonical dataset — the
real rendered screens, the DOM elements, and actions whose ``bbox`` is the target element's box
(``bridge synth --env miniwob``).

Only successful oracle episodes are written; a failed one is reported with its seed (never silently dropped
from the count) and the next seed is tried, up to ``MAX_EXTRA`` extra seeds per task.
"""
from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import BridgeError
from .rollout import EnvPool, EpisodeResult

MAX_EXTRA = 10


@dataclass
class RecordReport:
    episodes: int = 0
    steps: int = 0
    per_task: dict[str, int] = field(default_factory=dict)
    failed: list[tuple[str, Optional[int]]] = field(default_factory=list)   # (task, seed) the oracle failed


def episode_record(result: EpisodeResult, split: Optional[str], env_name: str = "miniwob") -> tuple[dict, list]:
    """(episode dict in the canonical format, [(image path under images/, PIL image)]) of one episode."""
    ep_id = f"{env_name}-{result.task}-{result.seed}"
    steps, images = [], []
    for k, turn in enumerate(result.turns):
        obs = turn.observation
        rel = f"images/{ep_id}/step_{k:02d}.png"
        images.append((rel[len("images/"):], obs.image))
        step = {"index": k, "screenshot": rel, "width": obs.width, "height": obs.height,
                "action": turn.decision.action, "meta": {"reward": turn.reward}}
        if obs.elements is not None:
            step["elements"] = obs.elements
        steps.append(step)
    meta = {"task": result.task, "seed": result.seed, "reward": result.reward, "raw_reward": result.raw_reward,
            "fields": result.turns[0].observation.meta.get("fields", {}) if result.turns else {}}
    return {"episode_id": ep_id, "instruction": result.instruction, "platform": "web", "app": result.task,
            "source": env_name, "split": split, "meta": meta, "steps": steps}, images


def record_oracle(out, pool: EnvPool, tasks: list[str], episodes: int, *, seed: int = 0,
                  split: Optional[str] = "train", overwrite: bool = False, env_name: str = "miniwob",
                  progress=None) -> RecordReport:
    """``episodes`` successful oracle episodes per task (seeds ``seed``, ``seed+1``, ...) into dataset ``out``;
    nothing is left at ``out`` when it fails."""
    from ..dataset import DatasetWriter
    from ..schema import Episode
    from .oracles import ORACLES
    from .policies import OraclePolicy

    missing = [t for t in tasks if t not in ORACLES]
    if missing:
        raise BridgeError(f"no scripted oracle for task(s) {', '.join(missing)}",
                          hint=f"tasks with an oracle: {', '.join(sorted(ORACLES))}")
    report = RecordReport()
    policy = OraclePolicy()
    meta = {"generator": "bridge.environments", "environment": env_name, "tasks": tasks, "seed": seed}
    with DatasetWriter(Path(out), source=env_name, overwrite=overwrite, meta=meta) as writer:
        for task in tasks:
            kept, seeds = 0, itertools.count(seed)
            while kept < episodes:
                need = episodes - kept
                batch = [(task, next(seeds)) for _ in range(need)]
                if batch[-1][1] - seed >= episodes + MAX_EXTRA:
                    raise BridgeError(f"{task}: the oracle failed on {len(report.failed)} seed(s) "
                                      f"({', '.join(str(s) for t, s in report.failed if t == task)}); "
                                      f"gave up after {episodes + MAX_EXTRA} seeds; nothing was written to {out}")
                for result in pool.run(batch, policy):
                    if not result.success:
                        report.failed.append((task, result.seed))
                        continue
                    record, images = episode_record(result, split, env_name)
                    for rel, image in images:
                        buf = io.BytesIO()
                        image.save(buf, format="PNG")
                        writer.add_image_bytes(buf.getvalue(), rel)
                    writer.write(Episode.model_validate(record))
                    kept += 1
                    report.steps += len(result.turns)
                    if progress:
                        progress(1)
            report.per_task[task] = kept
            report.episodes += kept
    return report
