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
