"""Table tests for the ui-r1, gui-g1, se-gui, vlm-r1 and agentcpm presets (hand-computed values), the JSON5
reader, and the linear-time matchers checked against the published regular expressions."""
import math
import re
import time

import pytest
from hypothesis import given, settings, strategies as st

from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import get_reward
from bridge.rewards.generic import iou_continuous, iou_vlmr1
from bridge.rewards.presets import _json5, _match, se_gui, vlm_r1
from bridge.schema import Action

W, H = 1000, 2000
PIXEL = Frame("pixel")


def gt_of(frame=PIXEL, style="qwen25vl", **action):
    return GroundTruth(action=Action(**action), width=W, height=H, style=style, frame=frame)


BOX = gt_of(type="click", point=(200.0, 300.0), bbox=(100.0, 200.0, 300.0, 400.0))


def run(name, completion, gt):
    return get_reward(name)(completion, gt)


# --------------------------------------------------------------------------------------------- UI-R1
def ui(action, coord, think="<think>a</think>"):
    return f"{think}<answer>[{{'action': {action}, 'coordinate': [{coord[0]}, {coord[1]}]}}]</answer>"


@pytest.mark.parametrize("completion,gt,parts", [
    (ui("'click'", (100, 400)), BOX, (1, 1, 1)),                   # inclusive corner
    (ui("'click'", (99, 300)), BOX, (1, 0, 1)),
    (ui("click", (200, 300)), BOX, (1, 1, 1)),                     # unquoted fallback
    (ui("'Click'", (200, 300)), BOX, (0, 0, 1)),                   # case-sensitive
    (ui("'click'", (200, 300), think=""), BOX, (1, 1, 0)),
    (ui("'input_text'", (0, 0)), gt_of(type="type", text="x"), (1, 1, 1)),    # non-click: type match = coord 1
    (ui("'scroll'", (0, 0)), gt_of(type="swipe", point=(1.0, 1.0), direction="up"), (1, 1, 1)),
    (ui("'navigate_back'", (0, 0)), gt_of(type="type", text="x"), (0, 0, 1)),
    ("<think>a</think><answer>[{'action': 'click', 'coordinate': [150, 250], 'later': [900, 900]}]</answer>",
     BOX, (1, 1, 1)),                                              # the FIRST [int, int]
])
def test_ui_r1(completion, gt, parts):
    out = run("ui-r1", completion, gt)
    assert (out["action"], out["coord"], out["format"]) == parts and out["score"] == sum(parts)


def test_ui_r1_scales_model_pixels_with_truncation():
    # resized 1000x2000 → 1008x1988 (factor 28, no clamping): x·1000/1008, y·2000/1988, then int()
    frame = Frame("resized", 28, 4 * 784, 10_000_000)
    gt = gt_of(frame, type="click", point=(200.0, 300.0), bbox=(100.0, 200.0, 300.0, 400.0))
    assert run("ui-r1", ui("'click'", (101, 199)), gt)["coord"] == 1      # → (100, 200): inclusive corner
    assert run("ui-r1", ui("'click'", (100, 199)), gt)["coord"] == 0      # → (99, 200)


# -------------------------------------------------------------------------------------------- GUI-G1
@pytest.mark.parametrize("completion,expected", [
    ('[{"bbox_2d": [100, 200, 300, 400], "label": "x"}]', (1.0, 0.25, 0.125)),
    ('```json\n[{"bbox_2d": [100, 200, 300, 400]}]\n```', (1.0, 0.25, 0.125)),
    ('[{"bbox_2d": [0, 0, 100, 100]}]', (0.0, 0.0, 0.125 * 4 / (1 / 0.9 + 1 / 0.8 + 1 / 0.9 + 1 / 0.85))),
    ('[{"bbox_2d": [100, 200, 300, 400], "ok": true}]', (0.0, 0.0, 0.0)),   # JSON true: not a Python literal
    ('{"bbox_2d": [100, 200, 300, 400]}', (0.0, 0.0, 0.0)),                # a dict: json_output[0] fails
    ('[{"bbox_2d": [1000, 200, 300, 400]}]', (0.0, 0.0, 0.0)),             # a = 1-|100-1000|/1000 = 0.1 …
])
def test_gui_g1(completion, expected):
    out = run("gui-g1", completion, BOX)
    if completion.startswith('[{"bbox_2d": [1000'):
        # hit: centre (650, 300) outside; iou: inverted box → inter 0, union = -140000+40000 → 0.0; box is finite
        a, b, c, d = 1 - 900 / 1000, 1 - 0 / 1000, 1 - 0 / 2000, 1 - 0 / 2000
        expected = (0.0, 0.0, 0.125 * 4 / (1 / a + 1 / b + 1 / c + 1 / d))
    assert (out["hit"], out["iou"], out["box"]) == pytest.approx(expected)
    assert out["score"] == pytest.approx(sum(expected))


def test_iou_conventions():
    assert iou_vlmr1([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou_vlmr1([0, 0, 10, 10], [9, 9, 20, 20]) == 0.0                # one shared pixel column: 9 < 9 fails
    assert iou_continuous([0, 0, 10, 10], [9, 9, 20, 20]) == pytest.approx(1 / 220)
    assert iou_vlmr1([0, 0, 10, 10], [8, 8, 20, 20]) == pytest.approx(4 / 240)
    assert iou_vlmr1([0, 0, 10, 10], [5, 5, 15, 15]) == pytest.approx(25 / 175)
    with pytest.raises(ZeroDivisionError):
        iou_vlmr1([0, 0, 0, 0], [0, 0, 0, 0])


# -------------------------------------------------------------------------------------------- SE-GUI
def tc(x, y):
    return f'<tool_call>{{"name": "computer_use", "arguments": {{"action": "left_click", "coordinate": [{x}, {y}]}}}}</tool_call>'


MAXD2 = 0.8 ** 2 + 0.85 ** 2          # centre (0.2, 0.15) → farthest corner (1, 1), squared


@pytest.mark.parametrize("completion,fmt,point", [
    (tc(200, 300), 1, 2.0),                                        # centre: 1 + (1 - 0)
    (tc(100, 400), 1, 1 + 1 - 0.0125 / MAXD2),                     # inclusive corner, d² = 0.1² + 0.05²
    (tc(700, 1400), 1, 1 - (0.5 ** 2 + 0.55 ** 2) / MAXD2),        # outside, d = 0.743 ≤ 1
    (tc(900, 1900), 1, 0.0),                                       # d = 1.063 > 1: no decay (raw-d guard)
    (tc("true", 300), 0, 1 - 0.199 ** 2 / MAXD2),                  # a bool is a number in Python
    (tc("200.5", 300), 0, 1 + 1 - (0.0005 ** 2) / MAXD2),          # floats fail format, not the point reward
    ("<tool_call>[1, 2]</tool_call>", 0, 0.0),
    ("<tool_call>{'arguments': {'coordinate': [200, 300]}}</tool_call>", 1, 0.0),   # not JSON
])
def test_se_gui(completion, fmt, point):
    out = run("se-gui", completion, BOX)
    assert out["format"] == fmt and out["point"] == pytest.approx(point) and out["score"] == pytest.approx(fmt + point)


# -------------------------------------------------------------------------------------------- VLM-R1
@pytest.mark.parametrize("completion,value", [
    ("<think>a</think>\n<answer>b</answer>", 1.0),
    ("<think></think><answer></answer>", 1.0),
    ("<think>a</think> x <answer>b</answer>", 0.0),
    (" <think>a</think><answer>b</answer>", 0.0),
    ("<think>a</think><answer>b</answer>\n", 0.0),
    ("<think>a</think><answer>b</answer></answer>", 1.0),          # lazy .*? still reaches the final tag
])
def test_vlm_r1_format(completion, value):
    assert run("vlm-r1-format", completion, BOX)["score"] == value


def test_vlm_r1_iou_rescales_from_the_model_frame():
    gt = gt_of(Frame("rel1000"), type="click", point=(200.0, 300.0), bbox=(100.0, 200.0, 300.0, 400.0))
    out = run("vlm-r1-iou", '<think>t</think><answer>{"bbox": [100, 100, 300, 200]}</answer>', gt)
    assert out == {"score": 2.0, "format": 1.0, "iou": 1.0}
    out = run("vlm-r1-iou", "<think>t</think><answer>[100, 100, 300, 200]</answer>", gt)   # no braces: format 0
    assert out == {"score": 1.0, "format": 0.0, "iou": 1.0}
    assert run("vlm-r1-iou", "<answer>[0, 0, 100, 100]</answer>", gt)["iou"] == 0.0


# ------------------------------------------------------------------------------------------ AgentCPM
CPM = gt_of(style="agentcpm", type="click", point=(500.0, 1000.0), bbox=(400.0, 900.0, 600.0, 1100.0))
CPM_NOBOX = gt_of(style="agentcpm", type="click", point=(500.0, 1000.0))


@pytest.mark.parametrize("completion,gt,schema,type_,args", [
    ('{"POINT":[500,500]}', CPM, 0.3, 1, 1.0),
    ('```json\n{"POINT":[500,500]}\n```', CPM, 0.15, 1, 0.95),
    ('{"POINT":[550,520]}', CPM, 0.3, 1, 0.95 + 0.05 * 0.95 ** 3),            # Chebyshev 50 px from centre
    ('{"POINT":[700,500]}', CPM, 0.3, 1, 1 - 0.2 / 2),                        # outside: 1 - L1/2
    ('{"POINT":[500.0,500]}', CPM, 0.3, 1, 1.0),                              # 500.0 is a schema integer
    ('{"thought":"tap it","POINT":[500,500]}', CPM, 0.3, 1, 1.0),
    ('// reason\n{POINT:[500,500],}', CPM, 0.3, 1, 1.0),                      # JSON5: comment, bare key, comma
    ('{"POINT":[500,500],"duration":200}', CPM, 0.3, 0, -0.1 + 1.0),
    ('{"TYPE":"abc"}', CPM, 0.3, 0, -0.1 - 0.3 + 0.0),
    ('{"POINT":[500,1500]}', CPM, 0.09, -1, -1),                              # schema violation
    ('{"POINT":[1,2],"POINT":[3,4]}', CPM, 0.0, -1, -1),                      # duplicate keys
    ("click(5, 5)", CPM, 0.0, -1, -1),
    ('{}', CPM, 0.3, -1, -1),                                                 # valid, but no action key
    ('{"POINT":[505,505]}', CPM_NOBOX, 0.3, 1, 1.0),                          # inside the ±1 % window
    ('{"POINT":[520,500]}', CPM_NOBOX, 0.3, 1, 1 - 0.02 / 2),
])
def test_agentcpm(completion, gt, schema, type_, args):
    out = run("agentcpm", completion, gt)
    assert out["schema"] == pytest.approx(schema) and out["type"] == type_ and out["args"] == pytest.approx(args)
    assert out["score"] == pytest.approx(type_ + args)
    assert run("agentcpm-args", completion, gt)["score"] == pytest.approx(args)


def test_agentcpm_text_duration_direction():
    t = gt_of(style="agentcpm", type="type", text="hello")
    assert run("agentcpm-args", '{"TYPE":"hallo"}', t)["score"] == pytest.approx(0.8)          # 2·4/10
    lp = gt_of(style="agentcpm", type="long_press", point=(500.0, 1000.0), duration_ms=1000)
    assert run("agentcpm-args", '{"POINT":[500,500],"duration":100}', lp)["score"] == pytest.approx(0.5)
    assert run("agentcpm-args", '{"POINT":[500,500],"duration":5000}', lp)["score"] == pytest.approx(1.0)
    sw = gt_of(style="agentcpm", type="swipe", point=(500.0, 1000.0), direction="up")
    assert run("agentcpm-args", '{"POINT":[500,500],"to":"down"}', sw)["score"] == pytest.approx(0.5)
    assert run("agentcpm-type", '{"PRESS":"HOME"}', gt_of(style="agentcpm", type="navigate_home"))["score"] == 1
    assert run("agentcpm-schema", '{"PRESS":"MENU"}', CPM)["score"] == pytest.approx(0.09)


# --------------------------------------------------------------------------------------------- JSON5
def test_json5_reader():
    assert _json5.loads("{a: 1, 'b': [0x1F, .5, +3, -Infinity,], /* c */ \"d\": 'it\\'s'}") == \
        {"a": 1, "b": [31, 0.5, 3, -math.inf], "d": "it's"}
    assert _json5.loads(" [true, false, null, 1e2] // end") == [True, False, None, 100.0]
    assert math.isnan(_json5.loads("NaN"))
    for bad in ("", "{", "[1 2]", "{a:1,a:2}", "01", "'abc", "{a:1}}", "tru", "[" * 500 + "]" * 500):
        with pytest.raises(_json5.JSON5Error):
            _json5.loads(bad)


# ------------------------------------------------- linear matchers == the published regular expressions
TOKENS = ["{", "}", "[", "]", "1", "23", ",", ", ", " ", "\n", "\t", "\u00a0", "a", "<think>", "</think>",
          "<answer>", "</answer>", "<tool_call>", "</tool_call>", "[4, 5]", "[6,\n7]", "[1, 2, 3, 4]"]
text = st.lists(st.sampled_from(TOKENS), max_size=30).map("".join)

R_BODY = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
R_OUTER = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
R_PAIR = re.compile(r"\{.*\[(\d+),\s*(\d+)]\s*.*\}")
R_SEGUI = re.compile(r"<tool_call>.*?\{.*\[\d+,\s*\d+\].*\}.*?</tool_call>", re.DOTALL)
R_REC = re.compile(r"<think>.*?</think>\s*<answer>.*?\{.*\[\d+,\s*\d+,\s*\d+,\s*\d+\].*\}.*?</answer>", re.DOTALL)


@settings(max_examples=1500, deadline=None)
@given(text)
def test_matchers_equal_regexes(s):
    m = R_BODY.search(s)
    assert _match.answer_body(s) == (m.group(1) if m else None)
    assert _match.think_answer_fullmatch(s) == (R_OUTER.fullmatch(s) is not None)
    m = R_PAIR.search(s)
    assert _match.last_pair_in_braces(s) == ((int(m.group(1)), int(m.group(2))) if m else None)
    assert se_gui.format_reward(s) == (1.0 if R_SEGUI.search(s) else 0.0)
    assert vlm_r1.rec_format(s) == (1.0 if R_REC.search(s) else 0.0)


def test_matchers_stay_linear_on_adversarial_input():
    evil = ["{" * 200_000 + "[1,2]", "<think>" + "</think> " * 50_000 + "<answer>", "{[1,2]" * 40_000,
            "<tool_call>" + "{" * 100_000 + "[1,2]" * 20_000]
    t0 = time.perf_counter()
    for s in evil:
        _match.last_pair_in_braces(s)
        _match.think_answer_fullmatch(s)
        se_gui.format_reward(s)
        vlm_r1.rec_format(s)
        run("gui-r1", "<think></think><answer>" + s + "</answer>", BOX)
    assert time.perf_counter() - t0 < 5.0
