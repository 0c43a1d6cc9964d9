"""Published fidelity — VLM-R1's ``llm_reward`` under its own name, ``vlm-r1-llm`` (issue 10 item 12).

Published definition, om-ai-lab/VLM-R1 ``src/open-r1-multimodal/src/open_r1/grpo_jsonl.py`` at
e0e622f012d16f29f4a1ff3b99d60a0081308558 (``llm_reward`` and ``evaluate_answer_similarity``), re-stated:
ground truth = the solution's first ``<answer>(.*?)</answer>`` (no DOTALL) stripped, else the whole solution;
student = the completion's LAST ``<answer>…</answer>`` (DOTALL) stripped, else the whole completion; the judge
(model ``qwen2.5:7b``, temperature 0, base URL ``$OPENAI_API_BASE``) gets two user messages: the fixed
"You are a evaluation expert…" instruction, then "Student's response: S\\nCorrect solution: G\\nOutput only 1.0
or 0.0:"; the reward is ``float(reply.strip())`` (not clamped); on ANY exception (unreachable, HTTP error, a
reply float() cannot read) it is 1.0 if S == G else 0.0.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bridge.frames import Frame
from bridge.groundtruth import GroundTruth
from bridge.rewards import get_reward
from bridge.rewards.presets.vlm_r1 import llm_answers
from bridge.schema import Action

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_rewards_judge import Server  # noqa: E402  (the tiny OpenAI-compatible server of that test)

GT = GroundTruth(action=Action(type="type", text="hello"), width=1000, height=2000, style="gui-r1",
                 frame=Frame("resized", 28, 3136, 1003520))


def test_published_vlmr1_answer_extraction():
    assert llm_answers("a <answer> x </answer> b <answer>\n y \n</answer>", "<answer> G </answer>") == ("y", "G")
    assert llm_answers("plain", "<answer>G\n</answer>") == ("plain", "<answer>G\n</answer>")   # no DOTALL on sol


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def test_published_vlmr1_llm_request_and_verdicts(server):
    fn = get_reward("vlm-r1-llm")
    target = "<answer>[{'action': 'type', 'point': [-100, -100], 'input_text': 'hello'}]</answer>"
    truth = target[len("<answer>"):-len("</answer>")]
    server.script = [("ok", " 0.5 "), ("ok", "2"), ("ok", "yes"), ("status", 400)]
    assert fn("<think>t</think>" + target, GT, endpoint=server.url)["score"] == 0.5
    assert fn("<think>t</think>" + target, GT, endpoint=server.url)["score"] == 2.0       # not clamped
    assert fn("<think>t</think>" + target, GT, endpoint=server.url)["score"] == 1.0      # fallback: S == G
    assert fn("<answer>other</answer>", GT, endpoint=server.url)["score"] == 0.0        # fallback: S != G
    _, body, _ = server.requests[0]
    assert body["model"] == "qwen2.5:7b" and body["temperature"] == 0 and "max_tokens" not in body
    m = body["messages"]
    assert [x["role"] for x in m] == ["user", "user"] and m[0]["content"].startswith("You are a evaluation expert.")
    assert m[1]["content"] == f"Student's response: {truth}\nCorrect solution: {truth}\nOutput only 1.0 or 0.0:"


def test_published_vlmr1_llm_unreachable_is_exact_match():
    fn = get_reward("vlm-r1-llm")
    target = "<answer>[{'action': 'type', 'point': [-100, -100], 'input_text': 'hello'}]</answer>"
    assert fn(target, GT, endpoint="http://127.0.0.1:9", retries=0, timeout=2)["score"] == 1.0
    assert fn("<answer>x</answer>", GT, endpoint="http://127.0.0.1:9", retries=0, timeout=2)["score"] == 0.0
