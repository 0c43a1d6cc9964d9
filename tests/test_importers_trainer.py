"""Trainer datasets back to canonical (issue 10 item 15): canonical → `bridge convert` (TRL, LLaMA-Factory,
ms-swift, verl, VLM-R1) → `bridge import <backend>` → canonical is lossless for everything the style expresses;
`loss_report` counts per field what it cannot, and catches a planted change."""
from __future__ import annotations

import json
import shutil

import pytest

from bridge import open_dataset
from bridge.cli import main
from bridge.errors import BridgeError
from bridge.importers import import_dataset
from bridge.importers.trainer_formats import loss_report
from bridge.styles import available, get_style
from bridge.styles.base import PromptOptions

#: what a trainer row cannot carry (or the style cannot say): the only keys a round trip may report
CANNOT_CARRY = {"elements", "app", "platform", "refused"}


def convert(ds, tmp_path, backend, method, style, *opts):
    out = tmp_path / f"{backend}-{style}"
    try:
        main(["convert", str(ds), "--backend", backend, "--method", method, "--style", style, *opts,
              "--out", str(out)])
    except SystemExit as e:
        assert e.code in (0, None)
    return out


@pytest.mark.parametrize("backend, method", [("trl", "sft"), ("llamafactory", "sft"), ("swift", "sft"),
                                             ("verl", "grpo"), ("vlmr1", "grpo")])
def test_round_trip_is_lossless_for_what_the_style_says(synth_dataset, tmp_path, backend, method):
    out = convert(synth_dataset, tmp_path, backend, method, "qwen25vl", "--think", "--prev-image")
    import_dataset(backend, out, tmp_path / "back")
    back = list(open_dataset(tmp_path / "back"))
    report = loss_report(open_dataset(synth_dataset), back, get_style("qwen25vl", PromptOptions(think=True)))
    lost = {k for k in report if not k.startswith("unsaid.")}
    assert lost <= CANNOT_CARRY, dict(report)
    refused = sum(json.loads((out / "export.json").read_text("utf-8"))["refused"].values())
    assert report["refused"] == refused > 0 and report["unsaid.bbox"] > 0      # qwen writes no box
    assert sum(len(e.steps) for e in back) == sum(len(e.steps) for e in open_dataset(synth_dataset)) - refused


@pytest.mark.parametrize("style", sorted(set(available()) - {"qwen25vl"}))   # qwen25vl: every backend, above
def test_round_trip_other_styles_through_trl(synth_dataset, tmp_path, style):
    out = convert(synth_dataset, tmp_path, "trl", "sft", style)
    import_dataset("trl", out, tmp_path / "back")
    report = loss_report(open_dataset(synth_dataset), open_dataset(tmp_path / "back"), get_style(style))
    assert {k for k in report if not k.startswith("unsaid.")} <= CANNOT_CARRY, dict(report)


def test_a_changed_target_is_reported(synth_dataset, tmp_path):
    out = convert(synth_dataset, tmp_path, "trl", "sft", "agentcpm")
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    i = next(k for k, r in enumerate(rows) if '"POINT"' in r["completion"][0]["content"][0]["text"]
             and "to" not in r["completion"][0]["content"][0]["text"])
    rows[i]["completion"][0]["content"][0]["text"] = '{"POINT":[1,1]}'
    (out / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    import_dataset("trl", out, tmp_path / "back")
    report = loss_report(open_dataset(synth_dataset), open_dataset(tmp_path / "back"), get_style("agentcpm"))
    assert report["action.point"] == 1


def test_converted_trainer_dataset_converts_to_another_trainer(synth_dataset, tmp_path):
    out = convert(synth_dataset, tmp_path, "swift", "sft", "gui-r1")
    import_dataset("swift", out, tmp_path / "canon")
    again = convert(tmp_path / "canon", tmp_path, "llamafactory", "sft", "gui-r1")
    a = [json.loads(x)["messages"][-1] for x in (out / "train.jsonl").read_text("utf-8").splitlines()]
    b = [json.loads(x)["messages"][-1] for x in (again / "train.jsonl").read_text("utf-8").splitlines()]
    assert a == b                                   # the same targets, through canonical


def test_style_is_required_without_export_json_and_bad_rows_are_located(synth_dataset, tmp_path):
    out = convert(synth_dataset, tmp_path, "llamafactory", "sft", "qwen2vl")
    (out / "export.json").unlink()
    with pytest.raises(BridgeError) as info:
        import_dataset("llamafactory", out, tmp_path / "back")
    assert "--style" in (info.value.hint or "")
    rows = (out / "train.jsonl").read_text("utf-8").splitlines()
    bad = json.loads(rows[1])
    bad["messages"][-1]["content"] = "I would tap the button"
    rows[1] = json.dumps(bad, ensure_ascii=False)
    (out / "train.jsonl").write_text("\n".join(rows) + "\n", "utf-8")
    with pytest.raises(BridgeError) as info:
        import_dataset("llamafactory", out, tmp_path / "back", style="qwen2vl")
    (p,) = info.value.problems
    assert (p.line, p.field) == (2, "assistant") and "does not parse as qwen2vl" in p.message
    assert not (tmp_path / "back").exists()
    shutil.rmtree(out)


def test_rows_without_step_ids_are_one_step_episodes(synth_dataset, tmp_path):
    out = convert(synth_dataset, tmp_path, "swift", "sft", "qwen2vl")
    rows = [json.loads(x) for x in (out / "train.jsonl").read_text("utf-8").splitlines()][:3]
    for r in rows:
        del r["id"]
    (out / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    import_dataset("swift", out, tmp_path / "back")
    eps = list(open_dataset(tmp_path / "back"))
    assert [len(e.steps) for e in eps] == [1, 1, 1] and eps[0].episode_id == "train-1"
