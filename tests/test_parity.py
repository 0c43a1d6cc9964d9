"""The same recipe, the same result (issue 17; docs/backends.md): a reduced version of bench/parity_bench.py.

The demo's learnable SFT recipe (bench/recipes/parity_sft.yaml) trains 5 steps on TRL, LLaMA-Factory and
ms-swift: the per-step losses must agree within :data:`bridge.parity.LOSS_RTOL`. Then the planted fault: TRL is
fed the same episodes exported through a wrong coordinate frame (the ``resized`` frame of a 56x56 image while the
model sees 112x112 screens: every click's coordinates halved, as an adapter that scaled to the wrong pixel bound
would) — :func:`bridge.parity.compare_losses` must report it. A parity check that cannot fail is no check.

The comparison functions themselves are tested fast on hand-made curves (no training)."""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from bridge.parity import LOSS_RTOL, compare_evals, compare_losses, wrong_frame_export

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "bench" / "recipes" / "parity_sft.yaml"
STEPS = 5


# ------------------------------------------------------------------------------------------ the check itself (fast)

def test_compare_losses_reports_the_step_and_backend_that_differ():
    ref = [(1, 12.175353), (2, 11.134357), (3, 10.665116)]
    same = [(1, 12.175354), (2, 11.134358), (3, 10.665115)]            # float32 round-off (measured)
    assert compare_losses({"trl": ref, "swift": same}, 3)["ok"]
    off = [(1, 12.175353), (2, 11.134357), (3, 10.70)]
    rep = compare_losses({"trl": ref, "llamafactory": same, "swift": off}, 3)
    assert not rep["ok"] and rep["worst"]["backend"] == "swift" and rep["worst"]["step"] == 3
    assert len(rep["problems"]) == 1 and rep["problems"][0].startswith("swift: step 3 loss")
    missing = compare_losses({"trl": ref, "swift": ref[:2]}, 3)        # logged less often: not comparable
    assert missing["problems"] == ["swift: no loss logged at step 3"]


def test_compare_evals_gates_step_success_within_5_points():
    m = {"trl": {"step_success": 0.90, "grounding_accuracy": 0.80},
         "swift": {"step_success": 0.86, "grounding_accuracy": 0.70}}
    rep = compare_evals(m)
    assert rep["ok"] and rep["spread"]["step_success"] == pytest.approx(4.0)   # click accuracy: reported only
    m["swift"]["step_success"] = 0.84
    rep = compare_evals(m)
    assert not rep["ok"] and "trl 90.0 % vs swift 84.0 %" in rep["problems"][0]


# ------------------------------------------------------------------------------------------ real trainings (slow)

@pytest.fixture(scope="module")
def parity_recipe(tmp_path_factory):
    from bridge.backends.testing import backend_python
    from bridge.learnable import make_grid_dataset
    from bridge.recipe import load_recipe

    for b in ("trl", "llamafactory", "swift"):
        backend_python(b)                       # skip (or fail under BRIDGE_REQUIRE_BACKENDS=1) when missing
    d = tmp_path_factory.mktemp("parity")
    train = make_grid_dataset(d / "train", episodes=64, seed=0, grid=2, colours=("red",))
    r = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    r["data"]["train"] = str(train)
    r["data"].pop("eval")
    r["train"].update(max_steps=STEPS, save={"strategy": "no"})
    path = d / "parity.yaml"
    path.write_text(yaml.safe_dump(r, sort_keys=False), encoding="utf-8")
    return load_recipe(str(path)), path


def train(recipe, recipe_path: Path, backend: str, runs: Path) -> list[tuple[int, float]]:
    from bridge.parity import loss_curve
    from bridge.runs import execute, prepare

    plan = prepare(recipe, backend, runs, recipe_file=str(recipe_path), echo=lambda s: None)
    record = execute(plan, echo=lambda s: None, stream=io.StringIO())
    assert record["status"] == "ok", (backend, (plan.run_dir / "backend.log").read_text()[-3000:])
    return loss_curve(backend, plan.run_dir)


def first_click(export_dir: Path) -> tuple[int, int]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(export_dir.rglob("*.json*")))
    m = re.search(r"click\(point='<point>(\d+) (\d+)</point>'\)", text)
    assert m, f"no click in {export_dir}"
    return int(m.group(1)), int(m.group(2))


@pytest.mark.slow
@pytest.mark.backend("trl")
@pytest.mark.backend("llamafactory")
@pytest.mark.backend("swift")
def test_same_recipe_same_losses_and_a_wrong_frame_is_caught(parity_recipe, tmp_path, monkeypatch):
    recipe, path = parity_recipe
    curves = {b: train(recipe, path, b, tmp_path / "runs") for b in ("trl", "llamafactory", "swift")}
    rep = compare_losses(curves, STEPS)
    assert rep["ok"], rep["problems"]
    assert rep["max_rel_dev"] < LOSS_RTOL / 100        # measured ~1e-7: float32 round-off, nothing systematic

    # the planted fault: TRL trained on clicks in the wrong frame
    import bridge.runs
    from bridge.backends import get_adapter
    from bridge.runs import cached_export
    monkeypatch.setattr(bridge.runs, "cached_export", wrong_frame_export(tmp_path / "wrong"))
    faulty = train(recipe, path, "trl", tmp_path / "runs-fault")
    monkeypatch.undo()
    good_x, good_y = first_click(cached_export(get_adapter("trl"), recipe, echo=lambda s: None)[0].out)
    bad_x, bad_y = first_click(tmp_path / "wrong" / "trl")
    assert (bad_x, bad_y) != (good_x, good_y) and abs(2 * bad_x - good_x) <= 1   # the fault is what it claims
    rep = compare_losses({"llamafactory": curves["llamafactory"], "swift": curves["swift"], "trl": faulty}, STEPS)
    assert not rep["ok"], "the parity check did not see TRL trained on coordinates in the wrong frame"
    assert rep["worst"]["backend"] == "trl" and all(p.startswith("trl: step") for p in rep["problems"])
