"""Samples: one (prompt, images, target, ground truth) per step — what every adapter exports.

Built once from a canonical dataset and a style; adapters only re-shape them, which is what makes "the same
recipe" mean the same prompt text, pixels, target and reward on every backend (DESIGN.md §7).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from .groundtruth import GroundTruth


@dataclass
class Sample:
    id: str                        # "<episode_id>/<step index>"
    messages: list[dict[str, Any]]  # prompt messages in the neutral form of bridge.styles.base
    target: str                    # assistant text the style renders for the ground-truth action
    images: list[str]              # absolute image paths, in the order of the image blocks
    ground_truth: GroundTruth

    @property
    def prompt_text(self) -> str:
        """All text blocks of the prompt joined (for cross-backend fidelity checks)."""
        return "\n".join(b["text"] for m in self.messages for b in m["content"] if b["type"] == "text")


@dataclass
class ExportReport:
    samples: int = 0
    refused: Counter = field(default_factory=Counter)   # action type -> steps the style cannot express

    def summary(self) -> str:
        text = f"{self.samples} samples"
        if self.refused:
            text += "; refused (style cannot express): " + ", ".join(f"{k}={v}" for k, v in sorted(self.refused.items()))
        return text


def build_samples(dataset, style, report: ExportReport | None = None) -> Iterator[Sample]:
    """Yield one :class:`Sample` per step of ``dataset`` rendered with ``style``; steps whose action the style
    cannot express are counted in ``report.refused`` (never remapped, never silently dropped)."""
    raise NotImplementedError  # implemented with the styles (issue 3)
