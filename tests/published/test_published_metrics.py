"""Published fidelity — offline metric profiles (issue 10 items 6 and 8).

* gui-r1: GUI-R1 ``guir1/eval/eval_omni.py`` (ritzz-ai/GUI-R1; read at icey-zhang/GUI-R1
  049a461d05e21a4f9c48befa3730b0575114127e and YangRui2015/GUI-R1 131ae9a79711e70328760f02801e3fbe94a97da0).
  Re-stated: per step, category = the ground truth's action name; a type hit when the predicted name equals
  it; point actions (click, long_press, doubleclick, rightclick) add a *grounding* sample, hit when
  ((gx-px)/W)^2 + ((gy-py)/H)^2 < 0.14^2 whatever the predicted type; open_app / type / scroll / select add a
  *text* sample, hit when token-set F1 >= 0.5. Totals are summed over the categories that have at least one
  hit (a counter that never got a hit is not a key of ``score_dict``): Type = type hits / steps, Step =
  (grounding + text hits) / (grounding + text samples), GR = grounding hits / grounding samples. GUI-R1's
  inference writes a prediction without a point as (0, 0).
* androidcontrol: InfiGUI-R1 ``eval/android_control/android_control.py`` (Reallm-Labs/InfiGUI-R1 at
  2c842d3b66f08a7e65c907ffd655f19c975b4951) builds one job per recorded action and asserts
  len(step_pams) == len(screenshot_paths) - 1: the evaluation set has no terminal step.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from bridge import open_dataset
from bridge.importers import import_dataset
from bridge.metrics import evaluate
from bridge.schema import Action, Episode, Step
from bridge.styles.base import Parsed

W, H = 1000, 2000


class Table:
    """A stand-in style: the completion text names a canned prediction (the parse is not under test)."""
    name = "table"

    def __init__(self, preds: dict[str, Action]):
        self.preds = preds

    def parse_action(self, text, width, height):
        return Parsed(self.preds[text])


def _step(i: int, a: Action) -> Step:
    return Step(index=i, screenshot=f"s{i}.png", width=W, height=H, action=a)


CASES = [   # (ground truth, prediction or None = missing)
    (Action(type="click", point=(500, 1000)), Action(type="click", point=(560, 1000))),       # type+GR hit
    (Action(type="click", point=(50, 100)), Action(type="type", text="hello")),             # no point: (0, 0)
    (Action(type="click", point=(500, 1000)), Action(type="long_press", point=(500, 1500))),  # both miss
    (Action(type="long_press", point=(500, 1000)), Action(type="click", point=(900, 1900))),  # category w/o hit
    (Action(type="type", text="buy red shoes"), Action(type="type", text="red shoes")),       # F1 0.8
    (Action(type="type", text="hello world"), Action(type="click", point=(1, 1))),            # F1 0
    (Action(type="scroll", direction="up"), Action(type="scroll", direction="down")),         # type hit only
    (Action(type="navigate_back"), Action(type="navigate_back")),                             # type only
    (Action(type="status", status="complete"), Action(type="click", point=(5, 5))),           # category w/o hit
    (Action(type="open_app", app="Google Maps"), None),                                       # missing
]


def _run(profile: str):
    ep = Episode(episode_id="m", instruction="mixed", steps=[_step(i, gt) for i, (gt, _) in enumerate(CASES)])
    preds = {f"m/{i}": str(i) for i, (_, p) in enumerate(CASES) if p is not None}
    table = {str(i): p for i, (_, p) in enumerate(CASES) if p is not None}
    return evaluate([ep], preds, Table(table), profile)


def test_published_gui_r1_eval_omni_totals():
    r = _run("gui-r1")
    # Type: click 1/3, type 1/2, scroll 1/1, press_back 1/1; long_press 0/1, complete 0/1, open_app 0/1 left out
    assert r.published["type"] == (4, 7) and r.type_accuracy == pytest.approx(4 / 7)
    # GR: click 2/3 (step 2's point-less prediction is at (0, 0): 0.05, 0.05 away); long_press 0/1 left out
    assert r.published["grounding"] == (2, 3) and r.grounding_accuracy == pytest.approx(2 / 3)
    # Step: click grounding 2/3 + type text 1/2; scroll 0/1 and open_app 0/1 left out; no type match needed
    assert r.published["step"] == (3, 5) and r.step_success == pytest.approx(3 / 5)
    assert r.to_dict()["published"]["step"] == {"hits": 3, "total": 5}


def test_published_gui_r1_strict_keeps_our_step_success():
    r = _run("gui-r1-strict")
    assert r.published is None
    assert (r.type_match, r.success, r.grounded, r.grounding_steps) == (4, 3, 1, 4)
    assert r.step_success == pytest.approx(3 / 10)


FIX = Path(__file__).parent.parent / "fixtures" / "importers" / "androidcontrol"


def test_published_androidcontrol_profile_skips_the_synthetic_terminal_step(tmp_path):
    import_dataset("androidcontrol", FIX, tmp_path / "ds")
    eps = list(open_dataset(tmp_path / "ds"))
    recorded = sum(1 for e in eps for s in e.steps if not s.meta.get("synthetic"))
    synthetic = sum(1 for e in eps for s in e.steps if s.meta.get("synthetic"))
    assert synthetic == len(eps) > 0
    r = evaluate(eps, {}, "qwen25vl", "androidcontrol")
    assert (r.steps, r.excluded) == (recorded, synthetic)       # one job per recorded action, as published
    assert r.to_dict()["counts"]["excluded"] == synthetic
    r = evaluate(eps, {}, "qwen25vl", "androidcontrol", synthetic=True)
    assert (r.steps, r.excluded) == (recorded + synthetic, 0)
    r = evaluate(eps, {}, "qwen25vl", "aitw")                   # AITW episodes end with a real status step
    assert (r.steps, r.excluded) == (recorded + synthetic, 0)
