"""Backend hooks called with the exact argument shapes each trainer passes (docs/backends.md), and the
four giving identical scores for the same completion and sample."""
import importlib
import importlib.util
import json
import sys
import types

import pytest

from bridge.errors import BridgeError
from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import hooks
from bridge.schema import Action

SPEC = [{"preset": "gui-r1"}, {"name": "vlm-r1-format", "weight": 0.5}]
GTS = [GroundTruth(action=Action(type="click", point=(500.0, 1000.0)), width=1000, height=2000, style="gui-r1",
                   frame=Frame("pixel")),
       GroundTruth(action=Action(type="type", text="hello world"), width=1000, height=2000, style="gui-r1",
                   frame=Frame("pixel"))]
TEXTS = ["<think>t</think> <answer>[{'action': 'click', 'point': [510, 1000], 'input_text': 'no input text'}]</answer>",
         "<answer>[{'action': 'type', 'point': [-100, -100], 'input_text': 'hello there'}]</answer>"]
# gui-r1 (0.8·acc + 0.2·fmt) + 0.5 · vlm-r1-format
EXPECTED = [1.0 + 0.5, 0.8 + 0.0]


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    monkeypatch.delenv(hooks.SPEC_ENV, raising=False)
    monkeypatch.setattr(hooks, "_configured", None)
    yield


def verl_scores(spec_via="kwargs"):
    out = []
    for i, (text, gt) in enumerate(zip(TEXTS, GTS)):
        extra = {"index": i, "split": "train", "num_turns": 1, "rollout_reward_scores": {}}
        kw = {}
        if spec_via == "kwargs":
            kw["reward_spec"] = SPEC
        elif spec_via == "extra_info":
            extra["reward_spec"] = SPEC
        # verl's naive reward manager calls with keywords; reward_kwargs from the config are merged in
        r = hooks.compute_score(data_source="gui_agent", solution_str=text, ground_truth=gt.to_json(),
                                extra_info=extra, **kw)
        assert set(r) == {"score", "gui-r1", "gui-r1/format", "gui-r1/accuracy", "vlm-r1-format"}
        out.append(r["score"])
    return out


def test_verl_compute_score():
    assert verl_scores("kwargs") == pytest.approx(EXPECTED)
    assert verl_scores("extra_info") == pytest.approx(EXPECTED)
    # parquet structs come back as dicts holding numpy arrays
    np = pytest.importorskip("numpy")
    d = GTS[0].to_dict()
    d["action"]["point"] = np.array(d["action"]["point"])
    r = hooks.compute_score("gui_agent", TEXTS[0], d, None, reward_spec=SPEC)
    assert r["score"] == pytest.approx(1.5)


def test_verl_bad_ground_truth_is_an_error_not_a_zero():
    """Issue 11 item 3: a silent 0 would train on a wrong signal; the hook raises with what failed."""
    from bridge.rewards.spec import RewardError

    with pytest.raises(RewardError, match="cannot read the ground truth"):
        hooks.compute_score("gui_agent", TEXTS[0], "{not json", {"index": 0}, reward_spec=SPEC)


def swift_kwargs():
    # ms-swift 4.x: completions are strings; every extra column plus messages/images/trainer_state are kwargs
    return dict(messages=[[{"role": "user", "content": "<image>Task: …"}]] * 2, images=[["/a.png"]] * 2,
                trainer_state=object(), ground_truth=[gt.to_json() for gt in GTS], solution=["x", "y"])


def test_swift_pure_function():
    hooks.configure(SPEC)
    assert hooks.swift_reward(TEXTS, **swift_kwargs()) == pytest.approx(EXPECTED)
    with pytest.raises(BridgeError, match="ground-truth column 'ground_truth'"):
        hooks.swift_reward(TEXTS, messages=[])


def test_swift_orm_plugin_with_a_stand_in_swift(monkeypatch):
    class ORM:  # the ms-swift 4.x base: __init__(self, args=None, **kwargs); __call__(completions, **kwargs)
        def __init__(self, args=None, **kwargs):
            self.args = args

    swift, rewards = types.ModuleType("swift"), types.ModuleType("swift.rewards")
    rewards.ORM, rewards.orms = ORM, {"format": object}
    swift.rewards = rewards
    monkeypatch.setitem(sys.modules, "swift", swift)
    monkeypatch.setitem(sys.modules, "swift.rewards", rewards)
    monkeypatch.setenv(hooks.SPEC_ENV, json.dumps(SPEC))
    monkeypatch.delitem(sys.modules, "bridge.backends.swift.reward_plugin", raising=False)
    plugin = importlib.import_module("bridge.backends.swift.reward_plugin")
    assert {"bridge", "bridge_gui_r1", "bridge_vlm_r1_format", "format"} <= set(rewards.orms)
    assert issubclass(rewards.orms["bridge"], ORM)
    orm = rewards.orms["bridge"](args=None)
    assert orm(TEXTS, **swift_kwargs()) == pytest.approx(EXPECTED)
    assert rewards.orms["bridge_vlm_r1_format"]()(TEXTS, **swift_kwargs()) == [1.0, 0.0]
    assert plugin.BridgeORM()(TEXTS, **swift_kwargs()) == pytest.approx(EXPECTED)   # spec from the env


def trl_kwargs():
    # TRL 1.x GRPO: conversational completions, every extra column repeated per generation, plus extras
    return dict(prompts=[[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Task"}]}]] * 2,
                completions=[[{"role": "assistant", "content": t}] for t in TEXTS],
                completion_ids=[[1, 2, 3], [4, 5]], ground_truth=[gt.to_json() for gt in GTS], image=[None, None],
                trainer_state=object(), log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)


def test_trl_callables():
    funcs, weights = hooks.trl_reward_funcs(SPEC)
    assert [f.__name__ for f in funcs] == ["bridge_gui_r1", "bridge_vlm_r1_format"] and weights == [1.0, 0.5]
    per = [f(**trl_kwargs()) for f in funcs]
    total = [sum(w * p[i] for w, p in zip(weights, per)) for i in range(2)]
    assert total == pytest.approx(EXPECTED)
    (one,), (w,) = hooks.trl_reward_funcs(SPEC, split=False)
    assert one(**trl_kwargs()) == pytest.approx(EXPECTED) and w == 1.0
    hooks.configure(SPEC)
    assert hooks.trl_reward(**trl_kwargs()) == pytest.approx(EXPECTED)
    # typed content blocks and plain-string completions (non-conversational prompts) read the same text
    kw = trl_kwargs()
    kw["completions"] = [[{"role": "assistant", "content": [{"type": "text", "text": t}]}] for t in TEXTS]
    assert hooks.trl_reward(**kw) == pytest.approx(EXPECTED)
    kw["completions"] = list(TEXTS)
    assert hooks.trl_reward(**kw) == pytest.approx(EXPECTED)


def test_trl_tool_calls_parsed_out_of_the_text_are_restored():
    from bridge.rewards.parse import completion_text

    msg = [{"role": "assistant", "content": "<think>x</think>",
            "tool_calls": [{"type": "function", "function": {"name": "mobile_use",
                                                             "arguments": {"action": "click", "coordinate": [1, 2]}}}]}]
    assert completion_text(msg) == ('<think>x</think>\n<tool_call>\n{"name": "mobile_use", "arguments": '
                                    '{"action": "click", "coordinate": [1, 2]}}\n</tool_call>')


def vlmr1_kwargs():
    # VLM-R1: completions[i][0]["content"]; the gpt value becomes "<answer> {solution} </answer>"; every other
    # column (and prompts, image_grid_thw for Qwen) arrives as keyword arguments
    return dict(prompts=[[{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "q"}]}]] * 2,
                completions=[[{"role": "assistant", "content": t}] for t in TEXTS],
                solution=[f"<answer> {gt.to_json()} </answer>" for gt in GTS], image_path=[["/a.png"]] * 2,
                problem=["q", "q"], accu_reward_method=["default", "default"], id=[0, 1],
                image_grid_thw=[[1, 70, 36]] * 2)


def test_vlmr1_functions():
    hooks.configure(SPEC)
    assert hooks.vlmr1_reward(**vlmr1_kwargs()) == pytest.approx(EXPECTED)
    funcs = hooks.vlmr1_reward_funcs()
    assert set(funcs) == {"bridge", "bridge_gui_r1", "bridge_vlm_r1_format"}
    assert funcs["bridge"].__name__ == "bridge"
    assert funcs["bridge"](**vlmr1_kwargs()) == pytest.approx(EXPECTED)
    assert funcs["bridge_gui_r1"](**vlmr1_kwargs()) == pytest.approx([1.0, 0.8])


def test_the_four_hooks_agree():
    hooks.configure(SPEC)
    verl = [hooks.compute_score("gui_agent", t, gt.to_json(), {"index": i})["score"]
            for i, (t, gt) in enumerate(zip(TEXTS, GTS))]
    swift = hooks.swift_reward(TEXTS, **swift_kwargs())
    trl = hooks.trl_reward(**trl_kwargs())
    vlmr1 = hooks.vlmr1_reward(**vlmr1_kwargs())
    assert verl == swift == trl == vlmr1 == pytest.approx(EXPECTED)


def test_spec_resolution_order(monkeypatch, tmp_path):
    gt = GTS[0].to_json()
    default = hooks.compute_score("d", TEXTS[0], gt)
    assert set(default) == {"score", "format", "action_match"}                 # DEFAULT_SPEC
    f = tmp_path / "spec.json"
    f.write_text(json.dumps([{"preset": "ui-r1"}]))
    monkeypatch.setenv(hooks.SPEC_ENV, str(f))
    assert "ui-r1" in hooks.compute_score("d", TEXTS[0], gt)
    hooks.configure([{"preset": "gui-r1"}])
    assert "gui-r1" in hooks.compute_score("d", TEXTS[0], gt)
    assert "vlm-r1-format" in hooks.compute_score("d", TEXTS[0], gt, reward_spec=["vlm-r1-format"])


def test_generated_hook_module_pins_the_spec(tmp_path):
    path = hooks.write_hook_module(str(tmp_path / "bridge_reward.py"), SPEC)
    spec = importlib.util.spec_from_file_location("bridge_reward_generated", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.SPEC == [{"name": "gui-r1", "weight": 1.0}, {"name": "vlm-r1-format", "weight": 0.5}]
    assert [mod.compute_score("d", t, gt.to_json(), None)["score"] for t, gt in zip(TEXTS, GTS)] == \
        pytest.approx(EXPECTED)
    with pytest.raises(BridgeError):
        hooks.hook_module_source([{"name": "nope"}])
