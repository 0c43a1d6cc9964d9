"""Published fidelity — AgentCPM-GUI's reading of completions (issue 10 item 10).

Published definition, OpenBMB/AgentCPM-GUI at a5612f0fa6f6bfc86666b60dbf1b4c5cad043f0c (run_predict_minicpm.py
at 4a6e0d6f0648a7a1860aac0f16f0c296c161dba0): ``eval/run_predict_minicpm.py`` keeps a completion only when
``json.loads`` reads it whole and it validates against ``eval/utils/schema/schema_for_extraction.json``
(additionalProperties false; integer locations in [0, 1000]; one of POINT / PRESS / TYPE / DEEP_LINK / CLEAR);
``eval/utils/convert_output.py`` fills duration = 200 and STATUS = continue; ``eval/utils/evaluator.py``
``action_map`` then decides, in order: a stopping STATUS → stop; TYPE → type; POINT, no ``to``, duration 200 →
click; POINT + ``to``, duration 200 → scroll; POINT, duration > 200 → long_point; PRESS → press; else → stop.
An invalid completion is a miss on every count (``hit_format`` False).
"""
from __future__ import annotations

import pytest

from bridge.metrics import evaluate
from bridge.metrics.agentcpm_parse import parse
from bridge.schema import Action, Episode, Step

W, H = 1000, 2000

# completion -> the evaluator's action type (None: invalid)
CASES = {
    '```json\n{"POINT":[500,500]}\n```': None,                 # fenced: json.loads fails
    "{'POINT': [500, 500]}": None,                              # single quotes
    '<think>t</think>{"POINT":[500,500]}': None,
    '{"POINT":[500,500],"note":"x"}': None,                     # extra key
    '{"POINT":[500.5,500]}': None,                              # not an integer
    '{"POINT":[500,1001]}': None,
    '{"TYPE":"hi","POINT":[1,1]}': None,                        # two exclusive keys
    '{"STATUS":"continue"}': None,                              # no action
    '{"to":"up"}': None,                                        # to needs POINT
    '{"POINT":[500.0,500]}': "click",                           # 500.0 is a JSON Schema integer
    '{"POINT":[500,500],"STATUS":"finish"}': "status",          # a stopping STATUS wins: stop
    '{"POINT":[500,500],"duration":100}': "status",             # neither click nor long press: stop
    '{"POINT":[500,500],"duration":200}': "click",
    '{"POINT":[500,500],"duration":1000}': "long_press",
    '{"POINT":[500,500],"to":"up","duration":1000}': "long_press",
    '{"POINT":[500,500],"to":"up"}': "swipe",
    '{"PRESS":"BACK"}': "navigate_back",
    '{"duration":1000}': "wait",                                # the evaluator's stop (pause)
    '{"DEEP_LINK":null}': "status",
    '{"thought":"x","TYPE":"hello","STATUS":"start"}': "type",
}


@pytest.mark.parametrize("text, kind", list(CASES.items()))
def test_published_agentcpm_parse_table(text, kind):
    got = parse(text, W, H)
    assert (got.action.type if got.ok else None) == kind
    if kind is None:
        assert got.error.startswith("AgentCPM evaluator")


def test_published_agentcpm_profile_parses_as_the_publisher_and_leniency_is_explicit():
    stop_gt = Step(index=0, screenshot="a.png", width=W, height=H, action=Action(type="status", status="complete"))
    click_gt = Step(index=1, screenshot="b.png", width=W, height=H, action=Action(type="click", point=(500, 1000)))
    ep = Episode(episode_id="e", instruction="g", steps=[stop_gt, click_gt])
    preds = {"e/0": '{"POINT":[500,500],"STATUS":"finish"}', "e/1": '```json\n{"POINT":[500,500]}\n```'}
    strict = evaluate([ep], preds, "agentcpm", "agentcpm")
    assert (strict.success, strict.parse_failures) == (1, 1)      # a stop; the fenced click is invalid
    lenient = evaluate([ep], preds, "agentcpm", "agentcpm", strict=False)
    assert (lenient.success, lenient.parse_failures) == (1, 0)    # a click on the stop step; the fence parsed
    assert [r.pred_type for r in lenient.step_results] == ["click", "click"]
