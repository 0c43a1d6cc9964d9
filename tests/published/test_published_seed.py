"""Published fidelity — seed per-step JSON (issue 10 item 1).

Published definition: the two public blog tutorials on VLM-R1 GRPO for phone agents described in
docs/importers.md (no repository: blog posts). Their ``inquiry`` action_parameter is a JSON *string*
whose ``CandidatesList`` is itself a string holding a Python list literal, e.g. ``"['第5章', '第7章']"``.
The record below is shaped exactly so; the importer must accept it without evaluating code, and the seed
style must render the record back as written.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from bridge import open_dataset
from bridge.importers import import_dataset
from bridge.styles import get_style

SEED = Path(__file__).parent.parent / "fixtures" / "importers" / "seed-steps"
TUTORIAL_INQUIRY = ('{"Question": "您要看哪一章？", "CandidatesList": "[\'第5章\', \'第7章\']", '
                    '"PicDescribe": "目录页显示第5章和第7章", "AnswerIndex": 0}')


def _with_inquiry(tmp_path: Path, value: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(SEED, src)
    step = src / "43688" / "step_8.json"
    data = json.loads(step.read_text(encoding="utf-8"))
    data["output"]["action_parameter"]["inquiry"] = value
    step.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return src


def _inquiry_action(tmp_path: Path, value: str):
    import_dataset("seed-steps", _with_inquiry(tmp_path, value), tmp_path / "ds")
    ep = {e.episode_id: e for e in open_dataset(tmp_path / "ds")}["43688"]
    return ep.steps[7]


def test_published_seed_inquiry_with_python_list_literal_is_accepted(tmp_path):
    step = _inquiry_action(tmp_path, TUTORIAL_INQUIRY)
    a = step.action
    assert (a.type, a.text) == ("ask_user", "您要看哪一章？")
    assert a.meta["candidates"] == ["第5章", "第7章"] and a.meta["answer_index"] == 0
    assert a.meta["candidates_text"] == "['第5章', '第7章']"   # kept: JSON would write ["第5章", "第7章"]
    # the seed style renders the inquiry back exactly as the tutorial wrote it, and parses it again
    style = get_style("seed")
    out = json.loads(style.render_action(a, step.width, step.height))
    assert json.loads(out["action_parameter"]["inquiry"])["CandidatesList"] == "['第5章', '第7章']"
    back = style.parse_action(style.render_action(a, step.width, step.height), step.width, step.height).action
    assert back.meta["candidates"] == ["第5章", "第7章"] and back.meta["candidates_text"] == "['第5章', '第7章']"


def test_published_seed_inquiry_json_list_keeps_no_text_copy(tmp_path):
    value = TUTORIAL_INQUIRY.replace("\"['第5章', '第7章']\"", '["第5章", "第7章"]')
    a = _inquiry_action(tmp_path, value).action
    assert a.meta["candidates"] == ["第5章", "第7章"] and "candidates_text" not in a.meta


def test_published_seed_inquiry_literal_is_never_executed(tmp_path):
    from bridge.errors import BridgeError
    import pytest
    bad = TUTORIAL_INQUIRY.replace("['第5章', '第7章']", "__import__('os').getcwd()")
    with pytest.raises(BridgeError) as info:
        import_dataset("seed-steps", _with_inquiry(tmp_path, bad), tmp_path / "ds")
    (p,) = info.value.problems
    assert p.field.endswith("inquiry.CandidatesList") and "list literal" in p.expected
    assert not (tmp_path / "ds").exists()
