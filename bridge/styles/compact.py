"""``compact`` style: UI-TARS-1.5's action grammar with a one-line prompt, for tiny models on CPU.

Renderer, parser and coordinate frame are :class:`~bridge.styles.uitars.UITarsStyle`'s, unchanged (so its round
trips and parser guarantees hold here too). Only the prompt differs: the task (plus the step's low-level
instruction when shown) and the screenshot, without UI-TARS's system text and action space (~390 tokens). On CPU
every prompt token costs a pass over the 151,936-row LM head of a Qwen-VL vocabulary, so this is what lets
``bridge demo`` train a tiny model to ground clicks in minutes (docs/demo.md). Not a published format: use
``uitars`` for real UI-TARS models.
"""
from __future__ import annotations

from typing import Any

from ..schema import Episode
from .base import text_block
from .uitars import UITarsStyle


class CompactStyle(UITarsStyle):
    name = "compact"

    def messages(self, episode: Episode, step_index: int, image_root: str) -> list[dict[str, Any]]:
        msgs = super().messages(episode, step_index, image_root)
        task = episode.instruction
        low = self.low_instruction(episode.steps[step_index])
        if low:
            task += f"\nCurrent step: {low}"
        first = msgs[0]["content"]
        first[0] = text_block(task)   # UI-TARS's prompt is always the first user block (uitars.messages)
        return msgs
