"""Published fidelity — GUI-R1's training frame (issue 10 item 11).

Published definition: GUI-R1 ``verl/utils/dataset.py`` ``process_image`` and ``RLHFDataset.__getitem__``
(ritzz-ai/GUI-R1, read at YangRui2015/GUI-R1 131ae9a79711e70328760f02801e3fbe94a97da0): an image with area
> max_pixels is resized by sqrt(max_pixels / area) with int() sides (then likewise up to min_pixels), and the
[0, 1] ``gt_bbox`` is multiplied by that resized (width, height). GUI-R1's recipe uses max_pixels 1,258,291
(ritzz-ai/GUI-R1 examples/qwen2_5_vl_3b_gui_grpo.sh). For 1080x2400: 752x1672.
"""
from __future__ import annotations

from bridge.frames import Frame, area_resize
from bridge.styles import get_style
from bridge.styles.base import PromptOptions
from bridge.styles.guir1 import published_frame


def test_published_guir1_process_image_size():
    assert area_resize(1080, 2400, 262144, 1258291) == (752, 1672)
    assert area_resize(300, 400, 262144, 1258291) == (443, 591)        # scaled up to min_pixels
    assert area_resize(1000, 1000, 262144, 1258291) == (1000, 1000)    # inside the bounds: unchanged
    f = published_frame()
    assert f.to_model(540, 1200, 1080, 2400) == (376, 836)            # gt centre x 0.5, y 0.5 of 752x1672
    assert Frame.from_dict(f.to_dict()) == f


def test_published_guir1_frame_difference_is_stated():
    style = get_style("gui-r1", PromptOptions(max_pixels=1258291))
    assert style.frame().model_size(1080, 2400) == (728.0, 1652.0)
    note = style.frame_note(1080, 2400)
    assert "752x1672" in note and "728x1652" in note
    assert style.frame_note(1008, 1008) is None      # on the patch grid and inside the bounds: the frames agree


def test_published_guir1_frame_difference_reaches_the_run_record(synth_dataset, tmp_path, monkeypatch):
    """The note is not only a method: `bridge run` records it (run.json notes) for each screenshot size."""
    from bridge.recipe import parse_recipe
    from bridge.runs import prepare

    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    r = parse_recipe({"name": "g", "model": "tiny:qwen2_5_vl", "train": {"max_steps": 1},
                      "data": {"train": str(synth_dataset), "style": "gui-r1", "max_pixels": 1258291}})
    plan = prepare(r, "trl", tmp_path / "runs", dry_run=True, echo=lambda s: None)
    notes = [n for n in plan.record()["notes"] if n.startswith("gui-r1 frame:")]
    assert notes and all("process_image size" in n and "smart-resize grid" in n for n in notes)
    q = parse_recipe({"name": "q", "model": "tiny:qwen2_5_vl", "train": {"max_steps": 1},
                      "data": {"train": str(synth_dataset), "style": "qwen25vl", "max_pixels": 1258291}})
    assert not [n for n in prepare(q, "trl", tmp_path / "runs", dry_run=True, echo=lambda s: None).notes
                if n.startswith("gui-r1 frame:")]                            # a style with no published-frame difference: no note
