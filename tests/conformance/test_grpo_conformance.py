"""GRPO conformance across backends: `bridge convert DATASET --backend all --method grpo` writes verl, ms-swift, TRL
and VLM-R1 data from one dataset; for every sample each export carries the same prompt text, images and ground
truth, and each backend's reward hook — called with the argument shapes that trainer uses, on the values read back
from its export — gives the same score for the same completion."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from bridge.backends import get_adapter
from bridge.cli import main as cli_main
from bridge.groundtruth import GroundTruth
from bridge.rewards import hooks
from bridge.rewards.spec import build_scorer
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style

BACKENDS = ("verl", "swift", "trl", "vlmr1")
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


# -- what each backend's data says, read the way the backend reads it -------------------------------------------

def verl_rows(out):
    rows = pq.read_table(export_files(out, "verl")["files"]["train"]).to_pylist()
    return {r["extra_info"]["id"]: {
        "prompt_text": "\n".join(m["content"] for m in r["prompt"]).replace("<image>", ""),
        "images": [e["image"] for e in r["images"]], "ground_truth": r["reward_model"]["ground_truth"], "row": r}
        for r in rows}


def trl_rows(out):
    rows = [json.loads(x) for x in Path(export_files(out, "trl")["files"]["train"]).read_text().splitlines()]
    return {r["id"]: {"prompt_text": "\n".join("".join(b.get("text", "") for b in m["content"]) for m in r["prompt"]),
                      "images": r["images"], "ground_truth": r["ground_truth"], "row": r} for r in rows}


def vlmr1_rows(out):
    meta = export_files(out, "vlmr1")
    rows = [json.loads(x) for x in Path(meta["files"]["train"]).read_text().splitlines()]
    folder = meta["meta"]["image_folder"]
    # VLM-R1 reads conversations[0] and [1] only and deletes every <image>
    return {r["id"]: {"prompt_text": r["conversations"][0]["value"].replace("<image>", ""),
                      "images": [os.path.join(folder, p) for p in r["image"]], "ground_truth": r["ground_truth"],
                      "row": r} for r in rows}


def swift_rows(out):
    rows = [json.loads(x) for x in Path(export_files(out, "swift")["files"]["train"]).read_text().splitlines()]

    def prompt(messages):
        if messages and messages[-1]["role"] == "assistant":   # ms-swift GRPO drops a trailing assistant turn
            messages = messages[:-1]
        return "\n".join(m["content"] for m in messages).replace("<image>", "")

    return {r["id"]: {"prompt_text": prompt(r["messages"]), "images": r["images"], "ground_truth": r["ground_truth"],
                      "row": r} for r in rows}


READERS = {"verl": verl_rows, "trl": trl_rows, "vlmr1": vlmr1_rows, "swift": swift_rows}


def test_convert_all_writes_every_grpo_backend(converted):
    _, out, samples = converted
    written = {p.name for p in out.iterdir() if p.is_dir()}
    assert written == set(BACKENDS)          # LLaMA-Factory has no GRPO
    for b in sorted(written):
        assert export_files(out, b)["samples"] == len(samples)
    assert all(get_adapter(b).methods >= {"grpo"} for b in BACKENDS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_prompt_text_images_and_ground_truth(converted, backend):
    _, out, samples = converted
    rows = READERS[backend](out)
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


def hook_scores(backend: str, r: dict, texts: list[str]) -> list[float]:
    """The backend's hook called as that trainer calls it, with the columns of its own export."""
    n, row = len(texts), r["row"]
    if backend == "verl":     # NaiveRewardManager: one call per completion, keywords, the parquet row's fields
        return [hooks.compute_score(data_source=row["data_source"], solution_str=t,
                                    ground_truth=row["reward_model"]["ground_truth"],
                                    extra_info={**row["extra_info"], "num_turns": 2})["score"] for t in texts]
    if backend == "swift":    # ORM body: completion strings, every extra column repeated per completion
        cols = {k: [v] * n for k, v in row.items()}
        return hooks.swift_reward(texts, **cols)
    if backend == "trl":      # conversational completions; weighted per-component callables as GRPOTrainer sums them
        funcs, weights = hooks.trl_reward_funcs()
        cols = {k: [v] * n for k, v in row.items() if k != "prompt"}
        comps = [[{"role": "assistant", "content": t}] for t in texts]
        per = [f(prompts=[row["prompt"]] * n, completions=comps, **cols) for f in funcs]
        total = [sum(w * p[i] for w, p in zip(weights, per)) for i in range(n)]
        assert total == pytest.approx(hooks.trl_reward(prompts=[row["prompt"]] * n, completions=comps, **cols))
        return total
    # VLM-R1: completions[i][0]["content"], the gpt value wrapped as solution, the other columns as kwargs
    funcs = hooks.vlmr1_reward_funcs()
    human, gpt = row["conversations"]
    cols = {"image_path": [[]] * n, "problem": [human["value"].replace("<image>", "")] * n, "id": [row["id"]] * n,
            "accu_reward_method": ["default"] * n, "ground_truth": [row["ground_truth"]] * n}
    return funcs["bridge"]([[{"role": "assistant", "content": t}] for t in texts],
                           [f"<answer> {gpt['value']} </answer>"] * n, **cols)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_hook_scores_the_same(converted, backend, monkeypatch):
    _, out, samples = converted
    monkeypatch.setattr(hooks, "_configured", None)
    monkeypatch.delenv(hooks.SPEC_ENV, raising=False)
    hooks.configure(SPEC)          # what each generated hook module / launcher does with the run's spec
    scorer = build_scorer(SPEC)
    rows = READERS[backend](out)
    distinct = set()
    for s in samples:
        texts = completions(s)
        want = [scorer(t, s.ground_truth.to_json())["score"] for t in texts]
        assert hook_scores(backend, rows[s.id], texts) == pytest.approx(want), (backend, s.id)
        distinct.update(round(x, 6) for x in want)
    assert len(distinct) >= 4      # the completions really score differently (the comparison can fail)
