"""VLM-R1 adapter and launcher. The JSONL against VLM-R1's reading rules (first human/gpt pair, `<image>` removed,
images relative to one folder and prepended, no system prompt); the launcher's registration of bridge rewards into
`reward_funcs_registry` against a stand-in checkout with the same module shape (tests/fixtures/vlmr1), run for real
under torch.distributed.run; the command, argument mapping and recipe rules."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.backends import get_adapter
from bridge.backends.verl import adapter as verl_mod
from bridge.backends.vlmr1.adapter import cli_args
from bridge.errors import BridgeError
from bridge.groundtruth import GroundTruth
from bridge.recipe import parse_recipe
from bridge.rewards.spec import build_scorer
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style

ADAPTER = get_adapter("vlmr1")
FAKE_ROOT = Path(__file__).parent / "fixtures" / "vlmr1"
SPEC = [{"name": "format", "weight": 0.5}, {"name": "action_match", "weight": 1.0}]
TEMPLATE_TAIL = (" First output the thinking process in <think> </think> tags and then output the final answer in "
                 "<answer> </answer> tags.")


def samples_of(dataset, style="qwen2vl", **opts):
    return list(build_samples(dataset, get_style(style, PromptOptions(**{"history": 2, **opts}))))


def recipe_of(train_dir, model="/models/Qwen2-VL-2B-Instruct", **over):
    d = {"name": "r1", "model": model, "data": {"train": str(train_dir), "style": "qwen2vl", "history": 2},
         "method": "grpo", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
         "train": {"lr": 1e-5, "max_steps": 3, "per_device_batch": 2},
         "grpo": {"num_generations": 2, "beta": 0.04, "epsilon_high": 0.28, "rewards": SPEC},
         "backends": {"vlmr1": {"root": str(FAKE_ROOT)}}}
    for k, v in over.items():
        d[k] = {**d[k], **v} if isinstance(v, dict) and isinstance(d.get(k), dict) else v
    return parse_recipe(d)


# ---------------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------------

def test_jsonl_follows_vlmr1_reading_rules(synth_dataset, tmp_path):
    samples = samples_of(synth_dataset, prev_image=True)
    res = ADAPTER.export(iter(samples), tmp_path / "x", "grpo", None)
    rows = [json.loads(x) for x in res.files["train"].read_text().splitlines()]
    folder = res.meta["image_folder"]
    assert folder == str(synth_dataset.resolve() / "images") and res.samples == len(rows) == len(samples) > 20
    for row, s in zip(rows, samples):
        assert set(row) == {"id", "image", "conversations", "ground_truth"} and row["id"] == s.id
        assert [os.path.join(folder, p) for p in row["image"]] == s.images
        assert all(not os.path.isabs(p) for p in row["image"])
        human, gpt = row["conversations"]
        assert human["from"] == "human" and gpt == {"from": "gpt", "value": s.target}
        # what VLM-R1 keeps after deleting the markers is the prompt text of every other backend
        assert human["value"].count("<image>") == len(row["image"]) == len(s.images)
        assert human["value"].replace("<image>", "") == s.prompt_text
        # the system prompt is folded in front of the user turn
        system = "".join(b["text"] for b in s.messages[0]["content"] if b["type"] == "text")
        assert s.messages[0]["role"] == "system" and human["value"].startswith(system + "\n")
        assert GroundTruth.from_any(row["ground_truth"]) == s.ground_truth


def test_multi_turn_prompts_and_sft_are_refused(synth_dataset, tmp_path):
    samples = samples_of(synth_dataset, style="uitars")
    assert any(m["role"] == "assistant" for s in samples for m in s.messages)
    with pytest.raises(BridgeError) as e:
        ADAPTER.export(iter(samples), tmp_path / "x", "grpo", None)
    assert e.value.problems and all("one human turn" in p.message for p in e.value.problems)
    assert not (tmp_path / "x").exists()
    with pytest.raises(BridgeError, match="--method grpo"):
        ADAPTER.export(iter(samples_of(synth_dataset)), tmp_path / "y", "sft", None)


# ---------------------------------------------------------------------------------------------------------------
# Arguments, command, rules
# ---------------------------------------------------------------------------------------------------------------

def test_cli_args():
    assert cli_args({"a": 1, "b": True, "c": False, "d": ["x", "y"], "e": None, "f": 0.5}) == \
        ["--a", "1", "--b", "true", "--c", "false", "--d", "x", "y", "--f", "0.5"]


def test_script_args_and_torchrun_command(synth_dataset, tmp_path):
    r = recipe_of(synth_dataset, data={"max_pixels": 50176}, distributed={"nproc_per_node": 4, "deepspeed": "zero3"},
                  backends={"vlmr1": {"root": str(FAKE_ROOT), "overrides": {"attn_implementation": "sdpa"}}})
    export = ADAPTER.export(iter(samples_of(synth_dataset)), tmp_path / "export", "grpo", r)
    run_dir = tmp_path / "run"
    files = ADAPTER.render_config(r, export, run_dir)
    args = json.loads(files["args"].read_text())["args"]
    pairs = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    assert pairs["--model_name_or_path"] == "/models/Qwen2-VL-2B-Instruct"
    assert pairs["--dataset_name"] == "not_used" and pairs["--reward_funcs"] == "bridge"
    assert pairs["--data_file_paths"] == str(export.files["train"])
    assert pairs["--image_folders"] == export.meta["image_folder"]
    assert (pairs["--min_pixels"], pairs["--max_pixels"]) == ("3136", "50176")
    assert (pairs["--num_generations"], pairs["--beta"], pairs["--epsilon_high"]) == ("2", "0.04", "0.28")
    assert (pairs["--use_peft"], pairs["--lora_r"], pairs["--lora_alpha"]) == ("true", "8", "16")
    assert pairs["--freeze_vision_modules"] == "true" and pairs["--remove_unused_columns"] == "false"
    assert pairs["--deepspeed"] == str(FAKE_ROOT / "src/open-r1-multimodal/local_scripts/zero3.json")
    assert pairs["--attn_implementation"] == "sdpa" and pairs["--max_steps"] == "3"
    assert (pairs["--bf16"], pairs["--fp16"]) == ("true", "false")   # the recipe's precision, even rendered on CPU
    assert json.loads(files["rewards"].read_text()) == build_scorer(SPEC).to_list()
    spec = ADAPTER.command(r, export, run_dir, "/env/bin/python")
    argv = spec.argv
    assert argv[:3] == ["/env/bin/python", "-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc_per_node") + 1] == "4" and argv[argv.index("--nnodes") + 1] == "1"
    i = argv.index("bridge.backends.vlmr1.launcher")
    assert argv[i - 1] == "-m" and argv[i + 1:i + 3] == ["--root", str(FAKE_ROOT)]
    assert argv[argv.index("--") + 1:] == args


def test_missing_checkout_is_an_error_with_the_fix(synth_dataset, tmp_path):
    export = ADAPTER.export(iter(samples_of(synth_dataset)[:2]), tmp_path / "e", "grpo", None)
    with pytest.raises(BridgeError) as e:
        ADAPTER.render_config(recipe_of(synth_dataset, backends={"vlmr1": {}}), export, tmp_path / "r")
    assert "backends.vlmr1.root" in e.value.hint
    with pytest.raises(BridgeError, match="not a VLM-R1 checkout"):
        ADAPTER.render_config(recipe_of(synth_dataset, backends={"vlmr1": {"root": str(tmp_path)}}), export,
                              tmp_path / "r")


def test_recipe_rules_name_the_backend(synth_dataset, monkeypatch):
    def problems(**over):
        return {p.field for p in ADAPTER.recipe_problems(recipe_of(synth_dataset, **over))}

    assert problems() == set()
    assert "grpo.temperature" in problems(grpo={"temperature": 0.7})
    assert "grpo.top_p" in problems(grpo={"top_p": 0.9})
    assert "grpo.loss_type" in problems(grpo={"loss_type": "dapo"})
    assert "grpo.max_prompt_length" in problems(grpo={"max_prompt_length": 4096})
    assert "grpo.rollout.engine" in problems(grpo={"rollout": {"engine": "vllm"}})
    assert "finetune.target_modules" in problems(finetune={"target_modules": ["q_proj"]})
    assert "finetune.train.projector" in problems(finetune={"train": {"projector": True}})
    assert "finetune.train" in problems(finetune={"type": "full", "train": {"vision_tower": True}})
    assert problems(finetune={"type": "full", "train": {"vision_tower": True, "projector": True}}) == set()
    r = recipe_of(synth_dataset)
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 0)
    with pytest.raises(BridgeError, match="GPUs.*Nothing was launched"):
        ADAPTER.preflight(r, "python")


# ---------------------------------------------------------------------------------------------------------------
# The launcher against the stand-in checkout
# ---------------------------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def launched(synth_dataset, tmp_path):
    """Export + render, then run the adapter's command (torch.distributed.run, one process) with this interpreter."""
    def run(keep_template: bool = False, n: int = 4):
        r = recipe_of(synth_dataset, model="/models/qwen2-vl-tiny",
                      distributed={"master_port": free_port()})
        samples = samples_of(synth_dataset, prev_image=True)[:n]
        export = ADAPTER.export(iter(samples), tmp_path / "export", "grpo", r)
        run_dir = tmp_path / "run"
        ADAPTER.render_config(r, export, run_dir)
        argv = ADAPTER.command(r, export, run_dir, sys.executable).argv
        if keep_template:
            argv.insert(argv.index("--"), "--keep-question-template")
        completions = {s.id: [s.target, "no idea", s.target.replace("1", "3")] for s in samples}
        (tmp_path / "completions.json").write_text(json.dumps(completions))
        env = {**os.environ, "FAKE_VLMR1_COMPLETIONS": str(tmp_path / "completions.json")}
        proc = subprocess.run(argv, cwd=run_dir, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads((run_dir / "output" / "fake_vlmr1.json").read_text())
        resolved = json.loads((run_dir / "vlmr1_resolved.json").read_text())
        return samples, completions, out, resolved
    return run


def test_launcher_registers_bridge_rewards_and_keeps_the_prompt_text(launched):
    samples, completions, out, resolved = launched()
    assert resolved["registered"] == ["bridge", "bridge_format", "bridge_action_match"]
    assert resolved["registry"] == ["accuracy", "format", "bridge", "bridge_format", "bridge_action_match"]
    assert resolved["reward_funcs"] == ["bridge"] and resolved["question_template_patched"] is True
    scorer = build_scorer(SPEC)
    assert [o["id"] for o in out["samples"]] == [s.id for s in samples]
    for o, s in zip(out["samples"], samples):
        assert o["prompt_text"] == s.prompt_text                  # VLM-R1's problem, template made "{Question}"
        assert o["images"] == s.images and o["n_image_blocks"] == len(s.images)
        assert o["solution"] == f"<answer> {s.target} </answer>"
        want = [scorer(c, s.ground_truth.to_json())["score"] for c in completions[s.id]]
        assert o["rewards"]["bridge"] == pytest.approx(want)
        assert want[0] == 1.5 and want[1] == 0.0                 # the target gets everything, garbage nothing
    args = out["args"]
    assert args["script"]["min_pixels"] == 3136 and args["model"]["use_peft"] is True
    assert args["training"]["num_generations"] == 2 and args["training"]["remove_unused_columns"] is False


def test_launcher_can_keep_vlmr1_question_template(launched):
    samples, _, out, resolved = launched(keep_template=True, n=1)
    assert resolved["question_template_patched"] is False
    assert out["samples"][0]["prompt_text"] == samples[0].prompt_text + TEMPLATE_TAIL


def run_launcher(root, tmp_path, *extra):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    return subprocess.run([sys.executable, "-m", "bridge.backends.vlmr1.launcher", "--root", str(root), "--reward-spec",
                           str(spec), "--", "--model_name_or_path", "qwen", *extra], capture_output=True, text=True,
                          timeout=120)


def test_launcher_errors_are_clear(tmp_path):
    proc = run_launcher(tmp_path, tmp_path)
    assert proc.returncode == 2 and "not a VLM-R1 checkout" in proc.stderr and "Traceback" not in proc.stderr
    shutil.copytree(FAKE_ROOT, tmp_path / "vr")
    script = tmp_path / "vr/src/open-r1-multimodal/src/open_r1/grpo_jsonl.py"
    proc = run_launcher(tmp_path / "vr", tmp_path, "--reward_funcs", "bridge_nope")
    assert proc.returncode == 2 and "unknown reward function(s) ['bridge_nope']" in proc.stderr
    script.write_text(script.read_text().replace("reward_funcs_registry = {", "other_registry = {"))
    proc = run_launcher(tmp_path / "vr", tmp_path)
    assert proc.returncode == 2 and "no dict `reward_funcs_registry`" in proc.stderr
