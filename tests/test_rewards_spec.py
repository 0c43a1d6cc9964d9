"""Reward specs, the registry and entry-point plugins."""
import pytest

from bridge.errors import BridgeError
from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import REWARDS, RewardInfo, all_rewards, base, build_scorer, get_reward, load_spec
from bridge.schema import Action

GT = GroundTruth(action=Action(type="click", point=(500.0, 1000.0)), width=1000, height=2000, style="gui-r1",
                 frame=Frame("pixel"))
RIGHT = "<think>t</think> <answer>[{'action': 'click', 'point': [510, 1000], 'input_text': 'no input text'}]</answer>"
NO_THINK = "<answer>[{'action': 'click', 'point': [510, 1000], 'input_text': 'no input text'}]</answer>"


def test_registry_has_every_reward_and_preset():
    for name in ("format", "action_type", "point_in_box", "iou", "distance", "gaussian_point", "gaussian_plane",
                 "text_f1", "text_match", "swipe_direction", "action_match", "gui-r1", "ui-r1", "gui-g1", "se-gui",
                 "agentcpm", "vlm-r1-format", "llm-judge"):
        assert name in REWARDS
    assert get_reward("gui_r1") is get_reward("gui-r1")       # - and _ interchangeable
    with pytest.raises(BridgeError, match="unknown reward 'nope'"):
        get_reward("nope")


def test_composite_weights_and_parts():
    scorer = build_scorer([{"preset": "gui-r1"}, {"name": "vlm-r1-format", "weight": 0.5},
                           {"name": "gui-r1", "weight": 2.0, "key": "again"}])
    assert scorer.keys == ["score", "gui-r1", "gui-r1/format", "gui-r1/accuracy", "vlm-r1-format", "again",
                           "again/format", "again/accuracy"]
    out = scorer(RIGHT, GT)
    assert out == {"score": 1.0 + 0.5 * 1.0 + 2.0, "gui-r1": 1.0, "gui-r1/format": 1.0, "gui-r1/accuracy": 1.0,
                   "vlm-r1-format": 1.0, "again": 1.0, "again/format": 1.0, "again/accuracy": 1.0}
    out = scorer(NO_THINK, GT.to_json())                      # the JSON form is accepted too
    assert out["score"] == pytest.approx(0.8 + 0.0 + 2 * 0.8)


def test_repeated_names_get_suffixes_and_strings_are_entries():
    scorer = build_scorer(["vlm-r1-format", "vlm-r1-format"])
    assert scorer.keys == ["score", "vlm-r1-format", "vlm-r1-format#2"]
    assert build_scorer("gui-r1").keys[:2] == ["score", "gui-r1"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(BridgeError) as e:
        build_scorer([{"name": "nope"}, {"name": "format", "weight": "heavy"}, {"preset": "format"},
                      {"name": "point_in_box", "options": {"inclusve": True}}, {"name": "iou", "colour": 1},
                      {"name": "a", "preset": "b"}, 7])
    text = str(e.value)
    assert "7 problem(s)" in text
    for needle in ("[0].name: unknown reward 'nope'", "[1].weight: weight must be a finite number",
                   "[2].preset: 'format' is a generic reward", "[3].options.inclusve: unknown option",
                   "[4].colour: unknown key", "[5]: each entry needs exactly one", "[6]: entry must be"):
        assert needle in text, needle
    with pytest.raises(BridgeError, match="non-empty list"):
        build_scorer([])


def test_load_spec_from_json_yaml_and_files(tmp_path):
    assert load_spec('[{"preset": "gui-r1"}]') == [{"preset": "gui-r1"}]
    assert load_spec("- preset: gui-r1\n- {name: format, weight: 0.5}\n") == [{"preset": "gui-r1"},
                                                                            {"name": "format", "weight": 0.5}]
    f = tmp_path / "spec.yaml"
    f.write_text("rewards:\n  - preset: ui-r1\n")
    assert build_scorer(str(f)).keys[1] == "ui-r1"


def test_entry_point_plugins(monkeypatch):
    class EP:
        def __init__(self, name, obj, fail=False):
            self.name, self.value, self._obj, self._fail = name, f"pkg:{name}", obj, fail

        def load(self):
            if self._fail:
                raise ImportError("broken plugin")
            return self._obj

    def always_half(completion, gt, **options):
        """Half, always."""
        return 0.5

    eps = [EP("always-half", always_half), EP("broken", None, fail=True)]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: eps if group == base.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(base, "_entry_points_loaded", False)
    monkeypatch.setattr(base, "REWARDS", dict(base.REWARDS))
    rewards = all_rewards()
    assert isinstance(rewards["always-half"], RewardInfo) and rewards["always-half"].description == "Half, always."
    assert "broken" not in rewards
    assert build_scorer([{"name": "always-half", "weight": 4, "options": {"anything": 1}}])("x", GT)["score"] == 2.0
