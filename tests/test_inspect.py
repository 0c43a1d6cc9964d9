"""`bridge inspect`: canonical JSON, readable summary, and --render checked pixel by pixel."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from bridge.cli import main
from bridge.dataset import DatasetWriter
from bridge.render import ARROW_COLOR, BOX_COLOR, CAPTION_BG, POINT_COLOR, ELEMENT_COLOR
from bridge.schema import Episode

W, H = 200, 400
WHITE = (255, 255, 255)


def episode(eid="e1", size=(W, H)):
    w, h = size
    return {"episode_id": eid, "instruction": "archive the mail", "platform": "android", "app": "Mail",
            "source": "test", "split": "train",
            "steps": [
                {"index": 0, "screenshot": "images/s0.png", "width": w, "height": h,
                 "elements": [{"bbox": [10, 300, 60, 350], "text": "Menu"}],
                 "action": {"type": "click", "point": [100, 70], "bbox": [20, 40, 180, 100]},
                 "low_instruction": "tap the first mail"},
                {"index": 1, "screenshot": "images/s0.png", "width": w, "height": h,
                 "action": {"type": "swipe", "point": [100, 300], "end_point": [100, 100], "direction": "up"}},
                {"index": 2, "screenshot": "images/s0.png", "width": w, "height": h,
                 "action": {"type": "type", "text": "hello"}},
            ]}


def make(tmp_path, records=None, image_size=(W, H), extra_line=None):
    png = tmp_path / "white.png"
    Image.new("RGB", image_size, WHITE).save(png)
    out = tmp_path / "ds"
    with DatasetWriter(out, images="copy") as wr:
        wr.add_image(png, "s0.png")
        for r in records or [episode()]:
            wr.write(Episode.model_validate(r))
    if extra_line:
        with open(out / "episodes.jsonl", "a") as fh:
            fh.write(extra_line + "\n")
    return out


def run(capsys, *args):
    code = 0
    try:
        main(["inspect", *map(str, args)])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def test_render_click_box_and_point(tmp_path, capsys):
    ds = make(tmp_path)
    png = tmp_path / "out.png"
    code, out, _ = run(capsys, ds, "--render", png)
    assert code == 0 and out.strip() == f"wrote {png} (episode e1, step 0)"
    im = Image.open(png).convert("RGB")
    assert im.width == W and im.height > H  # caption band below the screenshot
    px = im.getpixel
    for xy in [(20, 40), (180, 40), (100, 40), (20, 70), (180, 100), (100, 100)]:  # box outline
        assert px(xy) == BOX_COLOR, xy
    for xy in [(100, 70), (90, 70), (110, 70), (100, 60), (100, 80)]:  # cross through the point
        assert px(xy) == POINT_COLOR, xy
    for xy in [(5, 5), (100, 200), (60, 60), (150, 90)]:  # untouched screenshot pixels stay white
        assert px(xy) == WHITE, xy
    assert px((W - 1, im.height - 1)) == CAPTION_BG
    assert px((10, 300)) == WHITE  # elements are drawn only on request


def test_render_elements_on_request(tmp_path, capsys):
    png = tmp_path / "out.png"
    assert run(capsys, make(tmp_path), "--render", png, "--elements")[0] == 0
    im = Image.open(png).convert("RGB")
    assert im.getpixel((10, 300)) == ELEMENT_COLOR and im.getpixel((35, 350)) == ELEMENT_COLOR


def test_render_swipe_arrow(tmp_path, capsys):
    png = tmp_path / "swipe.png"
    code, _, _ = run(capsys, make(tmp_path), "--episode", "e1", "--step", "1", "--render", png)
    im = Image.open(png).convert("RGB")
    assert code == 0
    for y in (250, 200, 150, 120):  # shaft from (100, 300) up to (100, 100)
        assert im.getpixel((100, y)) == ARROW_COLOR, y
    assert im.getpixel((100, 103)) == ARROW_COLOR  # arrow head at the end point
    assert im.getpixel((100, 300)) == POINT_COLOR  # start point marker on top
    assert im.getpixel((150, 200)) == WHITE


def test_render_scales_when_file_size_differs_from_record(tmp_path, capsys):
    # Record says 100x200, the file is 200x400: record coordinates are scaled x2 onto the file.
    rec = episode(size=(100, 200))
    rec["steps"][0]["action"] = {"type": "click", "point": [50, 35], "bbox": [10, 20, 90, 50]}
    png = tmp_path / "o.png"
    assert run(capsys, make(tmp_path, [rec]), "--render", png)[0] == 0
    im = Image.open(png).convert("RGB")
    assert im.getpixel((100, 70)) == POINT_COLOR and im.getpixel((20, 40)) == BOX_COLOR


def test_render_errors_are_located_and_leave_nothing(tmp_path, capsys):
    ds = make(tmp_path)
    out = tmp_path / "o.png"
    code, _, err = run(capsys, ds, "--step", "7", "--render", out)
    assert code == 2 and "has 3 steps; there is no step 7" in err
    code, _, err = run(capsys, ds, "--episode", "nope", "--render", out)
    assert code == 2 and "no episode with id 'nope'" in err
    code, _, err = run(capsys, ds, "--render", tmp_path / "missing_dir" / "o.png")
    assert code == 2 and "does not exist" in err
    (ds / "images/s0.png").write_bytes(b"not a png")
    code, _, err = run(capsys, ds, "--render", out)
    assert code == 2 and "s0.png: cannot render episode 'e1' step 0: not an image" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "white.png"]


def test_jsonl_is_the_canonical_line(tmp_path, capsys):
    recs = [episode("a"), episode("b")]
    ds = make(tmp_path, recs)
    code, out, _ = run(capsys, ds, "--format", "jsonl")
    lines = out.strip().splitlines()
    assert code == 0 and lines == (ds / "episodes.jsonl").read_text().strip().splitlines()
    assert [json.loads(line)["episode_id"] for line in lines] == ["a", "b"]
    code, out, _ = run(capsys, ds, "--format", "jsonl", "--episode", "b", "--step", "2")
    assert json.loads(out) == {"episode_id": "b", "step": {
        "index": 2, "screenshot": "images/s0.png", "width": W, "height": H, "extra_images": [],
        "action": {"type": "type", "text": "hello", "meta": {}}, "meta": {}}}


def test_pretty_summary(tmp_path, capsys):
    code, out, _ = run(capsys, make(tmp_path), "--episode", "e1")
    assert code == 0
    assert out.splitlines() == [
        "episode e1  [android · Mail · source test · split train]  3 steps",
        "  goal: archive the mail",
        "  step 0 · click (100, 70)  box [20, 40, 180, 100]  | images/s0.png 200x400",
        "      low_instruction: tap the first mail",
        "  step 1 · swipe (100, 300) → (100, 100) direction=up  | images/s0.png 200x400",
        "  step 2 · type 'hello'  | images/s0.png 200x400",
    ]


def test_invalid_records_warn(tmp_path, capsys):
    code, out, err = run(capsys, make(tmp_path, extra_line="{oops"), "--format", "jsonl")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert "1 invalid records were skipped" in err


def test_not_a_dataset(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "none")
    assert code == 2 and "not a dataset directory" in err


def test_unknown_episode_in_text_mode(tmp_path, capsys):
    code, _, err = run(capsys, make(tmp_path), "--episode", "zz")
    assert code == 2 and "no episode with id 'zz'" in err


@pytest.mark.parametrize("ext_format", ["JPEG", "WEBP"])
def test_render_other_screenshot_formats(tmp_path, capsys, ext_format):
    ds = make(tmp_path)
    Image.new("RGB", (W, H), WHITE).save(ds / "images/s0.png", ext_format)  # content sniffed, not the name
    png = tmp_path / "o.png"
    assert run(capsys, ds, "--render", png)[0] == 0
    assert Image.open(png).convert("RGB").getpixel((100, 70)) == POINT_COLOR


def test_step_filter_across_episodes(tmp_path, capsys):
    short = episode("short")
    short["steps"] = short["steps"][:1]
    ds = make(tmp_path, [episode("a"), short, episode("b")])
    code, out, _ = run(capsys, ds, "--format", "jsonl", "--step", "2")
    assert code == 0 and [json.loads(x)["episode_id"] for x in out.strip().splitlines()] == ["a", "b"]
    code, _, err = run(capsys, ds, "--step", "5")
    assert code == 2 and "no episode has a step 5" in err
    code, _, err = run(capsys, ds, "--episode", "short", "--step", "1")
    assert code == 2 and "episode 'short' has 1 steps; there is no step 1" in err
