"""Samples: one (prompt, images, target, ground truth) per step — what every adapter exports.

Built once from a canonical dataset and a style; adapters only re-shape them, which is what makes "the same
recipe" mean the same prompt text, pixels, target and reward on every backend (docs/backends.md).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from .groundtruth import GroundTruth

#: how many refused step ids per action type an ExportReport keeps (for messages; the counts are complete)
REFUSED_EXAMPLES = 5


@dataclass
class Sample:
    id: str                        # "<episode_id>/<step index>"
    messages: list[dict[str, Any]]  # prompt messages in the neutral form of bridge.styles.base
    target: str                    # assistant text the style renders for the ground-truth action
    images: list[str]              # absolute image paths, in the order of the image blocks
    ground_truth: GroundTruth

    @property
    def prompt_text(self) -> str:
        """The prompt's text for cross-backend fidelity checks: the text blocks of each message concatenated
        verbatim (as the neutral form defines), messages separated by a newline."""
        return "\n".join("".join(b["text"] for b in m["content"] if b["type"] == "text") for m in self.messages)


@dataclass
class ExportReport:
    samples: int = 0
    refused: Counter = field(default_factory=Counter)   # action type -> steps the style cannot express
    refused_examples: dict[str, list[str]] = field(default_factory=dict)  # action type -> a few "id: reason"

    def refuse(self, action_type: str, sample_id: str, reason: str) -> None:
        self.refused[action_type] += 1
        examples = self.refused_examples.setdefault(action_type, [])
        if len(examples) < REFUSED_EXAMPLES:
            examples.append(f"{sample_id}: {reason}")

    def summary(self) -> str:
        text = f"{self.samples} samples"
        if self.refused:
            text += "; refused (style cannot express): " + ", ".join(f"{k}={v}" for k, v in sorted(self.refused.items()))
        return text


def build_samples(dataset, style, report: ExportReport | None = None) -> Iterator[Sample]:
    """Yield one :class:`Sample` per step of ``dataset`` rendered with ``style``; steps whose action the style
    cannot express are counted in ``report.refused`` (never remapped, never silently dropped).

    ``dataset``: a :class:`~bridge.dataset.Dataset` or a path to one; ``style``: a Style or a style name.
    The target carries the step's thought when ``style.options.think`` is on (an empty thought if the step has
    none). A screen size the style's frame cannot handle raises a located :class:`~bridge.errors.BridgeError`
    — checked before the sample is yielded. Every episode passes
    :func:`bridge.validate.check_episode` (coordinates inside the image, image headers, sizes, required fields)
    and ids are unique: an invalid episode yields nothing, and once the data is read every problem is raised in
    one BridgeError (issue 11 item 2: an exported point outside the image became a clamped target while the
    ground truth kept the original) — the caller removes what it wrote.
    """
    from .dataset import open_dataset
    from .errors import BridgeError, Problem
    from .styles import Unsupported, get_style
    from .validate import duplicate_id, episode_checker

    ds = dataset if hasattr(dataset, "episodes_path") else open_dataset(dataset)
    if isinstance(style, str):
        style = get_style(style)
    report = report if report is not None else ExportReport()
    root = ds.image_resolver()  # step image paths may be relative to the manifest's image_root
    source = str(ds.episodes_path)
    frame = style.frame()
    think = style.options.think
    check = episode_checker(ds)   # paths (the symlink-aware policy), image headers, coordinates, fields
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for n, episode in enumerate(ds, 1):
        eid = episode.episode_id
        bad = check(episode, file=source)
        if eid in first:
            bad.append(duplicate_id(source, eid, f"episode {first[eid]}"))
        first.setdefault(eid, n)
        if bad:
            problems += bad
            continue
        for i, step in enumerate(episode.steps):
            sid = f"{episode.episode_id}/{step.index}"
            try:
                target = style.render_step(step, thought=(step.thought or "") if think else None)
            except Unsupported as e:
                report.refuse(step.action.type, sid, str(e))
                continue
            except ValueError as e:  # e.g. smart_resize on an aspect ratio beyond 200
                raise BridgeError(f"{source}: cannot render step {sid} with style {style.name}",
                                  [Problem(source, str(e), record=episode.episode_id, field=f"steps[{i}]")]) from None
            messages = style.messages(episode, i, root)
            # every image here is the episode's own, already checked above (exists, readable, allowed path)
            images = [b["image"] for m in messages for b in m["content"] if b["type"] == "image"]
            elements = [tuple(e.bbox) for e in step.elements] if step.elements else None
            gt = GroundTruth(action=step.action, width=step.width, height=step.height, style=style.name,
                             frame=frame, elements=elements, meta={"id": sid})
            report.samples += 1
            yield Sample(id=sid, messages=messages, target=target, images=images, ground_truth=gt)
    if problems:
        raise BridgeError(f"{source}: {len(problems)} problem(s) in the data; nothing was exported", problems,
                          hint=f"`bridge validate {ds.root}` lists them too; fix the data (or re-import it)")
