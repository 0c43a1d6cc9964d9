"""Reward option values are typed and range-checked with the spec (issue 11 item 3), and a reward that raises
while scoring is an error naming the component — never a silent 0 for the completions that reached it."""
import pytest

from bridge.errors import BridgeError
from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import all_rewards, build_scorer
from bridge.rewards import hooks
from bridge.rewards.options import SCHEMAS
from bridge.rewards.spec import RewardError
from bridge.schema import Action

GT = GroundTruth(action=Action(type="click", point=(500.0, 1000.0)), width=1000, height=2000, style="qwen2vl",
                 frame=Frame("rel1000"))
EXACT = '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [500, 500]}}\n</tool_call>'
FAR = EXACT.replace("[500, 500]", "[1000, 1000]")


def test_every_builtin_option_has_a_schema_and_its_default_passes():
    for name, info in all_rewards().items():
        if info.kind == "plugin":
            continue
        assert set(info.options) == set(SCHEMAS.get(name, {})), name
        for opt, default in info.options.items():
            assert SCHEMAS[name][opt].problem(default) is None, (name, opt, default)


@pytest.mark.parametrize("name, option, value, message", [
    ("distance", "radius", -3, "distance option radius: out of range (expected a number > 0, found -3)"),
    ("distance", "radius", 0, "out of range (expected a number > 0, found 0)"),
    ("distance", "radius", float("nan"), "must be a finite number"),
    ("distance", "radius", "wide", "must be a number"),
    ("distance", "radius", True, "must be a number"),
    ("distance", "decay", "cubic", "distance option decay: unknown value (expected 'linear' | 'exp', found 'cubic')"),
    ("iou", "convention", "pascal", "unknown value"),
    ("text_match", "mode", "fuzzy", "unknown value"),
    ("action_match", "f1", 1.5, "out of range (expected a number >= 0 and <= 1"),
    ("point_in_box", "inclusive", "yes", "must be true or false"),
    ("point_in_box", "fallback_radius", -0.1, "out of range"),
    ("gaussian_point", "alpha", 0, "out of range"),
    ("format", "style", "qwen9", "unknown style"),
    ("llm-judge", "timeout", -1, "out of range"),
    ("llm-judge", "retries", 2.5, "must be an integer"),
    ("llm-judge", "max_tokens", 0, "out of range"),
])
def test_bad_option_values_are_located_errors(name, option, value, message):
    with pytest.raises(BridgeError) as e:
        build_scorer([{"name": "format"}, {"name": name, "options": {option: value}}], source="recipe.yaml")
    text = str(e.value)
    assert f"recipe.yaml [1].options.{option}: " in text and message in text, text


def test_style_option_only_where_declared():
    with pytest.raises(BridgeError, match=r"\[0\].options.style: unknown option for gui-r1"):
        build_scorer([{"preset": "gui-r1", "options": {"style": "gui-r1"}}])


def test_negative_radius_no_longer_inverts_the_reward():
    """Before: radius -3 scored a far click 1.39 and the exact one 1.0 — now it is refused up front."""
    with pytest.raises(BridgeError):
        build_scorer([{"name": "distance", "options": {"radius": -3}}])
    s = build_scorer([{"name": "distance", "options": {"radius": 0.5}}])
    assert s(EXACT, GT)["score"] == 1.0 and s(FAR, GT)["score"] < 1.0


def test_a_raising_reward_is_an_error_naming_the_component(monkeypatch):
    """The old safety net scored a raising component 0 on every key; with decay=cubic that was exactly the
    well-formed right-type completions. Now the hook raises, naming the key, the reward and its options."""
    from bridge.rewards import spec as spec_mod

    scorer = build_scorer([{"name": "format"}, {"name": "distance", "key": "near"}])
    scorer.components[1].options["decay"] = "cubic"   # past the schema, as a plugin bug would be
    monkeypatch.setattr(hooks, "scorer_for", lambda spec: scorer)
    assert scorer("garbage", GT)["score"] == 0.0       # does not reach the option
    with pytest.raises(RewardError) as e:
        hooks.compute_score("gui_agent", EXACT, GT.to_json())
    assert "reward component 'near' (distance" in str(e.value) and "decay must be 'linear' or 'exp'" in str(e.value)
    with pytest.raises(RewardError, match="cannot read the ground truth"):
        spec_mod.safe_call(build_scorer("format"), EXACT, "{not json")


# ----------------------------------------------------------------------------------- item 7: gui-g1 clamped
def _g1_gt():
    from bridge.frames import Frame

    return GroundTruth(action=Action(type="click", point=(150.0, 150.0), bbox=(100.0, 100.0, 200.0, 200.0)),
                       width=1000, height=1000, style="qwen25vl", frame=Frame("pixel"))


def test_gui_g1_is_unbounded_as_upstream_and_the_clamped_form_is_not():
    from bridge.rewards import get_reward

    gt = _g1_gt()
    # right edge off-screen: closeness b = 1 - |200 - 1534|/1000 = -0.334, so 1/a+1/b+1/c+1/d = 3 - 2.994 = 0.006
    # and box = 0.125 * 4 / 0.006 = 83.3 (upstream's unbounded form)
    far = '[{"bbox_2d": [100, 100, 1534, 200]}]'
    raw, clamped = get_reward("gui-g1")(far, gt), get_reward("gui-g1-clamped")(far, gt)
    assert raw["box"] == pytest.approx(0.5 / (3 - 1 / 0.334)) and raw["score"] > 80  # documented upstream behaviour
    assert clamped["box"] == 0.0 and clamped["hit"] == raw["hit"] and clamped["iou"] == raw["iou"]
    import random

    rng = random.Random(0)
    for _ in range(500):   # on-screen boxes: the two agree exactly; anywhere: clamped stays in [0, 1.375]
        x1, y1 = rng.uniform(0, 990), rng.uniform(0, 990)
        on = f'[{{"bbox_2d": [{x1:.0f}, {y1:.0f}, {rng.uniform(x1, 1000):.0f}, {rng.uniform(y1, 1000):.0f}]}}]'
        assert get_reward("gui-g1-clamped")(on, gt) == get_reward("gui-g1")(on, gt)
        wild = f'[{{"bbox_2d": {[rng.uniform(-5000, 5000) for _ in range(4)]}}}]'
        assert 0.0 <= get_reward("gui-g1-clamped")(wild, gt)["score"] <= 1.375


# ------------------------------------------------------------------- item 11: preset format vs data.style
def test_recipe_refuses_a_preset_reading_another_format(tmp_path):
    from bridge.recipe import load_recipe

    base = ("model: tiny:qwen2_vl\ndata: {train: data/x, style: %s}\nmethod: grpo\n"
            "grpo: {rewards: [{preset: %s}, {name: format}]}\n")
    p = tmp_path / "r.yaml"
    p.write_text(base % ("qwen2vl", "agentcpm"))
    with pytest.raises(BridgeError) as e:
        load_recipe(p)
    text = str(e.value)
    assert "grpo.rewards[0].preset: agentcpm reads completions in the agentcpm format, but data.style is qwen2vl" \
        in text, text
    assert "grpo.rewards[1]" not in text                        # generic rewards parse with data.style
    p.write_text(base % ("agentcpm", "agentcpm"))
    with pytest.raises(BridgeError) as e:                       # the pairing itself is fine now
        load_recipe(p)
    assert "reads completions" not in str(e.value)
