"""verl 0.9.1's own code on our output, in the verl environment (bridge/backends/verl/check.py run with its
interpreter): Hydra composes our overrides with verl's installed config and main_ppo's validate_config accepts them;
RLHFDataset loads the parquet with the tiny model's processor and drops nothing; the single-turn agent loop (where
0.9.1 tokenises) yields the placeholder and grid counts of the resize policy; the reward manager resolved from
reward.custom_reward_function scores like bridge.rewards. Skipped with the reason when the environment is missing,
except under BRIDGE_REQUIRE_BACKENDS=1 (the README's test command), where a missing environment fails."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge import envs
from bridge.backends import get_adapter
from bridge.backends.check import evaluate, run_check, run_script, script_path, write_manifest, write_request
from bridge.frames import Pixels
from bridge.frames import image_tokens
from bridge.images import image_size
from bridge.recipe import parse_recipe
from bridge.rewards.spec import build_scorer
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style

pytestmark = [pytest.mark.backend("verl"), pytest.mark.slow]

ADAPTER = get_adapter("verl")
MAX_PIXELS = 50176        # not the tiny processor's 12544: the bounds must reach qwen_vl_utils AND the processor
SPEC = [{"name": "format", "weight": 0.25}, {"name": "action_match", "weight": 0.75}]
TRICKY = "it's a\\b ${trainer.nnodes} end\\"
CHECKED = 6               # samples run through the agent loop and the reward manager


@pytest.fixture(scope="module")
def verl_python() -> str:
    st = envs.status("verl")
    if st.state != "ok":
        msg = f"the verl environment is {st.state} ({st.path}); install it with `bridge env install verl`"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return str(st.python)


def make_recipe(synth_dataset, model, **backends):
    return parse_recipe({
        "name": "verl-check", "model": str(model),
        "data": {"train": str(synth_dataset), "style": "qwen2vl", "history": 2, "prev_image": True,
                 "max_pixels": MAX_PIXELS},
        "method": "grpo", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
        "train": {"max_steps": 2, "per_device_batch": 2},
        "grpo": {"num_generations": 2, "beta": 0.01, "rewards": SPEC, "rollout": {"engine": "vllm"}},
        "backends": {"verl": b for b in [backends] if b}})


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, synth_dataset, tiny_model_dir):
    root = tmp_path_factory.mktemp("verl")
    # a value needing every Hydra escape (quote, backslashes, ${) must reach verl's config unchanged
    recipe = make_recipe(synth_dataset, tiny_model_dir, overrides={"trainer.project_name": TRICKY})
    style = get_style("qwen2vl", PromptOptions(history=2, prev_image=True, max_pixels=MAX_PIXELS))
    samples = list(build_samples(synth_dataset, style))
    export = ADAPTER.export(iter(samples), root / "export", "grpo", recipe)
    run_dir = root / "run"
    ADAPTER.render_config(recipe, export, run_dir)
    return recipe, samples, export, run_dir


def completions_for(s) -> list[str]:
    """The target, a near miss (same action type, other place / text) and garbage."""
    near = s.target.replace("1", "7") if any(c.isdigit() for c in s.target) else s.target.replace("a", "e")
    return [s.target, near, "I will tap somewhere."]


@pytest.fixture(scope="module")
def report(prepared, verl_python):
    recipe, samples, export, run_dir = prepared
    completions = {s.id: completions_for(s) for s in samples[:CHECKED]}
    req = write_request(run_dir / "check_request.json", export, {"overrides": run_dir / "verl_overrides.txt"},
                        str(recipe.model), CHECKED, run_dir, extra={"completions": completions})
    return run_script(verl_python, script_path("verl"), req, log=run_dir / "check.log")


def test_compose_and_validate_with_verls_config(report, prepared):
    recipe, _, _, run_dir = prepared
    assert report["errors"] == [], report["errors"]
    assert report["compose"]["ok"] and report["compose"]["overrides"] == len(ADAPTER.overrides(run_dir))
    assert report["validate"].startswith("ok")
    c = report["config"]
    assert c["algorithm.adv_estimator"] == "grpo" and c["trainer.project_name"] == TRICKY
    assert c["reward.custom_reward_function.path"] == str(run_dir / "verl_reward.py")
    assert c["reward.custom_reward_function.name"] == "compute_score" and c["reward.reward_manager.name"] == "naive"
    assert c["actor_rollout_ref.model.lora_rank"] == 8 and c["actor_rollout_ref.model.exclude_modules"] == ".*visual.*"
    assert c["actor_rollout_ref.rollout.name"] == "vllm" and c["actor_rollout_ref.rollout.n"] == 2
    # no flash-attn in the env: verl's own HFModelConfig resolves sdpa, and the flash-only remove-padding is off
    assert c["actor_rollout_ref.model.override_config.attn_implementation"] == "sdpa"
    assert c["hf_config._attn_implementation"] == "sdpa" and c["actor_rollout_ref.model.use_remove_padding"] is False
    assert c["data.mm_processor_kwargs"] == {"min_pixels": 3136, "max_pixels": MAX_PIXELS}
    # the rollout's prompt budget is the data one (an interpolation in verl's YAML) and fits every prompt
    assert c["actor_rollout_ref.rollout.prompt_length"] == c["data.max_prompt_length"]
    assert max(s["input_len"] for s in report["samples"]) <= c["data.max_prompt_length"]
    assert report["versions"]["verl"] == "0.9.1"


def test_rlhf_dataset_loads_every_row(report, prepared):
    _, samples, export, _ = prepared
    assert report["samples_in"] == report["loaded"] == export.samples == len(samples) > 20
    assert report["dropped"] == []
    assert [s["id"] for s in report["samples"]] == [s.id for s in samples[:CHECKED]]


def test_agent_loop_placeholders_and_grids_follow_the_resize_policy(report, prepared):
    _, samples, export, _ = prepared
    for entry, s in zip(report["samples"], samples):
        assert entry["images"] == s.images and entry["placeholders"] == len(s.images)
        want = [image_tokens(h, w, 28, 3136, MAX_PIXELS) for w, h in (image_size(p) for p in s.images)]
        assert entry["image_tokens"] == want
        assert [t * h * w // 4 for t, h, w in entry["grid_thw"]] == want   # 2x2 patches merge into one token
    assert any(len(e["images"]) == 2 for e in report["samples"])            # previous + current screenshot
    # the tiny processor alone would give 10 tokens for a 270x540 phone screenshot; the policy gives 55
    assert image_tokens(540, 270, 28, 3136, MAX_PIXELS) == 55
    assert 55 in [t for e in report["samples"] for t in e["image_tokens"]]
    verdict = evaluate(report, export, Pixels(28, 3136, MAX_PIXELS))
    assert verdict.ok, verdict.mismatches


def test_reward_manager_scores_like_bridge_rewards(report, prepared):
    _, samples, _, _ = prepared
    scorer = build_scorer(SPEC)
    by_id = {s.id: s for s in samples}
    seen = set()
    for entry in report["samples"]:
        s = by_id[entry["id"]]
        assert [r["completion"] for r in entry["rewards"]] == completions_for(s)
        for r in entry["rewards"]:
            assert r["decoded"] == r["completion"]        # what verl's manager decoded is what was generated
            want = scorer(r["completion"], s.ground_truth.to_json())
            assert r["score"] == pytest.approx(want["score"]) and r["extra"] == pytest.approx(want)
            seen.add(round(r["score"], 6))
    assert {1.0, 0.0} <= seen                             # the target scores 1, garbage 0


def test_unknown_key_is_refused_by_hydra(prepared, verl_python, tmp_path):
    recipe, samples, export, _ = prepared
    bad = make_recipe(recipe.data.train, recipe.model, overrides={"actor_rollout_ref.actor.no_such_knob": 1})
    ADAPTER.render_config(bad, export, tmp_path)
    req = write_request(tmp_path / "req.json", export, {"overrides": tmp_path / "verl_overrides.txt"},
                        str(recipe.model), 1, tmp_path)
    rep = run_script(verl_python, script_path("verl"), req, log=tmp_path / "check.log")
    assert rep["compose"]["ok"] is False and "no_such_knob" in rep["compose"]["error"]
    assert rep["errors"] and rep["loaded"] == 0


def test_bridge_check_with_embedded_image_bytes(prepared, verl_python, tiny_model_dir, monkeypatch, tmp_path):
    """`bridge check` on the export (its manifest as bridge convert writes it), with images: bytes — the check's
    render rewrites the paths export into an embedded-bytes parquet, which verl decodes from the row itself."""
    _, samples, export, _ = prepared
    write_manifest(export)
    monkeypatch.setenv("BRIDGE_VERL_IMAGES", "bytes")
    verdict = run_check("verl", export.out, model=str(tiny_model_dir), limit=2, workdir=tmp_path)
    assert verdict.ok, verdict.summary()
    assert verdict.report["loaded"] == export.samples and verdict.report["pixels"]["max_pixels"] == MAX_PIXELS
    assert "<|image_pad|>" in verdict.report["first"]["prompt"]
    first = verdict.report["samples"][0]
    assert first["images"] == [str(tmp_path / "images" / "0_0.img")]            # bytes written out by the check
    assert Path(first["images"][0]).read_bytes() == Path(samples[0].images[0]).read_bytes()
    assert (tmp_path / "train.parquet").is_file()
