"""GUI-R1 preset: hand-computed table (odd cases included) and >= 200 generated completions whose verdicts must
equal a literal re-statement of the published r1gui.py written here (ast.literal_eval in place of eval)."""
import ast
import json
import random
import re

import pytest

from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import get_reward
from bridge.rewards.presets import gui_r1 as G
from bridge.schema import Action


# ------------------------------------------------------------------ reference: the published code, restated
def ref_f1(predicted_str, ground_truth_str):
    predicted_str = predicted_str.replace("[", "").replace("]", "")
    ground_truth_str = ground_truth_str.replace("[", "").replace("]", "")
    predicted_tokens = set(predicted_str.lower().split())
    ground_truth_tokens = set(ground_truth_str.lower().split())
    if len(predicted_tokens) == 1 and len(ground_truth_tokens) == 1:
        p, g = list(predicted_tokens)[0], list(ground_truth_tokens)[0]
        if p in g or g in p:
            return 1
    common = predicted_tokens.intersection(ground_truth_tokens)
    precision = len(common) / len(predicted_tokens) if predicted_tokens else 0
    recall = len(common) / len(ground_truth_tokens) if ground_truth_tokens else 0
    return 0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def ref_extract_action(content):
    m = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if m:
        a = re.search(r"'action':\s*'(\w+)'", m.group(1).strip())
        if a:
            return a.group(1)
    return "no action"


def ref_extract_input_text(content):
    m = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if m:
        a = re.search(r"'input_text':\s*'(.*?)'", m.group(1).strip())
        if a:
            return a.group(1)
    return "no input text"


def ref_extract_coord(content):
    m = re.search(r"<answer>(.*?)</answer>", content, re.DOTALL)
    if m:
        c = re.search(r"\{.*\[(\d+),\s*(\d+)]\s*.*\}", m.group(1).strip())
        if c:
            return [int(c.group(1)), int(c.group(2))]
    return [0, 0, 0, 0]   # (the original's no-answer branch compiles an unbalanced pattern and lands here too)


def ref_format(predict_str):
    if not re.fullmatch(re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL), predict_str):
        return 0.0
    answer_match = re.search(r"<answer>(.*?)</answer>", predict_str, re.DOTALL)
    if not answer_match:
        return 0.0
    try:
        actions = ast.literal_eval(answer_match.group(1).strip())
        if not isinstance(actions, list):
            return 0.0
        for action in actions:
            if not isinstance(action, dict):
                return 0.0
            if "action" not in action or "point" not in action or "input_text" not in action:
                return 0.0
            if not isinstance(action["action"], str):
                return 0.0
            if not (isinstance(action["point"][0], int) and isinstance(action["point"][1], int)):
                return 0.0
            if not isinstance(action["input_text"], str):
                return 0.0
            if action["action"] in ["type", "select", "open_app"] and action["input_text"] in ["no input text"]:
                return 0.0
            if action["action"] in ["scroll"] and action["input_text"] not in ["left", "right", "up", "down"]:
                return 0.0
        return 1.0
    except Exception:
        return 0.0


def ref_accuracy(predict_str, ground_truth):
    try:
        ground_truth = json.loads(ground_truth)
        gt_action = ground_truth["action"].lower()
        gt_bbox = ground_truth["gt_bbox"]
        gt_input_text = ground_truth["input_text"]
        pred_action = ref_extract_action(predict_str).lower()
        pred_input_text = ref_extract_input_text(predict_str)
        pred_bbox = ref_extract_coord(predict_str)
        if pred_action != gt_action:
            return 0.0
        if gt_action in ["click"]:
            if len(gt_bbox) == 2:
                return 1.0 if (pred_bbox[0] - gt_bbox[0]) ** 2 + (pred_bbox[1] - gt_bbox[1]) ** 2 < 140 ** 2 else 0.0
            elif len(gt_bbox) == 4:
                return 1.0 if (gt_bbox[0] < pred_bbox[0] < gt_bbox[2]) and (gt_bbox[1] < pred_bbox[1] < gt_bbox[3]) else 0.0
            return 0.0
        elif gt_action in ["type", "select", "scroll"]:
            return 1.0 if ref_f1(pred_input_text, gt_input_text) >= 0.5 else 0.0
        return 1.0
    except Exception:
        return 0.0


def ref_score(predict_str, ground_truth):
    f, a = ref_format(predict_str), ref_accuracy(predict_str, ground_truth)
    return {"overall": 0.8 * a + 0.2 * f, "format": f, "accuracy": a}


# ------------------------------------------------------------------------------------------ helpers
W, H = 1000, 2000
PIXEL = Frame("pixel")


def gt_of(frame=PIXEL, **action):
    return GroundTruth(action=Action(**action), width=W, height=H, style="gui-r1", frame=frame)


def answer(action, point=(-100, -100), text="no input text", think="<think>ok</think> "):
    return f"{think}<answer>[{{'action': '{action}', 'point': [{point[0]}, {point[1]}], 'input_text': '{text}'}}]</answer>"


CLICK_PT = gt_of(type="click", point=(500.0, 1000.0))
CLICK_BOX = gt_of(type="click", point=(200.0, 300.0), bbox=(100.0, 200.0, 300.0, 400.0))
TYPE = gt_of(type="type", text="hello world")
SETTINGS = gt_of(type="type", text="settings")
SCROLL_UP = gt_of(type="scroll", direction="up")          # finger up = content "down" in GUI-R1's convention


def score(completion, gt):
    return get_reward("gui-r1")(completion, gt)


# --------------------------------------------------------------------------------------- table test
CASES = [
    # (completion, gt, format, accuracy)
    (answer("click", (600, 1000)), CLICK_PT, 1, 1),                  # 100 px away
    (answer("click", (639, 1000)), CLICK_PT, 1, 1),                  # 139 px: inside the 140 px rule
    (answer("click", (640, 1000)), CLICK_PT, 1, 0),                  # exactly 140 px: squared distance not < 140²
    (answer("click", (584, 1112)), CLICK_PT, 1, 0),                  # 84² + 112² = 140² exactly
    (answer("click", (583, 1112)), CLICK_PT, 1, 1),                  # 83² + 112² < 140²
    (answer("click", (360, 1000)), CLICK_PT, 1, 0),                  # 140 px on the other side
    (answer("click", (361, 1000)), CLICK_PT, 1, 1),
    (answer("click", (101, 300)), CLICK_BOX, 1, 1),                  # strictly inside
    (answer("click", (100, 300)), CLICK_BOX, 1, 0),                  # on the left edge: strict → out
    (answer("click", (300, 300)), CLICK_BOX, 1, 0),                  # on the right edge
    (answer("click", (299, 399)), CLICK_BOX, 1, 1),
    (answer("click", (200, 400)), CLICK_BOX, 1, 0),                  # bottom edge
    (answer("click", ("600.0", "1000.0")), CLICK_PT, 0, 0),          # floats fail format, point unreadable → (0,0)
    (answer("click", ("10.5", "20.5")), gt_of(type="click", point=(50.0, 60.0)), 0, 1),   # (0,0) is 78 px away
    ('<think>a</think><answer>[{"action": "click", "point": [600, 1000], "input_text": "no input text"}]</answer>',
     CLICK_PT, 1, 0),                                                # double quotes: a literal, but no action found
    (answer("close/delete"), gt_of(type="key", key="close/delete"), 1, 0),   # \w+ reads "close"
    (answer("press_back"), gt_of(type="navigate_back"), 1, 1),
    (answer("press_home"), gt_of(type="navigate_back"), 1, 0),
    (answer("complete"), gt_of(type="status", status="complete"), 1, 1),
    (answer("open_app", text="Firefox"), gt_of(type="open_app", app="Chrome"), 1, 1),   # app name not checked
    (answer("open_app"), gt_of(type="open_app", app="Chrome"), 0, 1),        # 'no input text' fails format only
    (answer("type", text="hello there"), TYPE, 1, 1),                # F1 exactly 0.5 → accepted
    (answer("type", text="hello a b"), TYPE, 1, 0),                  # F1 0.4
    (answer("type", text="[Hello] WORLD"), TYPE, 1, 1),              # brackets stripped, lower-cased
    (answer("type", text="set"), SETTINGS, 1, 1),                    # single-token substring
    (answer("type", text="tings"), SETTINGS, 1, 1),
    (answer("type", text="set up"), SETTINGS, 1, 0),                 # two tokens: plain F1 = 0
    (answer("type"), TYPE, 0, 0),                                    # 'no input text' for type fails format
    (answer("scroll", text="down"), SCROLL_UP, 1, 1),
    (answer("scroll", text="up"), SCROLL_UP, 1, 0),
    (answer("scroll", text="DOWN"), SCROLL_UP, 0, 1),                # format is case-sensitive, F1 is not
    (answer("scroll", text="downwards"), SCROLL_UP, 0, 1),           # single-token substring again
    (answer("click", (600, 1000), think=""), CLICK_PT, 0, 1),        # no think: format 0, accuracy still scored
    (answer("click", (600, 1000)) + " trailing", CLICK_PT, 0, 1),    # fullmatch fails
    ("<think>x</think><answer>[]</answer>", CLICK_PT, 1, 0),         # empty list passes format
    ("<think>x</think><answer>[{'action': 'click', 'point': [True, 5], 'input_text': 'x'}]</answer>", CLICK_PT, 1, 0),
    ("<think>x</think><answer>[{'action': 'click', 'point': [100+20, 5], 'input_text': 'x'}]</answer>",
     gt_of(type="click", point=(120.0, 5.0)), 0, 1),                 # an expression: never evaluated (format 0,
                                                                     # see doc); no [d, d] → (0,0), 120 px away
    ("<think>x</think><answer>{'action': 'click', 'point': [600, 1000], 'input_text': 'x'}</answer>", CLICK_PT, 0, 1),
    ("<think>x</think><answer>[{'action': 'click', 'point': [600, 1000], 'input_text': 'x'}", CLICK_PT, 0, 0),
    ("", CLICK_PT, 0, 0),
]


@pytest.mark.parametrize("completion,gt,fmt,acc", CASES)
def test_table(completion, gt, fmt, acc):
    out = score(completion, gt)
    assert (out["format"], out["accuracy"]) == (fmt, acc)
    assert out["score"] == pytest.approx(0.8 * acc + 0.2 * fmt)


def test_ground_truth_record_maps_to_model_frame():
    # resized frame, factor 28, no clamping: 1000x2000 → 1008x1988 (round(1000/28)=36, round(2000/28)=71)
    frame = Frame("resized", factor=28, min_pixels=4 * 28 * 28, max_pixels=10_000_000)
    gt = gt_of(frame, type="click", point=(500.0, 1000.0))
    rec = G.ground_truth_record(gt)
    assert rec["action"] == "click" and rec["gt_bbox"] == pytest.approx([504.0, 994.0])
    assert score(answer("click", (643, 994)), gt)["accuracy"] == 1      # 139 model px
    assert score(answer("click", (644, 994)), gt)["accuracy"] == 0      # 140 model px
    box = G.ground_truth_record(gt_of(frame, type="click", point=(150.0, 300.0), bbox=(100.0, 200.0, 200.0, 400.0)))
    assert box["gt_bbox"] == pytest.approx([100.8, 198.8, 201.6, 397.6])
    assert G.ground_truth_record(SCROLL_UP) == {"action": "scroll", "gt_bbox": [], "input_text": "down"}
    assert G.ground_truth_record(TYPE)["input_text"] == "hello world"


# ------------------------------------------------------------------------ >= 200 generated completions
def _generated(rng: random.Random):
    gts = [CLICK_PT, CLICK_BOX, TYPE, SETTINGS, SCROLL_UP, gt_of(type="select", text="blue large"),
           gt_of(type="scroll", direction="left"), gt_of(type="navigate_home"), gt_of(type="enter"),
           gt_of(type="status", status="complete"), gt_of(type="open_app", app="Maps"),
           gt_of(type="key", key="close/delete"), gt_of(type="click", point=(60.0, 40.0))]
    names = ["click", "type", "select", "scroll", "press_back", "press_home", "enter", "complete", "open_app",
             "close/delete", "Click", "long_press"]
    texts = ["hello world", "hello", "world hello there", "hello there", "a b c", "settings", "set", "blue",
             "large blue", "up", "down", "left", "right", "DOWN", "no input text", "[hello] world", "", "Maps"]
    out = []
    for _ in range(400):
        gt = rng.choice(gts)
        rec = G.ground_truth_record(gt)
        kind = rng.randrange(12)
        name = rec["action"] if rng.random() < 0.6 else rng.choice(names)
        if rec["gt_bbox"] and len(rec["gt_bbox"]) == 2:
            cx, cy = rec["gt_bbox"]
        elif rec["gt_bbox"]:
            cx, cy = (rec["gt_bbox"][0] + rec["gt_bbox"][2]) / 2, (rec["gt_bbox"][1] + rec["gt_bbox"][3]) / 2
        else:
            cx, cy = 500, 1000
        r = rng.choice([0, 50, 100, 139, 140, 141, 200, 600])
        ang = rng.choice([(1, 0), (0, 1), (-1, 0), (0.6, 0.8), (-0.6, 0.8)])
        pt = (max(0, round(cx + r * ang[0])), max(0, round(cy + r * ang[1])))
        text = rng.choice(texts + [rec["input_text"]])
        think = rng.choice(["<think>reasoning</think> ", "<think>\nmulti\nline</think>\n", "", "<think></think>"])
        if kind <= 4:
            c = answer(name, pt, text, think)
        elif kind == 5:                                   # double-quoted JSON
            c = think + '<answer>[{"action": "%s", "point": [%d, %d], "input_text": "%s"}]</answer>' % (name, *pt, text)
        elif kind == 6:                                   # floats
            c = answer(name, (f"{pt[0]}.5", f"{pt[1]}.0"), text, think)
        elif kind == 7:                                   # malformed / truncated
            c = answer(name, pt, text, think)[: rng.randrange(5, 60)]
        elif kind == 8:                                   # two actions, extra keys, newlines inside the answer
            c = (think + "<answer>[{'action': '%s', 'point': [%d, %d], 'input_text': '%s'},\n"
                 "{'action': 'click', 'point': [%d, %d], 'input_text': 'x', 'extra': 1}]</answer>"
                 % (name, *pt, text, pt[1] % 900, pt[0]))
        elif kind == 9:                                   # missing key / wrong types
            c = think + rng.choice(["<answer>[{'action': '%s', 'input_text': '%s'}]</answer>" % (name, text),
                                    "<answer>[{'action': 3, 'point': [1, 2], 'input_text': 'x'}]</answer>",
                                    "<answer>[{'action': '%s', 'point': '12', 'input_text': None}]</answer>" % name,
                                    "<answer>[('click', [1, 2])]</answer>", "<answer>click(5, 5)</answer>"])
        elif kind == 10:                                  # text around the tags / spacing variants
            c = rng.choice(["Sure. ", "", " "]) + answer(name, pt, text, think) + rng.choice(["", "\n", " done"])
        else:                                             # point written with odd spacing or negative values
            c = think + "<answer>[{'action':'%s','point':[%d,%d],'input_text':'%s'}]</answer>" % (
                name, rng.choice([pt[0], -pt[0] - 1]), pt[1], text)
        out.append((c, gt, rec))
    return out


def test_generated_completions_match_the_published_definition():
    cases = _generated(random.Random(1234))
    assert len(cases) >= 200
    verdicts = {"format": set(), "accuracy": set()}
    acc_by_action: dict = {}
    for completion, gt, rec in cases:
        want = ref_score(completion, json.dumps(rec))
        got = score(completion, gt)
        assert (got["format"], got["accuracy"]) == (want["format"], want["accuracy"]), completion
        assert got["score"] == pytest.approx(want["overall"])
        verdicts["format"].add(got["format"])
        verdicts["accuracy"].add(got["accuracy"])
        acc_by_action.setdefault(rec["action"], set()).add(got["accuracy"])
    # the generator exercises both verdicts overall and for every ground-truth action family
    assert verdicts == {"format": {0.0, 1.0}, "accuracy": {0.0, 1.0}}
    for action in ("click", "type", "select", "scroll", "press_home", "complete", "open_app"):
        assert acc_by_action[action] == {0.0, 1.0}, action


def test_preset_accepts_a_raw_guir1_record():
    rec = {"action": "click", "gt_bbox": [10, 10], "input_text": "no input text"}
    assert get_reward("gui-r1").fn(answer("click", (12, 12)), None, truth=rec)["accuracy"] == 1.0


def test_one_line_fast_path_gives_the_published_verdicts_at_its_edges():
    """gui_r1 reads the one-action answer with one anchored match (G._CANON) instead of literal_eval; around the
    edges of that shape — leading zeros, spaces inside the point's brackets, brackets/quotes/backslashes/line
    breaks/NUL/lone surrogates in the text, non-ASCII actions, a second [d, d] — its verdicts must be the published
    ones (the general path decides whatever the shape does not take)."""
    rng = random.Random(7)
    pieces_text = ["hello", "no input text", "up", "[1, 2]", "a]b", "{x}", "it's", "back\\slash", "line\nbreak",
                   "nul\x00", "sur\ud800", "ünï", "tab\tx", "", "x" * 40, "\x0c", "down"]
    pieces_num = ["0", "7", "05", "500", "1000", "00", "12345", "123456789", "1234567890", "9" * 5000]
    actions = ["click", "type", "scroll", "open_app", "Click", "clïck", "press back", "select", "complete"]
    seps = [" ", "", "  "]
    fast = 0
    for gt in (CLICK_PT, CLICK_BOX, TYPE, SCROLL_UP, gt_of(type="open_app", app="Maps")):
        rec = G.ground_truth_record(gt)
        for _ in range(300):
            x, y = rng.choice(pieces_num), rng.choice(pieces_num)
            inner = rng.choice([f"[{x},{rng.choice(seps)}{y}]", f"[ {x}, {y}]", f"[{x}, {y} ]"])
            s1, s2 = rng.choice(seps), rng.choice(seps)
            body = (f"[{{'action':{s1}'{rng.choice(actions)}',{s2}'point':{s1}{inner},{s2}"
                    f"'input_text':{s1}'{rng.choice(pieces_text)}'}}]")
            c = rng.choice(["<think>t</think> ", "<think>t</think>\n", ""]) + f"<answer>{body}</answer>"
            fast += G._CANON.fullmatch(body) is not None
            want = ref_score(c, json.dumps(rec))
            got = score(c, gt)
            general = (G.format_reward(c), G.accuracy_reward(c, rec))
            assert (got["format"], got["accuracy"]) == (want["format"], want["accuracy"]) == general, repr(c)
    assert 50 < fast < 1400   # both paths exercised
