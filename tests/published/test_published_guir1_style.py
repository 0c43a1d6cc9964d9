"""Published fidelity — the gui-r1 style speaks GUI-R1's Android vocabulary (issue 10 item 9).

Published definition: GUI-R1 ``guir1/inference/inference_vllm_android.py`` (ritzz-ai/GUI-R1, read at
YangRui2015/GUI-R1 131ae9a79711e70328760f02801e3fbe94a97da0): the Android prompt enumerates
['wait', 'long_press', 'click', 'press_back', 'type', 'open_app', 'scroll'] in
``[{'action': ..., 'point': [x, y], 'input_text': ...}]`` answers, ``[-100, -100]`` for no point, and its
``extract_input_text`` reads a missing input_text as 'no input text'. GUI-R1's data (the gui-r1 importer)
also names ``impossible``. Every action the gui-r1 importer accepts must render and parse back.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image

from bridge import open_dataset
from bridge.importers import import_dataset
from bridge.styles import get_style

W, H = 100, 200


def _rows():
    buf = io.BytesIO()
    Image.new("RGB", (W, H), "white").save(buf, "PNG")
    img = {"bytes": buf.getvalue(), "path": None}
    return [{"image": img, "instruction": "do", "gt_action": a, "gt_bbox": b, "gt_input_text": t}
            for a, b, t in (("long_press", [0.5, 0.5], "no input text"), ("open_app", [-100, -100], "Maps"),
                            ("wait", [-100, -100], "no input text"), ("impossible", [-100, -100], "no input text"),
                            ("click", [0.25, 0.75], "no input text"))]


def test_published_guir1_importer_actions_render_and_parse_back(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(_rows()), tmp_path / "d.parquet")
    import_dataset("gui-r1", tmp_path / "d.parquet", tmp_path / "ds")
    style = get_style("gui-r1")
    steps = [e.steps[0] for e in open_dataset(tmp_path / "ds")]
    assert sorted(s.action.type for s in steps) == ["click", "long_press", "open_app", "status", "wait"]
    for s in steps:
        text = style.render_step(s)
        back = style.parse_action(text, s.width, s.height).action
        assert back is not None and back.type == s.action.type, text
        assert (back.app, back.status) == (s.action.app, s.action.status)


@pytest.mark.parametrize("answer, kind, field, value", [
    ("[{'action': 'wait', 'point': [-100, -100], 'input_text': 'no input text'}]", "wait", None, None),
    ("[{'action': 'long_press', 'point': [50, 100], 'input_text': 'no input text'}]", "long_press", None, None),
    ("[{'action': 'open_app', 'point': [-100, -100], 'input_text': 'shanghai shopping mall'}]", "open_app", "app",
     "shanghai shopping mall"),
    ("[{'action': 'type', 'point': [-100, -100], 'input_text': 'no input text'}]", "type", "text", "no input text"),
    ("[{'action': 'type', 'point': [-100, -100]}]", "type", "text", "no input text"),
])
def test_published_guir1_android_answers_parse(answer, kind, field, value):
    got = get_style("gui-r1").parse_action(f"<think>t</think><answer>{answer}</answer>", 1080, 2400)
    assert got.ok and got.action.type == kind
    if field:
        assert getattr(got.action, field) == value
