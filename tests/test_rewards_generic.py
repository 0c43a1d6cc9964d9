"""Generic rewards on real styles (qwen25vl at a size where its frame is the identity, seed for boxes), with
hand-computed values; and every style's own target scoring full marks."""
import json
import math

import pytest

from bridge.groundtruth import GroundTruth
from bridge.rewards import get_reward
from bridge.rewards.presets import agentcpm as cpm
from bridge.schema import Action
from bridge.styles import get_style

W, H = 1092, 2408          # multiples of 28 below max_pixels: qwen25vl's smart-resized frame is the identity


def gt_of(style="qwen25vl", **action):
    s = get_style(style)
    return GroundTruth(action=Action(**action), width=W, height=H, style=style, frame=s.frame())


def tc(**args):
    return '<tool_call>\n{"name": "mobile_use", "arguments": %s}\n</tool_call>' % json.dumps(args)


def click(x, y, action="click"):
    return tc(action=action, coordinate=[x, y])


def r(name, completion, gt, **options):
    return get_reward(name)(completion, gt, **options)["score"]


BOXED = gt_of(type="click", point=(100.0, 200.0), bbox=(50.0, 150.0, 150.0, 250.0))
POINT = gt_of(type="click", point=(500.0, 1000.0))
TYPE = gt_of(type="type", text="hello world")
SWIPE_UP = gt_of(type="swipe", point=(500.0, 1000.0), end_point=(500.0, 500.0), direction="up")
SCROLL_UP = gt_of(type="scroll", direction="up")
BACK = gt_of(type="navigate_back")


def test_format_and_think():
    assert r("format", click(1, 2), BOXED) == 1.0
    assert r("format", "I would click the button", BOXED) == 0.0
    assert r("format", click(1, 2), BOXED, think=True) == 0.0
    assert r("format", "<think>x</think>\n" + click(1, 2), BOXED, think=True) == 1.0


def test_action_type():
    assert r("action_type", click(1, 2), BOXED) == 1.0
    assert r("action_type", click(1, 2, "long_press"), BOXED) == 0.0
    assert r("action_type", tc(action="terminate", status="failure"), gt_of(type="status", status="complete")) == 0.0
    assert r("action_type", tc(action="terminate", status="success"), gt_of(type="status", status="complete")) == 1.0
    assert r("action_type", click(1, 2), SCROLL_UP) == 0.0


@pytest.mark.parametrize("completion,options,value", [
    (click(150, 250), {}, 1.0),                              # corner, inclusive
    (click(150, 250), {"inclusive": False}, 0.0),
    (click(151, 200), {}, 0.0),
    (click(100, 200, "long_press"), {}, 0.0),                # wrong type
    (click(100, 200, "long_press"), {"require_type": False}, 1.0),
    ("nonsense", {}, 0.0),
])
def test_point_in_box(completion, options, value):
    assert r("point_in_box", completion, BOXED, **options) == value


def test_point_without_box_uses_the_normalised_radius():
    # 0.14 · 1092 = 152.88 px along x
    assert r("point_in_box", click(652, 1000), POINT) == 1.0
    assert r("point_in_box", click(654, 1000), POINT) == 0.0
    assert r("point_in_box", click(500, 1000 + 300), POINT, fallback_radius=0.125) == 1.0   # 300/2408 = 0.1246


def test_no_geometry_convention():
    back = tc(action="system_button", button="Back")
    assert r("point_in_box", back, BACK) == 1.0
    assert r("point_in_box", click(1, 1), BACK) == 0.0
    assert r("text_f1", back, BACK) == 1.0
    assert r("swipe_direction", back, BACK) == 1.0


def test_distance_and_gaussians():
    assert r("distance", click(600, 1000), POINT) == pytest.approx(1 - (100 / 1092) / 0.14)
    assert r("distance", click(800, 1000), POINT) == 0.0
    assert r("distance", click(600, 1000), POINT, decay="exp") == pytest.approx(math.exp(-(100 / 1092) / 0.14))
    assert r("gaussian_point", click(100, 200), BOXED) == 1.0
    assert r("gaussian_point", click(150, 200), BOXED) == round(math.exp(-0.5), 3)    # σx = 0.5·100 = 50 px
    assert r("gaussian_point", click(150, 250), BOXED) == round(math.exp(-1.0), 3)
    assert r("gaussian_point", click(100, 200), POINT) == 0.0                          # needs a box


def test_iou_and_plane_with_a_box_speaking_style():
    gt = gt_of("seed", type="click", point=(100.0, 200.0), bbox=(50.0, 150.0, 150.0, 250.0))

    def seed_box(x1, y1, x2, y2):
        return json.dumps({"action_type": "click", "action_parameter": {"click": f"{x1},{y1},{x2},{y2}"},
                           "action_description": ""})

    assert r("iou", seed_box(50, 150, 150, 250), gt) == 1.0
    assert r("iou", seed_box(100, 150, 200, 250), gt) == pytest.approx(5000 / 15000)
    assert r("iou", seed_box(149, 249, 200, 300), gt) == pytest.approx(1 / (10000 + 2601 - 1))
    assert r("iou", seed_box(149, 249, 200, 300), gt, convention="vlm-r1") == 0.0      # one shared pixel
    assert r("gaussian_plane", seed_box(50, 150, 150, 250), gt) == 1.0
    # same size, centre shifted by 50 px in x: D_B = (1/8)·50²/(50²+ε) ≈ 1/8
    assert r("gaussian_plane", seed_box(100, 150, 200, 250), gt) == round(math.exp(-1 / 8), 3)
    assert r("iou", click(100, 200), gt, style="qwen25vl") == 0.0                          # a point has no box


def test_text_rewards():
    typed = lambda t: tc(action="type", text=t)   # noqa: E731
    assert r("text_f1", typed("hello there"), TYPE) == pytest.approx(0.5)
    assert r("text_f1", typed("Hello World"), TYPE) == 1.0
    assert r("text_f1", typed("hello"), gt_of(type="type", text="hello!")) == 1.0          # single-token substring
    assert r("text_match", typed("  HELLO   world "), TYPE) == 1.0
    assert r("text_match", typed("hello"), TYPE) == 1.0
    assert r("text_match", typed("help"), TYPE) == 0.0
    assert r("text_match", typed("hello"), TYPE, mode="exact") == 0.0
    assert r("text_match", tc(action="open", text="maps"), gt_of(type="open_app", app="Maps"), mode="exact") == 1.0


def test_swipe_direction():
    assert r("swipe_direction", tc(action="swipe", coordinate=[500, 1000], coordinate2=[500, 500]), SWIPE_UP) == 1
    assert r("swipe_direction", tc(action="swipe", coordinate=[500, 1000], coordinate2=[900, 1000]), SWIPE_UP) == 0
    assert r("swipe_direction", tc(action="swipe", coordinate=[5, 900], coordinate2=[5, 100]), SCROLL_UP) == 1
    assert r("swipe_direction", click(1, 1), SWIPE_UP) == 0


@pytest.mark.parametrize("completion,gt,value", [
    (click(100, 200), BOXED, 1.0),
    (click(200, 200), BOXED, 0.0),
    (click(600, 1000), POINT, 1.0),                          # 100/1092 ≤ 0.14
    (tc(action="type", text="hello there"), TYPE, 1.0),      # F1 0.5
    (tc(action="type", text="bye"), TYPE, 0.0),
    (tc(action="open", text="MAPS"), gt_of(type="open_app", app="Maps"), 1.0),
    (tc(action="open", text="Chrome"), gt_of(type="open_app", app="Maps"), 0.0),
    (tc(action="swipe", coordinate=[500, 1000], coordinate2=[500, 400]), SWIPE_UP, 1.0),
    (tc(action="swipe", coordinate=[500, 1000], coordinate2=[500, 1400]), SWIPE_UP, 0.0),
    (tc(action="terminate", status="failure"), gt_of(type="status", status="impossible"), 1.0),
])
def test_action_match(completion, gt, value):
    assert r("action_match", completion, gt) == value


ACTIONS = [Action(type="click", point=(100.0, 200.0), bbox=(50.0, 150.0, 150.0, 250.0)),
           Action(type="click", point=(700.0, 1500.0)),
           Action(type="long_press", point=(300.0, 300.0), duration_ms=1500),
           Action(type="swipe", point=(500.0, 1000.0), end_point=(500.0, 400.0), direction="up"),
           Action(type="scroll", direction="left"),
           Action(type="type", text="hello world"), Action(type="open_app", app="Maps"),
           Action(type="navigate_back"), Action(type="navigate_home"), Action(type="enter"), Action(type="wait"),
           Action(type="status", status="complete"), Action(type="status", status="impossible")]


@pytest.mark.parametrize("style", ["qwen25vl", "qwen2vl", "qwen3vl", "gui-r1", "agentcpm", "uitars", "seed"])
def test_each_style_target_scores_full_marks(style):
    s = get_style(style)
    scored = 0
    for a in ACTIONS:
        try:
            target = s.render_action(a, W, H)
        except Exception:  # the style cannot express it (refused at export)
            continue
        gt = GroundTruth(action=a, width=W, height=H, style=style, frame=s.frame())
        assert r("format", target, gt) == 1.0, (style, a.type)
        assert r("action_match", target, gt) == 1.0, (style, a.type, target)
        scored += 1
        if style == "gui-r1":
            out = get_reward("gui-r1")("<think>t</think> " + target, gt)
            assert out == {"score": 1.0, "format": 1.0, "accuracy": 1.0}, (a.type, target)
        if style == "agentcpm":
            out = get_reward("agentcpm")(target, gt)
            assert out["type"] == 1.0 and out["args"] >= 0.95 and out["schema"] == pytest.approx(0.3), target
    assert scored >= 6


def test_agentcpm_solution_table_agrees_with_the_style():
    s = get_style("agentcpm")
    for a in ACTIONS:
        try:
            target = json.loads(s.render_action(a, W, H))
        except Exception:
            continue
        gt = GroundTruth(action=a, width=W, height=H, style="agentcpm", frame=s.frame())
        assert cpm._table(gt) == target, a.type
