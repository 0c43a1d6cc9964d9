"""GRPO conformance across backends: `bridge convert DATASET --backend all --method grpo` writes verl, ms-swift, TRL
and VLM-R1 data from one dataset; for every sample each export carries the same prompt text, images and ground
truth, and each backend's reward hook — called with the argument shapes that trainer uses, on the values read back
from its export — gives the same score for the same completion."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.backends import available_adapters, get_adapter
from bridge.backends.base import ExportResult
from bridge.cli import main as cli_main
from bridge.groundtruth import GroundTruth
from bridge.rewards import hooks
from bridge.rewards.spec import build_scorer
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style

#: every registered GRPO backend that reads its export back and calls its hook (bridge.backends.testing: missing)
BACKENDS = [n for n, a in available_adapters().items() if "grpo" in a.methods
            and not {"read_export", "hook_scores"} & set(a.gaps)]
SPEC = [{"name": "action_match"}, {"name": "gaussian_point", "weight": 0.5}, {"name": "format", "weight": 0.25}]
STYLES = ("qwen2vl", "gui-r1")      # with a system prompt (folded for VLM-R1) and without one


@pytest.fixture(scope="module", params=STYLES)
def converted(request, synth_dataset, tmp_path_factory):
    """(style, out dir, samples) after `bridge convert --backend all --method grpo --prev-image`."""
    style = request.param
    out = tmp_path_factory.mktemp("grpo") / f"exports-{style}"
    cli_main(["convert", str(synth_dataset), "--backend", "all", "--style", style, "--method", "grpo",
              "--history", "2", "--prev-image", "--out", str(out)])
    samples = list(build_samples(synth_dataset, get_style(style, PromptOptions(history=2, prev_image=True))))
    return style, out, samples


def export_files(out: Path, backend: str) -> dict:
    return json.loads((out / backend / "export.json").read_text())


def rows_of(out: Path, backend: str) -> dict:
    """What each backend's data says, read the way the backend reads it (its adapter's read_export)."""
    return get_adapter(backend).read_export(ExportResult.from_dict(export_files(out, backend)))


def test_convert_all_writes_every_grpo_backend(converted):
    _, out, samples = converted
    written = {p.name for p in out.iterdir() if p.is_dir()}
    assert {"verl", "swift", "trl", "vlmr1"} <= set(BACKENDS)
    assert written == set(BACKENDS)          # LLaMA-Factory has no GRPO
    for b in sorted(written):
        assert export_files(out, b)["samples"] == len(samples)
    assert all(get_adapter(b).methods >= {"grpo"} for b in BACKENDS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_prompt_text_images_and_ground_truth(converted, backend):
    _, out, samples = converted
    rows = rows_of(out, backend)
    assert list(rows) == [s.id for s in samples]
    for s in samples:
        r = rows[s.id]
        assert r["prompt_text"] == s.prompt_text, (backend, s.id)
        assert r["images"] == s.images
        assert r["ground_truth"] == s.ground_truth.to_json()            # byte-identical canonical JSON
        assert GroundTruth.from_any(r["ground_truth"]) == s.ground_truth


def completions(s) -> list[str]:
    """The target, near misses (digits shifted: other coordinates; a letter swapped: other text) and garbage."""
    return [s.target, s.target.replace("1", "4"), s.target.replace("e", "o", 1), "tap the screen"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_hook_scores_the_same(converted, backend, monkeypatch):
    _, out, samples = converted
    monkeypatch.setattr(hooks, "_configured", None)
    monkeypatch.delenv(hooks.SPEC_ENV, raising=False)
    hooks.configure(SPEC)          # what each generated hook module / launcher does with the run's spec
    scorer = build_scorer(SPEC)
    rows = rows_of(out, backend)
    distinct = set()
    for s in samples:
        texts = completions(s)
        want = [scorer(t, s.ground_truth.to_json())["score"] for t in texts]
        # the backend's hook called as that trainer calls it, with the columns of its own export
        assert get_adapter(backend).hook_scores(rows[s.id]["row"], texts) == pytest.approx(want), (backend, s.id)
        distinct.update(round(x, 6) for x in want)
    assert len(distinct) >= 4      # the completions really score differently (the comparison can fail)


def test_trl_reward_callables_sum_to_the_single_trl_reward(converted, monkeypatch):
    """TRL's per-component callables, weighted as GRPOTrainer sums them, equal the one-callable hook."""
    _, out, samples = converted
    monkeypatch.setattr(hooks, "_configured", None)
    monkeypatch.delenv(hooks.SPEC_ENV, raising=False)
    hooks.configure(SPEC)
    row = rows_of(out, "trl")[samples[0].id]["row"]
    texts = completions(samples[0])
    cols = {k: [v] * len(texts) for k, v in row.items() if k != "prompt"}
    comps = [[{"role": "assistant", "content": t}] for t in texts]
    assert get_adapter("trl").hook_scores(row, texts) == pytest.approx(
        hooks.trl_reward(prompts=[row["prompt"]] * len(texts), completions=comps, **cols))
