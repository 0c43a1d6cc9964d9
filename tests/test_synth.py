"""bridge.synth / `bridge synth`: determinism, coverage of every action type, exact boxes on drawn pixels."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from bridge.cli import main
from bridge.dataset import open_dataset
from bridge.errors import BridgeError
from bridge.frames import finger_direction
from bridge.schema import ACTION_TYPES
from bridge.synth import MIXED_COVERAGE, make_dataset
from bridge.validate import validate_dataset


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _actions(root: Path):
    for ep in open_dataset(root):
        for step in ep.steps:
            yield ep, step


def test_same_seed_gives_byte_identical_dataset(tmp_path):
    a = make_dataset(tmp_path / "a", episodes=4, seed=7)
    b = make_dataset(tmp_path / "b", episodes=4, seed=7)
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    assert sum(k.endswith(".png") for k in fa) == open_dataset(a).manifest.steps
    assert fa == fb
    c = make_dataset(tmp_path / "c", episodes=4, seed=8)
    assert _files(c)["episodes.jsonl"] != fa["episodes.jsonl"]


def test_mixed_episodes_cover_every_action_type_and_status(synth_dataset):
    assert MIXED_COVERAGE == 6
    types = Counter(step.action.type for _, step in _actions(synth_dataset))
    assert set(types) == set(ACTION_TYPES)
    statuses = {step.action.status for _, step in _actions(synth_dataset) if step.action.type == "status"}
    assert statuses == {"complete", "impossible"}
    m = open_dataset(synth_dataset).manifest
    assert (m.episodes, m.source) == (6, "synth")
    assert [ep.platform for ep in open_dataset(synth_dataset)] == ["android", "desktop"] * 3


@pytest.mark.parametrize("platform,episodes,missing,size", [
    ("android", 6, {"right_click"}, (270, 540)),
    ("desktop", 5, {"long_press", "swipe", "scroll", "open_app", "wait", "navigate_back", "navigate_home",
                    "select"}, (640, 400)),
])
def test_single_platform(tmp_path, platform, episodes, missing, size):
    root = make_dataset(tmp_path / platform, episodes=episodes, seed=1, platform=platform)
    types = {step.action.type for _, step in _actions(root)}
    assert types == set(ACTION_TYPES) - missing
    assert {(s.width, s.height) for _, s in _actions(root)} == {size}
    assert {ep.platform for ep in open_dataset(root)} == {platform}


def test_dataset_passes_validation(synth_dataset):
    report = validate_dataset(synth_dataset)
    assert report.ok, [str(p) for p in report.problems]
    assert report.steps == open_dataset(synth_dataset).manifest.steps > 6


def _majority(img: Image.Image, pixels) -> tuple:
    return Counter(img.getpixel(p) for p in pixels).most_common(1)[0][0]


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % rgb[:3]


def test_target_boxes_contain_the_drawn_element(synth_dataset):
    checked = 0
    for ep, step in _actions(synth_dataset):
        img = Image.open(synth_dataset / step.screenshot).convert("RGB")
        assert img.size == (step.width, step.height)
        for el in step.elements:
            x1, y1, x2, y2 = el.bbox
            assert 0 <= x1 < x2 <= step.width and 0 <= y1 < y2 <= step.height, (ep.episode_id, step.index, el)
        a = step.action
        if a.bbox is None:
            continue
        x1, y1, x2, y2 = (int(v) for v in a.bbox)
        assert a.point == ((x1 + x2) / 2, (y1 + y2) / 2)
        target = [el for el in step.elements if tuple(el.bbox) == tuple(a.bbox)]
        assert len(target) == 1, (ep.episode_id, step.index)
        fill = target[0].meta["fill"]
        inside = [(x, y) for x in range(x1, x2) for y in range(y1, y2)]
        assert _hex(_majority(img, inside)) == fill, (ep.episode_id, step.index, a.type)
        # A 2-pixel ring just outside the box is mostly some other colour: the element stands out.
        ring = [(x, y) for x in range(x1 - 2, x2 + 2) for y in range(y1 - 2, y2 + 2)
                if not (x1 <= x < x2 and y1 <= y < y2) and 0 <= x < step.width and 0 <= y < step.height]
        assert _hex(_majority(img, ring)) != fill, (ep.episode_id, step.index, a.type)
        # ...and so is the middle half of the box, around the point the action targets.
        qx, qy = (x2 - x1) // 4, (y2 - y1) // 4
        middle = [(x, y) for x in range(x1 + qx, x2 - qx) for y in range(y1 + qy, y2 - qy)]
        assert _majority(img, middle) != _majority(img, ring), (ep.episode_id, step.index, a.type)
        checked += 1
    assert checked >= 12


def test_moves_instructions_and_history(synth_dataset):
    prev = None
    for ep, step in _actions(synth_dataset):
        a = step.action
        if a.type in ("swipe", "drag"):
            assert a.point and a.end_point
            for x, y in (a.point, a.end_point):
                assert 0 <= x <= step.width and 0 <= y <= step.height
            assert a.direction == finger_direction(a.point, a.end_point)
        if a.type == "swipe":
            assert a.direction == "left" and a.end_point[0] < a.point[0]
        if a.type == "scroll":
            assert a.direction == "up" and "Scroll down" in step.low_instruction  # finger convention
        if a.type in ("type", "select", "answer", "ask_user"):
            assert a.text
        if a.type == "open_app":
            assert a.app == ep.app and any(el.text == a.app and el.role == "icon" for el in step.elements)
        if a.type == "ask_user":
            assert all(c in a.text for c in a.meta["candidates"]) and len(a.meta["candidates"]) >= 2
        if a.type == "answer":  # the answer is what the highlighted/target row shows
            row = [el for el in step.elements if el.bbox == tuple(a.meta["target_bbox"])]
            assert row and row[0].text.endswith(a.text) and a.text.startswith("$")
        if a.type == "wait":
            assert a.duration_ms == 1000
        assert step.thought and step.low_instruction
        assert step.extra_images == ([] if step.index == 0 else [prev])
        prev = step.screenshot
    first = next(iter(open_dataset(synth_dataset)))
    assert first.episode_id == "synth-0-00000" and first.app == "Messages"
    typed = [s.action.text for s in first.steps if s.action.type == "type"]
    assert len(typed) == 2 and all(t in first.instruction for t in typed)
    assert first.steps[-1].action.type == "status" and first.steps[-1].action.status == "complete"


def _run(args) -> int:
    try:
        main(args)
    except SystemExit as e:
        return e.code or 0
    return 0


def test_cli_writes_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "ds"
    assert _run(["synth", str(out), "--episodes", "2", "--seed", "3", "--platform", "desktop"]) == 0
    assert "wrote 2 episodes, 10 steps" in capsys.readouterr().out
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(x)["platform"] for x in lines] == ["desktop", "desktop"]
    assert _run(["synth", str(out), "--episodes", "2"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2  # untouched
    assert _run(["synth", str(out), "--episodes", "1", "--overwrite"]) == 0
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 1
    assert _run(["synth", str(tmp_path / "z"), "--episodes", "0"]) == 2
    assert _run(["synth", str(tmp_path / "z"), "--platform", "ios"]) == 2
    assert not (tmp_path / "z").exists() and not list(tmp_path.glob("*.partial-*"))


def test_bad_arguments(tmp_path):
    with pytest.raises(BridgeError, match="platform"):
        make_dataset(tmp_path / "x", episodes=1, platform="ios")
    with pytest.raises(BridgeError, match="positive"):
        make_dataset(tmp_path / "y", episodes=0)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
