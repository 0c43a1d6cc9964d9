"""bridge.frames: smart_resize against transformers' own function, frame round trips, hand values."""
from __future__ import annotations

import random

import pytest

from bridge.frames import (PIXEL, REL1, REL1000, Frame, finger_direction, flip_direction, image_tokens, resized,
                           smart_resize)

# (min_pixels, max_pixels): transformers' Qwen2-VL defaults, the 1080p-phone setting used in GUI papers,
# a typical "256..1280 tokens" training setting, a tiny-model setting, and Qwen3-VL-like 32-px limits.
SETTINGS = [(56 * 56, 28 * 28 * 1280), (3136, 12845056), (256 * 28 * 28, 1280 * 28 * 28), (8 * 28 * 28, 64 * 28 * 28),
            (64 * 32 * 32, 16384 * 32 * 32)]


def _random_sizes(n: int, seed: int):
    rnd = random.Random(seed)
    out = []
    while len(out) < n:
        kind = rnd.random()
        if kind < 0.4:      # screenshot-like sizes
            h, w = rnd.randint(200, 4000), rnd.randint(200, 4000)
        elif kind < 0.7:    # tiny images (min_pixels branch)
            h, w = rnd.randint(1, 120), rnd.randint(1, 120)
        elif kind < 0.9:    # huge images (max_pixels branch)
            h, w = rnd.randint(2000, 12000), rnd.randint(2000, 12000)
        else:               # extreme aspect ratios up to the 200 limit
            short = rnd.randint(1, 60)
            h, w = short, rnd.randint(short, short * 200)
            if rnd.random() < 0.5:
                h, w = w, h
        if max(h, w) / min(h, w) <= 200:
            out.append((h, w))
    return out


@pytest.fixture(scope="module")
def hf_smart_resize():
    mod = pytest.importorskip("transformers.models.qwen2_vl.image_processing_qwen2_vl")
    return mod.smart_resize


@pytest.mark.parametrize("factor", [28, 32])
@pytest.mark.parametrize("min_pixels,max_pixels", SETTINGS)
def test_smart_resize_equals_transformers(hf_smart_resize, factor, min_pixels, max_pixels):
    sizes = _random_sizes(1000, seed=factor * 7 + min_pixels)
    for h, w in sizes:
        ours = smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        theirs = hf_smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        assert ours == tuple(theirs), (h, w, factor, min_pixels, max_pixels)
        assert ours[0] % factor == 0 and ours[1] % factor == 0


def test_smart_resize_defaults_equal_transformers_defaults(hf_smart_resize):
    for h, w in _random_sizes(1000, seed=5):
        assert smart_resize(h, w) == tuple(hf_smart_resize(h, w))


def test_smart_resize_aspect_limit_raises_like_transformers(hf_smart_resize):
    for h, w in [(1, 201), (10, 2011), (3000, 14)]:
        with pytest.raises(ValueError):
            hf_smart_resize(h, w)
        with pytest.raises(ValueError, match="aspect ratio"):
            smart_resize(h, w)
    assert smart_resize(1, 200) == tuple(hf_smart_resize(1, 200))  # exactly 200 is allowed
    with pytest.raises(ValueError, match="positive"):
        smart_resize(0, 10)


@pytest.mark.parametrize("args,expected", [
    # 1080x2400 phone, min 3136 / max 12845056: round(2400/28)=86 -> 2408, round(1080/28)=39 -> 1092; area in range.
    ((2400, 1080, 28, 3136, 12845056), (2408, 1092)),
    # factor 32: round(75)=75 -> 2400, round(33.75)=34 -> 1088.
    ((2400, 1080, 32, 3136, 12845056), (2400, 1088)),
    # default max 1003520 = 28*28*1280: 2408*1092 is too big; beta = sqrt(2592000/1003520) = 45/28, so
    # h = floor(2400*28/45/28)*28 = 53*28 = 1484 and w = floor(1080*28/45/28)*28 = 24*28 = 672.
    ((2400, 1080), (1484, 672)),
    # 1920x1080 landscape, defaults: beta = sqrt(2073600/1003520) = 1.43747; 1080/beta/28 = 26.8 -> 728,
    # 1920/beta/28 = 47.7 -> 1316.
    ((1080, 1920), (728, 1316)),
    # 30x20 with min 3136: 28*28 = 784 < 3136; beta = sqrt(3136/600) = 2.2862; ceil(45.7/28)=2 -> 56,
    # ceil(68.6/28)=3 -> 84.
    ((20, 30, 28, 3136), (56, 84)),
    # already multiples of 28 and in range: unchanged.
    ((56 * 20, 28 * 30), (56 * 20, 28 * 30)),
])
def test_smart_resize_hand_values(args, expected):
    assert smart_resize(*args) == expected


def test_image_tokens_hand_value():
    # (2408/28) * (1092/28) = 86 * 39
    assert image_tokens(2400, 1080, 28, 3136, 12845056) == 86 * 39


# ------------------------------------------------------------------------------------------- frames
FRAMES = [PIXEL, REL1, REL1000, resized(28), resized(28, 3136, 12845056), resized(32, 64 * 32 * 32, 1024 * 32 * 32),
          resized(28, 8 * 28 * 28, 64 * 28 * 28)]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f"{f.kind}-{f.factor}-{f.max_pixels}")
def test_round_trip_within_tolerance(frame):
    rnd = random.Random(42)
    for _ in range(300):
        w, h = rnd.randint(50, 4000), rnd.randint(50, 4000)
        tol = frame.tolerance(w, h)
        for _ in range(5):
            x, y = rnd.uniform(0, w), rnd.uniform(0, h)
            mx, my = frame.to_model(x, y, w, h)
            bx, by = frame.from_model(mx, my, w, h)
            assert abs(bx - x) <= tol + 1e-9 and abs(by - y) <= tol + 1e-9, (frame, w, h, x, y, mx, my)


def test_tolerance_is_tight_for_rel1000():
    # One rel1000 unit on a 2400-px side is 2.4 px: tolerance is half of that.
    assert REL1000.tolerance(1080, 2400) == pytest.approx(1.2)
    assert PIXEL.tolerance(1080, 2400) == pytest.approx(0.5)


def test_rel1000_rounding_and_clamping_hand_values():
    w, h = 1080, 2400
    assert REL1000.to_model(540, 1200, w, h) == (500, 500)
    assert REL1000.to_model(100, 100, w, h) == (93, 42)         # 92.59 -> 93, 41.67 -> 42
    assert REL1000.to_model(1079.9, 2399, w, h) == (1000, 1000)  # 999.9 -> 1000, 999.6 -> 1000
    assert REL1000.to_model(-5, 2500, w, h) == (0, 1000)         # clamped to the frame
    assert REL1000.to_model(0, 0, w, h) == (0, 0)
    assert all(isinstance(v, int) for v in REL1000.to_model(100, 100, w, h))
    assert REL1000.from_model(93, 42, w, h) == pytest.approx((100.44, 100.8))
    assert REL1000.box_to_model((108, 240, 216, 480), w, h) == (100, 100, 200, 200)


def test_rel1_hand_values():
    assert REL1.to_model(540, 1200, 1080, 2400) == (0.5, 0.5)
    assert REL1.to_model(100, 100, 1080, 2400) == (0.0926, 0.0417)  # rounded to 4 decimals
    assert REL1.to_model(2000, -1, 1080, 2400) == (1.0, 0.0)
    assert REL1.from_model(0.25, 0.75, 1080, 2400) == (270.0, 1800.0)


def test_resized_hand_values():
    fr = resized(28, 3136, 12845056)
    assert fr.model_size(1080, 2400) == (1092.0, 2408.0)
    assert fr.to_model(540, 1200, 1080, 2400) == (546, 1204)  # 540*1092/1080, 1200*2408/2400
    assert fr.from_model(546, 1204, 1080, 2400) == pytest.approx((540.0, 1200.0))
    assert resized().model_size(1080, 2400) == (672.0, 1484.0)  # transformers' defaults


def test_pixel_frame_rounds_to_integers():
    assert PIXEL.to_model(10.4, 10.6, 100, 100) == (10, 11)
    assert PIXEL.model_size(1080, 2400) == (1080.0, 2400.0)


def test_frame_serialises():
    fr = resized(32, 1024, 2048)
    assert Frame.from_dict(fr.to_dict()) == fr
    assert fr.to_dict() == {"kind": "resized", "factor": 32, "min_pixels": 1024, "max_pixels": 2048}


# -------------------------------------------------------------------------------------- directions
@pytest.mark.parametrize("start,end,expected", [
    ((0, 0), (10, 0), "right"), ((0, 0), (-10, 3), "left"), ((0, 0), (3, 10), "down"), ((0, 0), (3, -10), "up"),
    ((540, 1800), (540, 600), "up"),   # finger moves up the screen (content scrolls down)
    ((5, 5), (10, 10), "down"),        # |dx| == |dy|: the vertical axis wins
    ((5, 5), (0, 10), "down"),
])
def test_finger_direction(start, end, expected):
    assert finger_direction(start, end) == expected


def test_flip_direction():
    assert [flip_direction(d) for d in ("up", "down", "left", "right")] == ["down", "up", "right", "left"]
    for d in ("up", "down", "left", "right"):
        assert flip_direction(flip_direction(d)) == d
    with pytest.raises(KeyError):
        flip_direction("north")


def test_processor_pixels_read_a_transformers_5_checkpoint(tmp_path):
    """TRL's saved output/ (transformers 5) has processor_config.json with the image processor nested and no
    preprocessor_config.json: its bounds (the recipe's) are read, not the 56*56..28*28*1280 defaults."""
    import json

    from bridge.frames import Pixels, processor_pixels

    assert processor_pixels(tmp_path) is None
    (tmp_path / "processor_config.json").write_text(json.dumps(
        {"image_processor": {"size": {"shortest_edge": 3136, "longest_edge": 28000}, "patch_size": 14,
                             "merge_size": 2}}))
    assert processor_pixels(tmp_path) == Pixels(28, 3136, 28000)
