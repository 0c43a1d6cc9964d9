"""`bridge rewards list` and `bridge rewards score` on a small dataset with hand-computed scores."""
import json

import pytest

from bridge.cli import main
from bridge.dataset import DatasetWriter
from bridge.schema import Action, Episode, Step

W, H = 1092, 2408      # gui-r1 style (resized, factor 28): the identity frame at this size


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def dataset(tmp_path):
    steps = [Step(index=0, screenshot="images/a.png", width=W, height=H,
                  action=Action(type="click", point=(500.0, 1000.0))),
             Step(index=1, screenshot="images/b.png", width=W, height=H, action=Action(type="type", text="hi there")),
             Step(index=2, screenshot="images/c.png", width=W, height=H, action=Action(type="navigate_back"))]
    out = tmp_path / "ds"
    with DatasetWriter(out, source="test") as w:
        w.write(Episode(episode_id="ep1", instruction="do it", steps=steps))
    return str(out)


def ans(action, point=(-100, -100), text="no input text"):
    return f"<think>t</think> <answer>[{{'action': '{action}', 'point': [{point[0]}, {point[1]}], 'input_text': '{text}'}}]</answer>"


def write_preds(tmp_path, rows):
    p = tmp_path / "preds.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_list(capsys):
    code, out, _ = run(["rewards", "list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["name", "kind", "style", "description"]
    assert any(line.startswith("gui-r1 ") and " preset " in line and " gui-r1 " in line for line in lines)
    assert any(line.startswith("point_in_box ") and " generic " in line for line in lines)
    code, out, _ = run(["rewards", "list", "--json"], capsys)
    names = {r["name"]: r for r in json.loads(out)}
    assert names["agentcpm"]["parts"] == ["schema", "type", "args"] and names["se-gui"]["style"] == "qwen25vl"


def test_score_json_and_table(dataset, tmp_path, capsys):
    preds = write_preds(tmp_path, [{"id": "ep1/0", "completion": ans("click", (600, 1000))},      # 100 px: right
                                   {"id": "ep1/1", "completion": ans("type", text="hi")}])        # F1 2/3
    code, out, err = run(["rewards", "score", dataset, preds, "--preset", "gui-r1", "--style", "gui-r1", "--json"],
                         capsys)
    assert code == 0, err
    doc = json.loads(out)
    by_id = {s["id"]: s for s in doc["steps"]}
    assert by_id["ep1/0"]["gui-r1"] == pytest.approx(1.0) and by_id["ep1/1"]["gui-r1"] == pytest.approx(1.0)
    assert by_id["ep1/2"]["missing"] and by_id["ep1/2"]["gui-r1"] == 0.0
    s = doc["summary"]
    assert (s["steps"], s["predicted"], s["missing"]) == (3, 2, 1)
    assert s["mean"]["score"] == pytest.approx(2 / 3) and s["mean"]["gui-r1/format"] == pytest.approx(2 / 3)
    code, out, _ = run(["rewards", "score", dataset, preds, "--preset", "gui-r1", "--style", "gui-r1", "--per-step"],
                       capsys)
    assert code == 0
    assert "3 steps, 2 predicted, 1 missing" in out
    assert any(line.split()[:2] == ["score", "0.6667"] for line in out.splitlines())
    assert any(line.startswith("ep1/2 (missing)") for line in out.splitlines())


def test_score_with_a_spec_file(dataset, tmp_path, capsys):
    preds = write_preds(tmp_path, [{"id": "ep1/0", "completion": ans("click", (600, 1000))},
                                   {"id": "ep1/2", "completion": ans("press_back")}])
    spec = tmp_path / "spec.yaml"
    spec.write_text("- {name: format, weight: 0.5}\n- {name: action_match, weight: 2}\n")
    code, out, err = run(["rewards", "score", dataset, preds, "--spec", str(spec), "--style", "gui-r1", "--json"],
                         capsys)
    assert code == 0, err
    scores = [s["score"] for s in json.loads(out)["steps"]]
    assert scores == pytest.approx([2.5, 0.0, 2.5])


def test_score_errors(dataset, tmp_path, capsys):
    preds = write_preds(tmp_path, [{"id": "ep9/0", "completion": "x"}])
    code, _, err = run(["rewards", "score", dataset, preds, "--preset", "gui-r1", "--style", "gui-r1"], capsys)
    assert code == 2 and "1 prediction id(s) are not steps" in err and "[ep9/0]" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "ep1/0"}\nnot json\n')
    code, _, err = run(["rewards", "score", dataset, str(bad), "--preset", "gui-r1", "--style", "gui-r1"], capsys)
    assert code == 2 and "missing required field" in err and "not valid JSON" in err
    code, _, err = run(["rewards", "score", dataset, str(bad), "--preset", "nope", "--style", "gui-r1"], capsys)
    assert code == 2 and "unknown reward 'nope'" in err
    code, _, err = run(["rewards", "score", dataset, str(bad), "--style", "gui-r1"], capsys)
    assert code == 2 and "--preset NAME" in err
