"""Learnable synthetic screens: small tasks a tiny model can learn on CPU, and that need the pixels.

``make_grid_dataset(out, episodes, seed)`` draws one-step episodes on 112x112 screens (16 image tokens for a
Qwen2/2.5-VL processor at max_pixels 12544):

* **click** (70 %): a grid of buttons (``grid`` x ``grid``, default 3x3; each button 72 % of its cell's side,
  :func:`button_size`), all grey but one coloured; "Click the red button." — the target's cell is uniform over
  the cells, so the instruction alone gives 1/grid² (:func:`click_chance`); the bbox is the button's box;
* **swipe** (12 %): an arrow in the middle; "Swipe the way the arrow points." — the finger direction is drawn,
  not said (chance 1/4);
* **type** (6 %): a text field; "Type cat." — the text is copied from the instruction;
* **back** / **complete** (6 % each): "Go back." / "The task is done: finish." on a grid of grey buttons.

``make_click_set(out, grid, colours)`` writes every distinct click screen once (one per target colour and cell:
4 for the demo's red 2x2): ``bridge demo``'s GRPO prompts. Every GRPO step then scores the same screens, so its
mean reward moves with the policy, not with which kinds of prompts a step happened to draw (docs/demo.md).

``blind=True`` draws the same episodes (same instructions, same ground truth) on blank screens: the blind
baseline of ``bridge demo`` — trained on it, a model can only learn the instruction-given part, so its click
accuracy must stay near chance. Deterministic in (episodes, seed, blind).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Sequence, Union

from PIL import Image, ImageDraw

SIZE = 112
GRID = 3                        # default grid (cells per side); bridge demo uses 2 to stay within its CPU budget
BACKGROUND = (245, 245, 245)
GREY = (165, 165, 165)
COLOURS = {"red": (215, 45, 45), "blue": (45, 85, 215), "green": (40, 160, 70), "orange": (235, 145, 30)}
WORDS = ("cat", "blue", "hello", "maps", "train", "pizza")
DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}
# Clicks dominate: grounding is what the tiny model learns last (docs/demo.md, "Why the tiny model can see").
KINDS = (("click", 0.70), ("swipe", 0.12), ("type", 0.06), ("navigate_back", 0.06), ("complete", 0.06))


def click_chance(grid: int = GRID) -> float:
    """What a policy blind to the screen scores on click steps: one cell out of grid x grid."""
    return 1 / (grid * grid)


def button_size(grid: int = GRID) -> int:
    """Button side in pixels: 72 % of a cell (40 px on the demo's 2x2 grid). Buttons that cover most of their
    merged 28x28 image tokens are found within the demo's step budget; 22-px buttons were not (docs/demo.md)."""
    return round(0.72 * SIZE / grid)


def _cell_box(cell: int, grid: int) -> list[float]:
    size = SIZE / grid
    cx, cy = (cell % grid + 0.5) * size, (cell // grid + 0.5) * size
    h = button_size(grid) / 2
    return [round(cx - h), round(cy - h), round(cx + h), round(cy + h)]


def _grid(d: ImageDraw.ImageDraw, grid: int, target: int = -1, colour=GREY) -> None:
    for cell in range(grid * grid):
        d.rectangle(_cell_box(cell, grid), fill=colour if cell == target else GREY)


def _arrow(d: ImageDraw.ImageDraw, direction: str) -> None:
    dx, dy = DIRECTIONS[direction]
    c = SIZE / 2
    tail, head = (c - 30 * dx, c - 30 * dy), (c + 30 * dx, c + 30 * dy)
    d.line([tail, head], fill=(30, 30, 30), width=7)
    px, py = -dy, dx                      # perpendicular: the arrow head's base
    base = (head[0] - 16 * dx, head[1] - 16 * dy)
    d.polygon([head, (base[0] + 14 * px, base[1] + 14 * py), (base[0] - 14 * px, base[1] - 14 * py)],
              fill=(30, 30, 30))


def _click(grid: int, cell: int, colour: str) -> tuple[Image.Image, str, dict[str, Any]]:
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    _grid(ImageDraw.Draw(img), grid, cell, COLOURS[colour])
    box = _cell_box(cell, grid)
    point = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2]
    return img, f"Click the {colour} button.", {"type": "click", "point": point, "bbox": box}


def draw_step(rng: random.Random, grid: int = GRID, colours: Sequence[str] = tuple(COLOURS)
              ) -> tuple[Image.Image, str, dict[str, Any]]:
    """One screen, its instruction and its canonical action (original pixels); the target button takes one of
    ``colours``."""
    kind = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS])[0]
    if kind == "click":
        cell, colour = rng.randrange(grid * grid), rng.choice(sorted(colours))
        return _click(grid, cell, colour)
    img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
    d = ImageDraw.Draw(img)
    if kind == "swipe":
        direction = rng.choice(sorted(DIRECTIONS))
        _arrow(d, direction)
        dx, dy = DIRECTIONS[direction]
        c = SIZE / 2
        return img, "Swipe the way the arrow points.", {
            "type": "swipe", "point": [c, c], "end_point": [c + 40 * dx, c + 40 * dy], "direction": direction}
    if kind == "type":
        word = rng.choice(WORDS)
        d.rectangle([10, 44, 102, 68], fill=(255, 255, 255), outline=(90, 90, 90), width=2)
        return img, f"Type {word}.", {"type": "type", "text": word}
    _grid(d, grid)
    if kind == "navigate_back":
        return img, "Go back.", {"type": "navigate_back"}
    return img, "The task is done: finish.", {"type": "status", "status": "complete"}


def _check(grid: Any, colours: Sequence[str]) -> tuple[str, ...]:
    from .errors import BridgeError

    if not isinstance(grid, int) or not 1 <= grid <= 4:
        raise BridgeError(f"--grid must be 1 to 4 cells per side on a {SIZE}x{SIZE} screen, got {grid!r}")
    colours = tuple(colours)
    unknown = [c for c in colours if c not in COLOURS]
    if not colours or unknown:
        raise BridgeError(f"--colours must name some of {', '.join(sorted(COLOURS))}, got {', '.join(colours) or 'none'}")
    return colours


def _episode(ep_id: str, instruction: str, action: dict[str, Any], split: str, blind: bool) -> Any:
    from .schema import Episode

    return Episode.model_validate({
        "episode_id": ep_id, "instruction": instruction, "platform": "android", "app": "grid", "source": "synth",
        "split": split, "meta": {"task": "grid", "kind": action["type"], "blind": blind},
        "steps": [{"index": 0, "screenshot": f"images/{ep_id}.png", "width": SIZE, "height": SIZE,
                   "action": action}]})


def make_grid_dataset(out: Union[str, os.PathLike], episodes: int = 256, seed: int = 0, split: str = "train",
                      blind: bool = False, overwrite: bool = False, grid: int = GRID,
                      colours: Sequence[str] = tuple(COLOURS)) -> Path:
    """Write ``episodes`` one-step episodes (see the module docstring) as a canonical dataset at ``out``.
    ``colours``: the target colours drawn from (each named in its instruction); ``bridge demo`` uses red only,
    which a tiny model grounds in ~100 steps instead of ~200 (docs/demo.md)."""
    from .dataset import DatasetWriter
    from .errors import BridgeError

    if not isinstance(episodes, int) or episodes < 1:
        raise BridgeError(f"--episodes must be a positive integer, got {episodes!r}")
    colours = _check(grid, colours)
    meta = {"generator": "bridge.learnable", "task": "grid", "grid": grid, "seed": seed, "blind": blind,
            "colours": sorted(colours)}
    with DatasetWriter(Path(out), source="synth", overwrite=overwrite, meta=meta) as writer:
        images = writer.image_dir()
        for i in range(episodes):
            rng = random.Random(seed * 1_000_003 + i)
            img, instruction, action = draw_step(rng, grid, colours)
            if blind:
                img = Image.new("RGB", (SIZE, SIZE), BACKGROUND)
            ep_id = f"grid-{seed}-{i:05d}"
            img.save(images / f"{ep_id}.png", format="PNG")
            writer.write(_episode(ep_id, instruction, action, split, blind))
    return Path(out)


def make_click_set(out: Union[str, os.PathLike], grid: int = GRID, colours: Sequence[str] = tuple(COLOURS),
                   split: str = "train", overwrite: bool = False) -> Path:
    """Write every distinct click screen of ``grid`` and ``colours`` once (ids ``click-<colour>-<cell>``), drawn
    as :func:`make_grid_dataset` draws its clicks: a fixed prompt set for GRPO (module docstring)."""
    from .dataset import DatasetWriter

    colours = _check(grid, colours)
    meta = {"generator": "bridge.learnable", "task": "grid-clicks", "grid": grid, "colours": sorted(colours)}
    with DatasetWriter(Path(out), source="synth", overwrite=overwrite, meta=meta) as writer:
        images = writer.image_dir()
        for colour in sorted(colours):
            for cell in range(grid * grid):
                img, instruction, action = _click(grid, cell, colour)
                ep_id = f"click-{colour}-{cell}"
                img.save(images / f"{ep_id}.png", format="PNG")
                writer.write(_episode(ep_id, instruction, action, split, False))
    return Path(out)
