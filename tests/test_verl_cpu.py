"""verl 0.9.1's own trainer code on the CPU, in the verl environment, and `bridge export` of the checkpoint it saves.

`bridge run --backend verl --dry-run` prepares a real run directory (run.json, Hydra overrides, reward module);
bridge/backends/verl/cpu_stages.py then runs, with verl's CPU platform (bridge/backends/verl/cpu_platform.py) in
one gloo process, two GRPO steps of everything that needs no rollout engine: ActorRolloutRefWorker init with the
FSDP2 LoRA engine, the agent loop (completions given, generation replaced), the reward manager with our hook, actor
and reference log-probs, compute_advantage, the actor update, then verl's checkpoint manager. `bridge export` finds
that global_step_2/actor, merges the shards with verl's model merger and the LoRA into the base. Where main_ppo
itself stops on CPU (the rollout): docs/backends.md, "verl on CPU"."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bridge import envs
from bridge.backends import get_adapter
from bridge.backends.testing import backend_python
from bridge.cli import main as cli_main
from bridge.recipe import parse_recipe
from bridge.rewards.spec import build_scorer
from bridge.runs import prepare

pytestmark = [pytest.mark.backend("verl"), pytest.mark.slow]

ADAPTER = get_adapter("verl")
SPEC = [{"name": "format", "weight": 0.25}, {"name": "action_match", "weight": 0.75}]
GARBAGE = "I will tap somewhere."
STEP = 2


@pytest.fixture(scope="module")
def verl_python() -> str:
    return backend_python("verl")


@pytest.fixture(scope="module")
def staged(verl_python, synth_dataset, tiny_models, tmp_path_factory):
    """A prepared verl run (LoRA on the tiny Qwen2.5-VL) and the report of verl's stages on it."""
    root = tmp_path_factory.mktemp("verl-cpu")
    recipe = parse_recipe({
        "name": "verl-cpu", "model": str(tiny_models("qwen2_5_vl")),
        "data": {"train": str(synth_dataset), "style": "qwen25vl", "history": 0, "max_pixels": 12544},
        "method": "grpo", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
        # a large lr so that two steps move the LoRA well beyond bfloat16 rounding (verl's merger writes bf16)
        "train": {"max_steps": STEP, "per_device_batch": 2, "lr": 0.05, "save": {"strategy": "end"}},
        "grpo": {"num_generations": 2, "beta": 0.01, "max_completion_length": 96, "rewards": SPEC,
                 "rollout": {"engine": "vllm", "tensor_parallel_size": 1}},
        "distributed": {"nproc_per_node": 1}})
    mp = pytest.MonkeyPatch()
    mp.setenv("BRIDGE_HOME", str(root / "home"))
    envs.use_this_checkout()          # the verl env runs this checkout's bridge (cpu_platform, cpu_stages)
    try:
        plan = prepare(recipe, "verl", root / "runs", dry_run=True, echo=lambda s: None)
    finally:
        mp.undo()
    record = json.loads((plan.run_dir / "run.json").read_text(encoding="utf-8"))
    rows = ADAPTER.read_export(plan.export)
    first = list(rows.values())[:2 * STEP]           # train_batch_size (2) prompts per step
    req = {"overrides": ADAPTER.overrides(plan.run_dir), "out": record["output_dir"],
           "completions": [[r["row"]["extra_info"]["target"], GARBAGE] for r in first]}
    path = root / "stages.json"
    path.write_text(json.dumps(req), encoding="utf-8")
    proc = subprocess.run([verl_python, "-m", "bridge.backends.verl.cpu_stages", str(path)], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BRIDGE_STAGES ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    return plan, record, first, json.loads(lines[-1][len("BRIDGE_STAGES "):])


def test_verl_stages_run_on_cpu(staged):
    _, _, _, rep = staged
    step = ["agent_loop_and_reward_manager", "actor_and_ref_log_probs", "advantage", "update_actor"]
    assert rep["stages"] == ["compose", "worker_init_fsdp_engine", *step * STEP, "save_checkpoint"]
    assert [s["step"] for s in rep["steps"]] == [1, 2]
    # step 1: the LoRA is at its initialisation (B = 0), so the actor IS the reference; step 2 has moved
    assert rep["steps"][0]["log_prob_vs_ref"] == 0.0 and rep["steps"][1]["log_prob_vs_ref"] > 0
    assert all(s["actor/grad_norm"] > 0 and "actor/pg_loss" in s and "actor/kl_loss" in s for s in rep["steps"])
    assert rep["device"] == "cpu" and rep["backend"] == "gloo"
    # LoRA on the language model's linear layers only (exclude_modules '.*visual.*')
    assert rep["lora_params"] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    assert rep["visual_lora"] is False


def test_reward_manager_scores_with_our_hook_and_grpo_advantages(staged):
    _, _, first, rep = staged
    scorer = build_scorer(SPEC)
    by_id = {r["row"]["extra_info"]["id"]: r for r in first}
    for s in rep["samples"]:
        want = scorer(s["completion"], by_id[s["id"]]["ground_truth"])
        assert s["score"] == pytest.approx(want["score"]) and s["extra"] == pytest.approx(want)
    targets = [s for s in rep["samples"] if s["completion"] != GARBAGE]
    garbage = [s for s in rep["samples"] if s["completion"] == GARBAGE]
    assert all(s["score"] == pytest.approx(1.0) for s in targets) and all(s["score"] == 0.0 for s in garbage)
    # a group of two (1, 0): (r - mean) / std with the unbiased std of two = +-1/sqrt(2)
    assert all(s["advantage"] == pytest.approx(0.7071, abs=1e-3) for s in targets)
    assert all(s["advantage"] == pytest.approx(-0.7071, abs=1e-3) for s in garbage)


def test_bridge_export_merges_verls_checkpoint(staged, verl_python, tmp_path, capsys):
    plan, record, _, rep = staged
    actor = Path(record["output_dir"]) / f"global_step_{STEP}" / "actor"
    assert rep["checkpoint"] == str(actor)
    assert {"fsdp_config.json", "model_world_size_1_rank_0.pt", "lora_train_meta.json"} <= set(rep["checkpoint_files"])
    out = tmp_path / "model"
    assert cli_main(["export", str(plan.run_dir), str(out), "--merge-lora", "--json"]) in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert result["merged"] is True and result["kind"] == "lora" and result["verl_merger"] == {"lora_adapter": True}
    assert json.loads((out / "bridge_export.json").read_text())["source"] == str(actor)
    # transformers loads it; the LoRA delta is folded into exactly the adapted language-model layers
    code = """
import json, sys, torch
from safetensors import safe_open
from transformers import AutoModelForImageTextToText, AutoProcessor
out, base, actor = sys.argv[1:]
m = AutoModelForImageTextToText.from_pretrained(out).state_dict()
b = AutoModelForImageTextToText.from_pretrained(base).state_dict()
AutoProcessor.from_pretrained(out)
sd = torch.load(actor + "/model_world_size_1_rank_0.pt", weights_only=False)
full = lambda t: t.full_tensor() if hasattr(t, "full_tensor") else t
lora = {k: full(v).float() for k, v in sd.items() if ".lora_" in k}
scale = 16 / 8                                        # lora_alpha / r of the recipe
layers = {}
for k, a in lora.items():
    if ".lora_A." in k:
        name = k.removeprefix("base_model.model.").split(".lora_A.")[0] + ".weight"
        delta = scale * lora[k.replace(".lora_A.", ".lora_B.")] @ a
        layers[name] = {"delta": delta.abs().max().item(),
                        "err": (m[name].float() - b[name].float() - delta).abs().max().item()}
other = max((m[k].float() - b[k].float()).abs().max().item() for k in b if k not in layers)
print(json.dumps({"keys": sorted(set(m) ^ set(b)), "layers": layers, "other": other}))
"""
    proc = subprocess.run([verl_python, "-c", code, str(out), str(record["recipe"]["model"]), str(actor)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["keys"] == []
    layers = got["layers"]
    assert layers and all("visual" not in k and "language_model" in k for k in layers)
    # every adapted layer of the export = base + (alpha/r) B A, up to bfloat16 rounding; everything else = the base
    assert all(v["delta"] > 0.02 and v["err"] < 4e-3 for v in layers.values()), layers   # bf16: 2^-8 of |w| < 1
    assert got["other"] < 5e-3


def test_bridge_export_keeps_verls_adapter_without_merge(staged, tmp_path, capsys):
    """Without --merge-lora: the adapter verl's merger wrote, aimed at exactly its layers, served on the base."""
    plan, record, _, _ = staged
    out = tmp_path / "adapter"
    assert cli_main(["export", str(plan.run_dir), str(out), "--json"]) in (0, None)
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "lora" and result["merged"] is False
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in out.iterdir()}
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16 and "visual" not in cfg["target_modules"]
    assert "model\\.language_model\\.layers\\.0\\.self_attn\\.q_proj" in cfg["target_modules"]
    assert result["serve"][:3] == ["vllm", "serve", record["recipe"]["model"]] and "--enable-lora" in result["serve"]


def test_bridge_export_without_checkpoint_is_a_clear_error(staged, tmp_path, capsys):
    plan, record, _, _ = staged
    empty = tmp_path / "run"
    empty.mkdir()
    (empty / "run.json").write_text(json.dumps({**record, "output_dir": str(tmp_path / "none")}))
    with pytest.raises(SystemExit) as e:
        cli_main(["export", str(empty), str(tmp_path / "m")])
    assert e.value.code == 2 and "no trained model or adapter" in capsys.readouterr().err
