"""Published fidelity — AITW screenshots as raw pixels (issue 10 item 5).

Published definition: google-research/google-research ``android_in_the_wild/visualization_utils.py`` at
5b09c22d73a9d35eb6c5d2a99b95677a45053466, ``_decode_image``: ``image/encoded`` holds RAW uint8 bytes (not a
PNG/JPEG file), read with ``tf.io.decode_raw`` and reshaped to (image/height, image/width, image/channels),
row-major. A record exported from the TFRecords therefore carries base64 of H*W*C bytes.
"""
from __future__ import annotations

import base64
import json

import pytest
from PIL import Image

from bridge import open_dataset
from bridge.errors import BridgeError
from bridge.importers import import_dataset

H, W, C = 4, 3, 3


def _pixels() -> bytes:
    # pixel (row y, column x) = (10*y, 20*x, 7): tells rows from columns after the import
    return bytes(v for y in range(H) for x in range(W) for v in (10 * y, 20 * x, 7))


def _row(data: bytes, **kw) -> dict:
    return {"episode_id": "e", "step_id": 0, "episode_length": 1, "goal_info": "g",
            "image/encoded": base64.b64encode(data).decode(), "image/height": H, "image/width": W,
            "image/channels": C, "results/action_type": 10, **kw}


def test_published_aitw_raw_uint8_image_is_decoded_row_major(tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps(_row(_pixels())) + "\n", encoding="utf-8")
    import_dataset("aitw", tmp_path / "s.jsonl", tmp_path / "ds")
    ds = open_dataset(tmp_path / "ds")
    (ep,) = ds
    step = ep.steps[0]
    assert (step.width, step.height, step.screenshot) == (W, H, "images/e_0.png")
    with Image.open(ds.image_path(step.screenshot)) as im:
        assert im.mode == "RGB" and im.size == (W, H)
        assert im.getpixel((2, 3)) == (30, 40, 7) and im.getpixel((0, 1)) == (10, 0, 7)


def test_published_aitw_raw_bytes_of_the_wrong_length_are_located(tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps(_row(_pixels()[:-1])) + "\n", encoding="utf-8")
    with pytest.raises(BridgeError) as info:
        import_dataset("aitw", tmp_path / "s.jsonl", tmp_path / "ds")
    (p,) = info.value.problems
    assert (p.field, p.line, p.found) == ("image/encoded", 1, f"{H * W * C - 1} bytes")
    assert "4x3x3" in p.expected and not (tmp_path / "ds").exists()
