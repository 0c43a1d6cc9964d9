"""Offline metric profiles against hand-computed verdicts (docs/eval.md).

Screens are 1000×2000 px so that normalised distances are anisotropic in pixels: 0.14 of the screen is 140 px
horizontally and 280 px vertically, which catches any x/y or pixel/normalised mix-up.
"""
from __future__ import annotations

import json

import pytest

from bridge.errors import BridgeError
from bridge.frames import PIXEL
from bridge.metrics import evaluate, get_profile
from bridge.metrics.text import anls, levenshtein, odyssey_text_match, substring_match, token_f1
from bridge.schema import Action, Element, Episode, Step
from bridge.styles.base import Parsed, Style

W, H = 1000, 2000


def step(action: Action, elements=None, index=0) -> Step:
    els = [Element(bbox=b) for b in elements] if elements is not None else None
    return Step(index=index, screenshot=f"images/{index}.png", width=W, height=H, elements=els, action=action)


def click(x, y, bbox=None, type_="click"):
    return Action(type=type_, point=(x, y), bbox=bbox)


def judge(profile, gt_step, pred):
    v = get_profile(profile).judge(gt_step, pred)
    return v.type_match, v.success, v.grounded


TALL = (450, 600, 550, 1400)     # x 0.45–0.55 (w 0.1), y 0.3–0.7 (h 0.4) normalised
GT_CLICK = click(500, 1000, TALL)


# ---------------------------------------------------------------------------------------------------- text
def test_text_helpers():
    assert token_f1("red shoes", "buy red shoes") == pytest.approx(0.8)
    assert token_f1("red", "buy red shoes") == 0.5                  # P=1, R=1/3: exactly on the threshold
    assert token_f1("a b x y", "a b c d") == 0.5
    assert token_f1("a x y z", "a b c d") == 0.25
    assert token_f1("shoe", "[Shoes]") == 1.0                        # single tokens: substring, brackets dropped
    assert token_f1("", "x") == 0.0 and token_f1("", "") == 0.0
    assert token_f1("red red shoes", "red shoes") == 1.0             # sets, not bags
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3
    assert anls("abxy", "abcd") == 0.5 and anls("", "") == 1.0
    assert odyssey_text_match("hello", "Hello")                      # ANLS 0.8
    assert not odyssey_text_match("abcd", "ABCD")                    # case-sensitive: ANLS 0
    assert odyssey_text_match(" Hello ", "Hello world")              # stripped substring
    assert substring_match(" HELLO ", "hello world") and not substring_match("hello there", "hello world")


# ---------------------------------------------------------------------------------------------------- aitw
@pytest.mark.parametrize("pred_y, hit", [(1900, True), (1980, False)])
def test_aitw_box_augmented_by_1_4(pred_y, hit):
    # 1.4 is ADDED: the box grows to 2.4x its height: y 0.02–0.98. Distances 0.45 / 0.49 are far past 0.14.
    assert judge("aitw", step(GT_CLICK), click(500, pred_y)) == (True, hit, hit)


def test_aitw_box_needs_both_points_inside_the_same_box():
    far_box = (0, 0, 100, 100)
    assert judge("aitw", step(click(500, 1000), [far_box]), click(50, 50)) == (True, False, False)


def test_aitw_top_left_clamp_keeps_the_grown_size():
    # box y 0–0.1 → top clamped at 0 but height 0.24 kept: [0, 0.24]; a centred box clamped would end at 0.17.
    gt = step(click(500, 100, (450, 0, 550, 200)))
    assert judge("aitw", gt, click(500, 400)) == (True, True, True)       # distance 0.15 > 0.14: box hit only
    assert judge("aitw", gt, click(500, 490)) == (True, False, False)     # y 0.245 outside


@pytest.mark.parametrize("pred, hit", [((639, 1000), True), ((641, 1000), False), ((640, 1000), True),
                                       ((500, 1279), True), ((500, 1281), False)])
def test_aitw_tap_distance_0_14_normalised_inclusive(pred, hit):
    assert judge("aitw", step(click(500, 1000)), click(*pred)) == (True, hit, hit)


def test_aitw_swipes_match_on_axis_only_and_never_a_tap():
    up = Action(type="swipe", point=(500, 1500), direction="up")
    gt = step(up)
    assert judge("aitw", gt, Action(type="swipe", point=(500, 500), direction="down")) == (True, True, None)
    assert judge("aitw", gt, Action(type="scroll", direction="up")) == (True, True, None)
    assert judge("aitw", gt, Action(type="swipe", point=(500, 500), direction="left")) == (True, False, None)
    assert judge("aitw", gt, click(500, 1500)) == (False, False, None)
    # a drag's direction comes from its end point
    assert judge("aitw", gt, Action(type="drag", point=(500, 900), end_point=(510, 100))) == (True, True, None)


def test_aitw_non_dual_point_actions_compare_types_only():
    assert judge("aitw", step(Action(type="type", text="hello")), Action(type="type", text="bye")) == (
        True, True, None)
    done, imp = Action(type="status", status="complete"), Action(type="status", status="impossible")
    assert judge("aitw", step(done), imp) == (False, False, None)
    assert judge("aitw", step(done), done) == (True, True, None)
    assert judge("aitw", step(Action(type="navigate_back")), Action(type="navigate_home")) == (False, False, None)


# ------------------------------------------------------------------------------------------ androidcontrol
@pytest.mark.parametrize("pred_y, hit", [(1470, True), (1490, False)])
def test_androidcontrol_box_enlarged_1_2_about_centre(pred_y, hit):
    # 1.2x about the centre: y 0.26–0.74 → 520..1480 px; the distance (470/490 px) is past 0.04*2000 = 80 px.
    assert judge("androidcontrol", step(GT_CLICK), click(500, pred_y)) == (True, hit, hit)


@pytest.mark.parametrize("pred, hit", [((500, 1079), True), ((500, 1081), False), ((579, 1000), True),
                                       ((581, 1000), False), ((556, 1056), True), ((557, 1057), False)])
def test_androidcontrol_distance_is_0_04_max_side_in_pixels(pred, hit):
    # isotropic 80 px radius: (56, 56) is 79.2 px, (57, 57) is 80.6 px
    assert judge("androidcontrol", step(click(500, 1000)), click(*pred)) == (True, hit, hit)


def test_androidcontrol_candidates_are_the_minimal_enclosing_elements():
    gt = step(click(500, 1000), elements=[(0, 0, 1000, 2000), (300, 950, 700, 1050), (0, 0, 50, 50)])
    assert judge("androidcontrol", gt, click(730, 1000)) == (True, True, True)      # leaf 1.2x: x 260..740
    assert judge("androidcontrol", gt, click(750, 1000)) == (True, False, False)
    assert judge("androidcontrol", gt, click(100, 100)) == (True, False, False)     # in the container only
    assert judge("androidcontrol", gt, click(25, 25)) == (True, False, False)       # a leaf not under the tap


def test_androidcontrol_types_text_swipe_buttons():
    gt_type = step(Action(type="type", text="Hello World"))
    assert judge("androidcontrol", gt_type, Action(type="type", text=" hello ")) == (True, True, None)
    assert judge("androidcontrol", gt_type, Action(type="type", text="hello there")) == (True, False, None)
    up = step(Action(type="swipe", point=(500, 1500), direction="up"))
    assert judge("androidcontrol", up, Action(type="swipe", point=(500, 1500), end_point=(520, 500))) == (
        True, True, None)
    assert judge("androidcontrol", up, Action(type="swipe", point=(500, 500), direction="down")) == (
        True, False, None)
    back = step(Action(type="navigate_back"))
    assert judge("androidcontrol", back, Action(type="navigate_home")) == (True, False, None)
    assert judge("androidcontrol", back, Action(type="key", key="Back")) == (True, True, None)
    done = step(Action(type="status", status="complete"))
    assert judge("androidcontrol", done, Action(type="status", status="impossible")) == (True, False, None)
    assert judge("androidcontrol", step(Action(type="wait")), Action(type="wait", duration_ms=9000)) == (
        True, True, None)
    assert judge("androidcontrol", gt_type, click(1, 1)) == (False, False, None)
    # click and long_press are different actions here
    assert judge("androidcontrol", step(click(500, 1000)), click(500, 1000, type_="long_press")) == (
        False, False, True)


def test_androidcontrol_open_app_accepts_a_click_on_its_icon():
    gt = step(Action(type="open_app", app="Chrome", bbox=(100, 100, 200, 200)))
    assert judge("androidcontrol", gt, Action(type="open_app", app="chrome")) == (True, True, None)
    assert judge("androidcontrol", gt, Action(type="open_app", app="Maps")) == (True, False, None)
    assert judge("androidcontrol", gt, click(150, 150)) == (True, True, None)
    assert judge("androidcontrol", gt, click(500, 500)) == (True, False, None)
    no_icon = step(Action(type="open_app", app="Chrome"))
    assert judge("androidcontrol", no_icon, click(150, 150)) == (False, False, None)


# ------------------------------------------------------------------------------------------------ agentcpm
@pytest.mark.parametrize("pred_y, hit", [(1460, True), (1500, False)])
def test_agentcpm_boxes_containing_the_gt_point_1_2(pred_y, hit):
    # 1.2x (clamped form): y 0.26–0.74 → pred 0.73 inside, 0.75 outside and 0.25 away (> 0.14)
    assert judge("agentcpm", step(GT_CLICK), click(500, pred_y)) == (True, hit, hit)


def test_agentcpm_ignores_boxes_not_containing_the_gt_point():
    gt = step(click(500, 1000), elements=[(0, 0, 100, 100)])
    assert judge("agentcpm", gt, click(50, 50)) == (True, False, False)


@pytest.mark.parametrize("pred, hit", [((500, 1270), True), ((500, 1290), False), ((635, 1000), True),
                                       ((645, 1000), False)])
def test_agentcpm_distance_0_14_normalised(pred, hit):
    assert judge("agentcpm", step(click(500, 1000)), click(*pred)) == (True, hit, hit)


def test_agentcpm_categories_stop_press_scroll_type():
    done = step(Action(type="status", status="complete"))
    assert judge("agentcpm", done, Action(type="status", status="impossible")) == (True, True, None)
    assert judge("agentcpm", done, Action(type="wait")) == (True, True, None)            # wait is a stop
    assert judge("agentcpm", step(Action(type="navigate_home")), Action(type="navigate_back")) == (
        True, False, None)
    assert judge("agentcpm", step(Action(type="enter")), Action(type="key", key="ENTER")) == (True, True, None)
    left = step(Action(type="scroll", direction="left"))
    assert judge("agentcpm", left, Action(type="swipe", point=(900, 1000), end_point=(100, 1000))) == (
        True, True, None)
    assert judge("agentcpm", left, Action(type="swipe", point=(900, 1000), direction="right")) == (
        True, False, None)
    assert judge("agentcpm", step(Action(type="type", text="abc")), Action(type="type", text="ABCD")) == (
        True, True, None)
    assert judge("agentcpm", step(click(500, 1000)), click(500, 1000, type_="long_press")) == (
        False, False, True)


def test_agentcpm_ac_five_nearest_boxes_and_0_04():
    # six 20x20 boxes; the GT point (500, 1000) is in none. Centres at growing distance; the 6th is farthest.
    boxes = [(600 + 40 * i, 990, 620 + 40 * i, 1010) for i in range(6)]
    gt = step(click(500, 1000), elements=boxes)
    assert judge("agentcpm-ac", gt, click(770, 1000)) == (True, True, True)      # 5th box (x 760..780)
    assert judge("agentcpm-ac", gt, click(810, 1000)) == (True, False, False)    # 6th box: not a candidate
    assert judge("agentcpm", gt, click(770, 1000)) == (True, False, False)       # non-AC: box lacks the GT point
    assert judge("agentcpm-ac", step(click(500, 1000)), click(500, 1079)) == (True, True, True)
    assert judge("agentcpm-ac", step(click(500, 1000)), click(500, 1081)) == (True, False, False)


# -------------------------------------------------------------------------------------------------- gui-r1
@pytest.mark.parametrize("pred, hit", [((639, 1000), True), ((640, 1000), False), ((641, 1000), False),
                                       ((500, 1279), True), ((500, 1281), False)])
def test_guir1_distance_strictly_below_0_14(pred, hit):
    assert judge("gui-r1-strict", step(click(500, 1000)), click(*pred)) == (True, hit, hit)


def test_guir1_grounding_ignores_type_and_boxes():
    gt = step(GT_CLICK)
    assert judge("gui-r1-strict", gt, click(510, 1000, type_="long_press")) == (False, False, True)
    assert judge("gui-r1-strict", gt, click(500, 1400)) == (True, False, False)     # inside the box, 0.2 away


@pytest.mark.parametrize("pred, ok", [("red shoes", True), ("red", True), ("green hat", False),
                                      ("shoes red buy now please", True), ("buy", True)])
def test_guir1_text_f1_at_least_0_5(pred, ok):
    # "shoes red buy now please": P=3/5, R=1 → F1 0.75; "buy": P=1, R=1/3 → 0.5
    gt = step(Action(type="type", text="buy red shoes"))
    assert judge("gui-r1-strict", gt, Action(type="type", text=pred)) == (True, ok, None)


def test_guir1_scroll_open_app_and_names():
    gt = step(Action(type="scroll", direction="up"))
    assert judge("gui-r1-strict", gt, Action(type="swipe", point=(500, 1500), direction="up")) == (True, True, None)
    assert judge("gui-r1-strict", gt, Action(type="scroll", direction="down")) == (True, False, None)
    app = step(Action(type="open_app", app="Google Maps"))
    assert judge("gui-r1-strict", app, Action(type="open_app", app="maps")) == (True, True, None)     # F1 2/3
    assert judge("gui-r1-strict", app, Action(type="open_app", app="Chrome")) == (True, False, None)
    done = step(Action(type="status", status="complete"))
    assert judge("gui-r1-strict", done, Action(type="status", status="impossible")) == (False, False, None)
    assert judge("gui-r1-strict", step(Action(type="navigate_back")), Action(type="navigate_back")) == (True, True, None)


# --------------------------------------------------------------------------------------------- gui-odyssey
@pytest.mark.parametrize("pred, hit", [((500, 1400), True), ((500, 1401), False), ((500, 1280), True),
                                       ((640, 1000), True), ((645, 1000), False)])
def test_odyssey_box_not_enlarged_or_distance_0_14(pred, hit):
    # box y 600..1400 inclusive; (500, 1401) is 0.2005 away; (500, 1280) is inside anyway
    assert judge("gui-odyssey", step(GT_CLICK), click(*pred)) == (True, hit, hit)
    if pred[0] != 500:   # outside the narrow box: the distance rule alone
        assert judge("gui-odyssey", step(click(500, 1000)), click(*pred)) == (True, hit, hit)


@pytest.mark.parametrize("pred, ok", [("Hello", True), ("hello", True), ("abxy", True), ("axyz", False),
                                      ("ABCD", False), ("abcdef", True)])
def test_odyssey_type_substring_or_anls(pred, ok):
    gt_text = "Hello" if pred.lower() == "hello" else "abcd"
    assert judge("gui-odyssey", step(Action(type="type", text=gt_text)), Action(type="type", text=pred)) == (
        True, ok, None)


def test_odyssey_scroll_and_status():
    gt = step(Action(type="swipe", point=(500, 1500), direction="up"))
    assert judge("gui-odyssey", gt, Action(type="scroll", direction="up")) == (True, True, None)
    assert judge("gui-odyssey", gt, Action(type="scroll", direction="down")) == (True, False, None)
    done = step(Action(type="status", status="complete"))
    assert judge("gui-odyssey", done, Action(type="status", status="impossible")) == (False, False, None)
    assert judge("gui-odyssey", step(Action(type="navigate_home")), Action(type="navigate_home")) == (
        True, True, None)


# ---------------------------------------------------------------------------------------------- screenspot
def test_screenspot_inclusive_box_and_box_centre():
    gt = step(click(150, 150, (100, 100, 200, 200)))
    assert judge("screenspot", gt, click(200, 200)) == (True, True, True)
    assert judge("screenspot", gt, click(200.5, 150)) == (True, False, False)
    assert judge("screenspot", gt, click(150, 150, type_="long_press")) == (True, True, True)
    assert judge("screenspot", gt, Action(type="click", bbox=(120, 120, 260, 260))) == (True, True, True)
    assert judge("screenspot", gt, Action(type="click", bbox=(120, 120, 300, 300))) == (True, False, False)
    assert judge("screenspot", gt, Action(type="type", text="x")) == (False, False, False)
    v = get_profile("screenspot").judge(step(click(150, 150)), click(150, 150))
    assert (v.success, v.grounded, v.note) == (False, False, "no target box (action.bbox)")


def test_unknown_profile_is_a_user_error():
    with pytest.raises(BridgeError, match="unknown metric profile 'nope'"):
        get_profile("nope")


def test_missing_prediction_is_wrong_everywhere():
    v = get_profile("aitw").judge(step(click(1, 1)), None)
    assert (v.type_match, v.success, v.grounded) == (False, False, False)


# ------------------------------------------------------------------------------------------------ evaluate
class CanonStyle(Style):
    """Test style: completions are canonical action JSON (pixels); anything else is a parse failure."""

    name = "canon"

    def frame(self):
        return PIXEL

    def messages(self, episode, step_index, image_root):
        return []

    def render_action(self, action, width, height, thought=None):
        return json.dumps(action.compact())

    def parse_action(self, text, width, height):
        try:
            return Parsed(Action.model_validate_json(text))
        except Exception as e:
            return Parsed(None, error=str(e).splitlines()[0])


def _ep(eid, actions):
    return Episode(episode_id=eid, instruction="do it", steps=[step(a, index=i) for i, a in enumerate(actions)])


def _js(a: Action) -> str:
    return json.dumps(a.compact())


def test_evaluate_counts_episodes_and_goal_progress_by_hand():
    c = click(500, 1000)
    t = Action(type="type", text="hello")
    done = Action(type="status", status="complete")
    eps = [_ep("A", [c, t, done]), _ep("B", [c, t, done]), _ep("C", [c, t]), _ep("D", [])]
    preds = {
        "A/0": _js(click(510, 1010)), "A/1": _js(t), "A/2": _js(done),            # all right
        "B/0": _js(c), "B/1": _js(Action(type="type", text="bye")), "B/2": _js(done),   # 2nd wrong → 1/3
        "C/0": "garbage", "C/1": _js(t),                                          # parse failure first → 0
        "Z/9": _js(done),                                                         # names no step
    }
    r = evaluate(eps, preds, CanonStyle(), "androidcontrol")
    assert (r.steps, r.episodes, r.empty_episodes) == (8, 3, 1)
    assert (r.predicted, r.missing, r.parse_failures, r.unexpected) == (8, 0, 1, 1)
    assert r.unexpected_ids == ["Z/9"]
    assert (r.type_match, r.success) == (7, 6)
    assert (r.grounding_steps, r.grounded) == (3, 2)
    assert r.episode_successes == 1 and r.episode_success == pytest.approx(1 / 3)
    assert r.goal_progress == pytest.approx((1 + 1 / 3 + 0) / 3)
    d = r.to_dict()
    assert d["per_type"]["type"] == {"steps": 3, "type_match": 3, "success": 2, "grounding_steps": 0,
                                     "grounded": 0, "type_accuracy": 1.0, "step_success": pytest.approx(2 / 3),
                                     "grounding_accuracy": None}
    assert d["per_type"]["click"]["grounding_accuracy"] == pytest.approx(2 / 3)
    assert d["examples"]["parse_failures"][0]["id"] == "C/0"
    json.dumps(d)   # JSON-ready


def test_evaluate_reports_missing_predictions_and_orders_steps_by_index():
    c = click(500, 1000)
    ep = Episode(episode_id="E", instruction="x",
                 steps=[step(c, index=1), step(Action(type="navigate_back"), index=0)])
    r = evaluate([ep], {"E/1": _js(c)}, CanonStyle(), "aitw")
    assert (r.missing, r.missing_ids, r.predicted, r.success) == (1, ["E/0"], 1, 1)
    # step 0 (navigate_back) is first and missing: goal progress 0 although step 1 is right
    assert (r.episode_successes, r.goal_progress) == (0, 0.0)
    text = r.render()
    assert "missing predictions, e.g.: E/0" in text
    assert "step success" in text and "50.0%" in text


def test_evaluate_survives_a_raising_parser():
    class Boom(CanonStyle):
        def parse_action(self, text, width, height):
            raise RuntimeError("bad parser")

    r = evaluate([_ep("A", [click(1, 1)])], {"A/0": "x"}, Boom(), "gui-r1")
    assert r.parse_failures == 1 and "RuntimeError" in r.parse_failure_examples[0]["error"]


def test_token_f1_agrees_with_the_reward_library():
    rewards = pytest.importorskip("bridge.rewards.generic")
    cases = [("red shoes", "buy red shoes"), ("red", "buy red shoes"), ("shoe", "[Shoes]"), ("", "x"), ("", ""),
             ("a b x y", "a b c d"), ("UP", "up"), ("open the app", "app")]
    assert [token_f1(p, g) for p, g in cases] == [rewards.token_f1(p, g) for p, g in cases]
