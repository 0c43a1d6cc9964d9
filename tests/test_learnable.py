"""The learnable grid task (bridge/learnable.py): deterministic, valid, the answer is in the pixels (the target's
cell varies and is drawn, not said), and the blind copy keeps every instruction and ground truth but no pixels."""
from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from click.testing import CliRunner

from bridge.cli import cli
from bridge.dataset import open_dataset
from bridge.learnable import click_chance, make_grid_dataset
from bridge.validate import validate_dataset


def _digest(ds, step) -> str:
    return hashlib.sha256(ds.image_path(step.screenshot).read_bytes()).hexdigest()


@pytest.mark.parametrize("grid", [2, 3])
def test_grid_task_needs_the_pixels(tmp_path, grid):
    seen = make_grid_dataset(tmp_path / "seen", episodes=120, seed=3, grid=grid)
    blind = make_grid_dataset(tmp_path / "blind", episodes=120, seed=3, grid=grid, blind=True)
    eps, beps = list(open_dataset(seen)), list(open_dataset(blind))
    assert [e.instruction for e in eps] == [e.instruction for e in beps]
    assert [e.steps[0].action for e in eps] == [e.steps[0].action for e in beps]
    clicks = [e for e in eps if e.steps[0].action.type == "click"]
    cells = Counter(tuple(e.steps[0].action.bbox) for e in clicks)
    assert len(cells) == grid * grid and click_chance(grid) == 1 / (grid * grid)
    # the same instruction has targets in several cells: the text alone does not determine the answer
    by_text = {}
    for e in clicks:
        by_text.setdefault(e.instruction, set()).add(tuple(e.steps[0].action.point))
    assert max(len(v) for v in by_text.values()) > 1
    for e in clicks:   # the point is the centre of the drawn target box
        (x0, y0, x1, y1), (x, y) = e.steps[0].action.bbox, e.steps[0].action.point
        assert (x, y) == ((x0 + x1) / 2, (y0 + y1) / 2)
    ds, bds = open_dataset(seen), open_dataset(blind)
    assert len({_digest(ds, e.steps[0]) for e in clicks}) > 1
    assert len({_digest(bds, e.steps[0]) for e in beps}) == 1          # every blind screen is the same blank
    assert not validate_dataset(seen).problems and not validate_dataset(blind).problems


def test_grid_task_is_deterministic_and_covers_the_kinds(tmp_path):
    a = make_grid_dataset(tmp_path / "a", episodes=60, seed=1)
    b = make_grid_dataset(tmp_path / "b", episodes=60, seed=1)
    da, db = open_dataset(a), open_dataset(b)
    assert [(e.instruction, _digest(da, e.steps[0])) for e in da] == [(e.instruction, _digest(db, e.steps[0]))
                                                                         for e in db]
    kinds = Counter(e.steps[0].action.type for e in open_dataset(a))
    assert set(kinds) == {"click", "swipe", "type", "navigate_back", "status"}


def test_cli_task_options(tmp_path):
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "g"), "--task", "grid", "--grid", "2", "-n", "5"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "h"), "--blind"])
    assert r.exit_code == 2 and "--blind only applies with --task" in r.output
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "i"), "--task", "grid", "--grid", "9"])
    assert r.exit_code == 2 and not (tmp_path / "i").exists()


def test_colours_choose_the_target_colours(tmp_path):
    from PIL import Image

    from bridge.learnable import COLOURS, button_size

    red = open_dataset(make_grid_dataset(tmp_path / "red", episodes=40, seed=2, grid=2, colours=["red"]))
    clicks = [e for e in red if e.steps[0].action.type == "click"]
    assert clicks and {e.instruction for e in clicks} == {"Click the red button."}
    e = clicks[0]
    x, y = map(int, e.steps[0].action.point)
    assert Image.open(red.image_path(e.steps[0].screenshot)).convert("RGB").getpixel((x, y)) == COLOURS["red"]
    x0, y0, x1, y1 = e.steps[0].action.bbox
    assert x1 - x0 == y1 - y0 == button_size(2) == 40
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "p"), "--task", "grid", "--colours", "red,pink"])
    assert r.exit_code == 2 and "pink" in r.output and not (tmp_path / "p").exists()
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "q"), "--colours", "red"])
    assert r.exit_code == 2 and "--colours only applies with --task" in r.output


def test_click_set_is_every_click_screen_of_the_grid_once(tmp_path):
    """GRPO's fixed prompts (bridge demo): one episode per (colour, cell), drawn exactly as the grid task draws its
    clicks — the same pixels and ground truth as a grid-task click with that colour and cell."""
    from bridge.learnable import make_click_set

    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "c"), "--task", "grid-clicks", "--grid", "2",
                                 "--colours", "red,blue"])
    assert r.exit_code == 0 and "wrote 8 episodes" in r.output, r.output
    ds = open_dataset(tmp_path / "c")
    eps = {e.episode_id: e for e in ds}
    assert sorted(eps) == [f"click-{c}-{i}" for c in ("blue", "red") for i in range(4)]
    assert {tuple(e.steps[0].action.bbox) for e in eps.values()} == {(8, 8, 48, 48), (64, 8, 104, 48),
                                                                     (8, 64, 48, 104), (64, 64, 104, 104)}
    assert not validate_dataset(tmp_path / "c").problems
    grid = open_dataset(make_grid_dataset(tmp_path / "g", episodes=40, seed=2, grid=2, colours=["red"]))
    for e in (e for e in grid if e.steps[0].action.type == "click"):
        x0, y0 = e.steps[0].action.bbox[:2]
        twin = eps[f"click-red-{[8, 64].index(x0) + 2 * [8, 64].index(y0)}"]      # cells row by row
        assert twin.steps[0].action == e.steps[0].action and twin.instruction == e.instruction
        assert _digest(ds, twin.steps[0]) == _digest(grid, e.steps[0])
    assert make_click_set(tmp_path / "one", grid=3, colours=["green"]) and len(list(open_dataset(tmp_path / "one"))) == 9
    r = CliRunner().invoke(cli, ["synth", str(tmp_path / "b"), "--task", "grid-clicks", "--blind"])
    assert r.exit_code == 2 and not (tmp_path / "b").exists()
