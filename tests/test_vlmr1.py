"""VLM-R1 adapter, environment and launcher against the real checkout (../shared/vendor/vlm-r1: om-ai-lab/VLM-R1's
src/open-r1-multimodal at 9bd0560; :func:`bridge.backends.testing.vlmr1_checkout`). Host side: the JSONL against
VLM-R1's reading rules, its setup.py pins merged with ours, both checkout layouts, the command, argument mapping and
recipe rules. In the VLM-R1 environment (`bridge env install vlmr1 --checkout PATH`): its own grpo_jsonl.py imported,
bridge rewards registered into its `reward_funcs_registry`, its `main` reading our export, and a 2-step GRPO smoke run
through its VLMGRPOTrainer on CPU."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge import envs, tiny
from bridge.backends import get_adapter
from bridge.backends.testing import backend_python, vlmr1_checkout
from bridge.backends.vlmr1 import adapter as vlmr1_mod
from bridge.backends.vlmr1.adapter import cli_args
from bridge.backends.vlmr1.checkout import merged_requirements, project_dir, setup_requirements
from bridge.errors import BridgeError
from bridge.groundtruth import GroundTruth
from bridge.recipe import parse_recipe
from bridge.rewards.spec import build_scorer
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style

ADAPTER = get_adapter("vlmr1")
CHECKOUT = vlmr1_checkout
ROOT = Path(__file__).resolve().parents[1]
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
         "backends": {"vlmr1": {"root": str(CHECKOUT())}}}
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
                  backends={"vlmr1": {"root": str(CHECKOUT()), "overrides": {"attn_implementation": "sdpa"}}})
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
    assert pairs["--deepspeed"] == str(CHECKOUT() / "local_scripts/zero3.json")
    assert pairs["--torch_dtype"] == "bfloat16" and "--use_cpu" not in pairs
    assert pairs["--attn_implementation"] == "sdpa" and pairs["--max_steps"] == "3"
    assert (pairs["--bf16"], pairs["--fp16"]) == ("true", "false")   # the recipe's precision, even rendered on CPU
    assert json.loads(files["rewards"].read_text()) == build_scorer(SPEC).to_list()
    spec = ADAPTER.command(r, export, run_dir, "/env/bin/python")
    argv = spec.argv
    assert argv[:3] == ["/env/bin/python", "-m", "torch.distributed.run"]
    assert argv[argv.index("--nproc_per_node") + 1] == "4" and argv[argv.index("--nnodes") + 1] == "1"
    i = argv.index("bridge.backends.vlmr1.launcher")
    assert argv[i - 1] == "-m" and argv[i + 1:i + 3] == ["--root", str(CHECKOUT())]
    assert argv[argv.index("--") + 1:] == args


def test_missing_checkout_is_an_error_with_the_fix(synth_dataset, tmp_path, monkeypatch):
    export = ADAPTER.export(iter(samples_of(synth_dataset)[:2]), tmp_path / "e", "grpo", None)
    home = tmp_path / "home"
    monkeypatch.setenv("BRIDGE_HOME", str(home))      # no environment: nothing to fall back on
    with pytest.raises(BridgeError) as e:
        ADAPTER.render_config(recipe_of(synth_dataset, backends={"vlmr1": {}}), export, tmp_path / "r")
    assert "backends.vlmr1.root" in e.value.hint
    with pytest.raises(BridgeError, match="not a VLM-R1 checkout"):
        ADAPTER.render_config(recipe_of(synth_dataset, backends={"vlmr1": {"root": str(tmp_path)}}), export,
                              tmp_path / "r")
    (home / "envs/vlmr1").mkdir(parents=True)         # without a root, the checkout its environment was built from
    (home / "envs/vlmr1" / envs.STAMP).write_text(json.dumps({"checkout": str(CHECKOUT())}))
    assert ADAPTER.root(recipe_of(synth_dataset, backends={"vlmr1": {}})) == CHECKOUT()


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
    assert "model" in problems(model="/models/my-checkpoint")   # VLM-R1 picks its class from the path's name
    monkeypatch.setattr(vlmr1_mod, "gpu_count", lambda: 0)
    ADAPTER.preflight(recipe_of(synth_dataset, train={"device": "cpu"}), "python")   # trains on CPU
    with pytest.raises(BridgeError, match="no GPU.*Nothing was launched"):
        ADAPTER.preflight(recipe_of(synth_dataset, train={"device": "cuda"}), "python")


# ---------------------------------------------------------------------------------------------------------------
# The checkout and its environment (host side: nothing is installed)
# ---------------------------------------------------------------------------------------------------------------

def test_both_checkout_layouts_and_the_setup_py_pins(tmp_path):
    sub = CHECKOUT()                                     # src/open-r1-multimodal on its own
    clone = tmp_path / "VLM-R1"
    (clone / "src").mkdir(parents=True)
    (clone / "src/open-r1-multimodal").symlink_to(sub)  # a full clone's layout around it
    assert project_dir(sub) == project_dir(clone) == sub.resolve()
    pins = setup_requirements(clone)                     # read from setup.py's syntax tree, never executed
    assert {"transformers==4.49.0", "trl==0.17.0", "deepspeed==0.15.4", "bitsandbytes>=0.43.0"} <= set(pins)
    merged = merged_requirements(sub, ADAPTER.requirements_file().read_text())
    assert {"transformers==4.49.0", "trl==0.17.0", "deepspeed==0.15.4", "torch==2.14.1",
            "torchvision==0.29.1"} <= set(merged)
    assert not any(p.startswith(("bitsandbytes", "liger", "hf_transfer", "vllm", "flash")) for p in merged)
    r = recipe_of(tmp_path, backends={"vlmr1": {"root": str(clone)}})
    assert ADAPTER.root(r) == clone


def test_env_install_needs_a_checkout_and_says_so(tmp_path):
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    for extra in ([], ["--checkout", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "bridge.cli", "env", "install", "vlmr1", *extra],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert ("--checkout" if not extra else "not a VLM-R1 checkout") in proc.stderr
    assert not (tmp_path / "home/envs/vlmr1").exists()
    assert envs.install_command("vlmr1") == "bridge env install vlmr1 --checkout /path/to/checkout"


# ---------------------------------------------------------------------------------------------------------------
# VLM-R1's own code, in its environment
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vlmr1_python() -> str:
    return backend_python("vlmr1")


#: run in the VLM-R1 environment: grpo_jsonl.py imported and registered by the launcher, its `main` run with its
#: trainer replaced by a stub that keeps what `main` built, then the registered reward called on VLM-R1's own rows
#: the way its trainer calls reward functions (trainer/grpo_trainer.py:660-667)
PROBE = r'''
import json, sys
from bridge.backends.vlmr1 import launcher as L
root, spec, out, keep, *args = sys.argv[1:]
module = L.load_module(root)
names = L.register(module, L.load_spec(spec))
if keep != "keep":
    L.patch_question_template(module)
seen = {}
class Stub:
    def __init__(self, **kw): seen.update(kw)
    def train(self, **kw): pass
    def save_model(self, *a): pass
module.VLMGRPOTrainer = Stub
sa, ta, ma = L.parse(module, args)
module.main(sa, ta, ma)
rows = []
for ex in seen["train_dataset"]:
    kw = {k: [ex[k]] * 3 for k in ex if k not in ("prompt", "completion")}
    texts = [ex["solution"][len("<answer> "):-len(" </answer>")], "no idea", "click(3, 3)"]
    done = [[{"role": "assistant", "content": t}] for t in texts]
    rows.append({"id": ex["id"], "problem": ex["problem"], "images": ex["image_path"], "prompt": ex["prompt"],
                 "solution": ex["solution"], "texts": texts,
                 "rewards": {n: seen["reward_funcs"][i](prompts=[ex["prompt"]] * 3, completions=done, **kw)
                             for i, n in enumerate(sa.reward_funcs)}})
json.dump({"registered": names, "registry": list(module.reward_funcs_registry), "rows": rows,
           "reward_funcs": list(sa.reward_funcs)}, open(out, "w"))
'''


def probe(vlmr1_python, synth_dataset, tiny_models, tmp_path, keep=False, n=4):
    r = recipe_of(synth_dataset, model=str(tiny_models("qwen2_vl")))
    samples = samples_of(synth_dataset, prev_image=True)[:n]
    export = ADAPTER.export(iter(samples), tmp_path / "export", "grpo", r)
    files = ADAPTER.render_config(r, export, tmp_path / "run")
    args = json.loads(files["args"].read_text())["args"]
    args += ["--reward_funcs", "bridge", "bridge_format", "bridge_action_match"]   # the last one wins
    (tmp_path / "probe.py").write_text(PROBE)
    proc = subprocess.run([vlmr1_python, str(tmp_path / "probe.py"), str(CHECKOUT()), str(files["rewards"]),
                           str(tmp_path / "out.json"), "keep" if keep else "patch", *args],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    return samples, json.loads((tmp_path / "out.json").read_text())


@pytest.mark.backend("vlmr1")
@pytest.mark.slow
def test_its_main_reads_our_export_and_scores_with_bridge_rewards(vlmr1_python, synth_dataset, tiny_models,
                                                                  tmp_path):
    samples, out = probe(vlmr1_python, synth_dataset, tiny_models, tmp_path)
    assert out["registered"] == ["bridge", "bridge_format", "bridge_action_match"]
    assert out["registry"] == ["accuracy", "format", "length", "repetition", "bridge", "bridge_format",
                               "bridge_action_match"]
    scorer = build_scorer(SPEC)
    assert [o["id"] for o in out["rows"]] == [s.id for s in samples]
    for o, s in zip(out["rows"], samples):
        assert o["problem"] == s.prompt_text and o["images"] == s.images     # VLM-R1's reading of our JSONL
        content = o["prompt"][0]["content"]                                  # its images first, then the text
        assert [b["type"] for b in content] == ["image"] * len(s.images) + ["text"]
        assert content[-1]["text"] == s.prompt_text                          # question template made "{Question}"
        assert o["solution"] == f"<answer> {s.target} </answer>"
        for text, got, fmt, act in zip(o["texts"], o["rewards"]["bridge"], o["rewards"]["bridge_format"],
                                       o["rewards"]["bridge_action_match"]):
            want = scorer(text, s.ground_truth.to_json())
            assert (got, fmt, act) == pytest.approx((want["score"], want["format"], want["action_match"]))
        assert o["rewards"]["bridge"][0] == 1.5 and o["rewards"]["bridge"][1] == 0.0


@pytest.mark.backend("vlmr1")
@pytest.mark.slow
def test_its_question_template_can_be_kept(vlmr1_python, synth_dataset, tiny_models, tmp_path):
    samples, out = probe(vlmr1_python, synth_dataset, tiny_models, tmp_path, keep=True, n=1)
    assert out["rows"][0]["prompt"][0]["content"][-1]["text"] == samples[0].prompt_text + TEMPLATE_TAIL


def run_launcher(python, root, tmp_path, *extra):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    return subprocess.run([python, "-m", "bridge.backends.vlmr1.launcher", "--root", str(root), "--reward-spec",
                           str(spec), "--", "--model_name_or_path", "qwen", "--dataset_name", "x", *extra],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.backend("vlmr1")
@pytest.mark.slow
def test_launcher_errors_are_clear(vlmr1_python, tmp_path):
    proc = run_launcher(vlmr1_python, tmp_path, tmp_path)
    assert proc.returncode == 2 and "not a VLM-R1 checkout" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_launcher(vlmr1_python, CHECKOUT(), tmp_path, "--reward_funcs", "bridge_nope")
    assert proc.returncode == 2 and "unknown reward function(s) ['bridge_nope']" in proc.stderr
    shutil.copytree(CHECKOUT(), tmp_path / "vr", copy_function=shutil.copy)   # a modified copy, in tmp only
    script = tmp_path / "vr/src/open_r1/grpo_jsonl.py"
    script.chmod(0o644)
    script.write_text(script.read_text().replace("reward_funcs_registry = {", "other_registry = {"))
    proc = run_launcher(vlmr1_python, tmp_path / "vr", tmp_path)
    assert proc.returncode == 2 and "no dict `reward_funcs_registry`" in proc.stderr


@pytest.mark.backend("vlmr1")
@pytest.mark.slow
def test_grpo_smoke_through_its_trainer_on_cpu(vlmr1_python, synth_dataset, tmp_path):
    """`bridge run --smoke`: the tiny Qwen2.5-VL, 2 GRPO steps of VLMGRPOTrainer in fp32 with sdpa attention."""
    r = {"name": "smoke-grpo", "model": "tiny:qwen2_5_vl",
         "data": {"train": str(synth_dataset), "style": "gui-r1", "history": 2},
         "method": "grpo", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
         "train": {"lr": 1e-4, "max_steps": 50},
         "grpo": {"rewards": [{"preset": "gui-r1"}, {"name": "gaussian_point", "weight": 0.5}]},
         "backends": {"vlmr1": {"python": vlmr1_python, "root": str(CHECKOUT())}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(r))
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(path), "--smoke", "--backend", "vlmr1",
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, env=env, timeout=900)
    run_dir = next((tmp_path / "runs").iterdir())
    log = (run_dir / "backend.log").read_text() if (run_dir / "backend.log").exists() else proc.stdout
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- backend.log ---\n{log[-5000:]}"
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["smoke"] is True and record["backend"] == "vlmr1"
    assert record["versions"]["transformers"] == "4.49.0" and record["versions"]["trl"] == "0.17.0"
    assert record["versions"]["deepspeed"] == "0.15.4" and record["versions"]["flash-attn"] is None
    resolved = record["resolved"]["vlmr1_resolved"]
    assert resolved["torch_dtype"] == "float32" and resolved["attn_implementation"] == "sdpa"
    assert resolved["reward_funcs"] == ["bridge", "smoke_aux"]
    assert record["recipe"]["model"].endswith(tiny.cache_name("qwen2_5_vl"))
    # what it feeds the model unlike the other backends, in the settings `bridge compare` diffs
    assert record["effective"]["top_k"] == 50 and "before the text" in record["effective"]["prompt_images"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in rows] == [1, 2]
    for x in rows:   # the total it trains on and every bridge component, logged on every step
        assert {"reward", "reward/bridge", "reward/gui_r1", "reward/gaussian_point", "reward/smoke_aux"} <= set(x)
        assert x["reward"] == pytest.approx(x["reward/bridge"] + x["reward/smoke_aux"], abs=1e-5)
        assert x["reward/bridge"] == pytest.approx(x["reward/gui_r1"] + 0.5 * x["reward/gaussian_point"], abs=1e-5)
    assert any(x["grad_norm"] > 0 for x in rows)         # the dense auxiliary reward makes gradients flow
    from safetensors import safe_open
    with safe_open(str(run_dir / "output/adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any(".visual." in k for k in keys)   # its LoRA: every Linear outside `visual`
    # bridge export of the VLM-R1 run (issue 12 item 3): the adapter merged in the run's own environment, a plain
    # model transformers 4.49 loads there, with the processor at the trained pixel bounds
    out = tmp_path / "model"
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "export", str(run_dir), str(out), "--merge-lora",
                           "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["kind"] == "lora" and result["merged"] is True
    code = ("import sys, torch; from transformers import AutoModelForImageTextToText, AutoProcessor; "
            "m = AutoModelForImageTextToText.from_pretrained(sys.argv[1], torch_dtype=torch.float32); "
            "p = AutoProcessor.from_pretrained(sys.argv[1]); "
            "print(type(m).__name__, p.image_processor.min_pixels, p.image_processor.max_pixels)")
    proc = subprocess.run([vlmr1_python, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    name, lo, hi = proc.stdout.split()[-3:]
    assert name == "Qwen2_5_VLForConditionalGeneration"
    trained = (record["effective"]["min_pixels"], record["effective"]["max_pixels"])
    assert all(trained) and (int(lo), int(hi)) == (result["min_pixels"], result["max_pixels"]) == trained


@pytest.mark.backend("vlmr1")
def test_vlm_r1_iou_preset_gives_the_verdicts_of_its_own_code(vlmr1_python):
    """The vlm-r1-iou preset against VLM-R1's own format_reward_rec + iou_reward (vlm_modules/qwen_module.py of the
    checkout, imported in its environment) on right, jittered and malformed boxes over four screen sizes: the same
    score for every completion (bench/rewards_bench.py --vs-vlmr1, which also times both)."""
    src = project_dir(CHECKOUT()) / "src"
    proc = subprocess.run([vlmr1_python, str(ROOT / "bench/rewards_bench.py"), "--vs-vlmr1", "--n", "800"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(src)])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    v = json.loads(proc.stdout.strip().splitlines()[-1])
    assert v["same_verdicts"] == v["n"] == 800
