"""The verl adapter without the verl environment: parquet rows, Hydra override values and the rendered override
list, recipe rules, the generated reward module, the Ray multi-node script, GPU preflight and `bridge run` stopping
before launch, metrics parsing. verl's own code on these files is exercised in test_verl_backend.py."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from bridge.backends import get_adapter
from bridge.backends.verl import adapter as verl_mod
from bridge.backends.verl.adapter import hydra_value, merge_overrides, parse_overrides
from bridge.cli import main as cli_main
from bridge.errors import BridgeError
from bridge.frames import image_tokens
from bridge.groundtruth import GroundTruth
from bridge.recipe import parse_recipe
from bridge.rewards import hooks
from bridge.rewards.spec import build_scorer
from bridge.samples import Sample, build_samples
from bridge.styles import PromptOptions, get_style

ADAPTER = get_adapter("verl")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(verl_mod.IMAGES_ENV, raising=False)
    return tmp_path / "home"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A stand-in Qwen2-VL directory: what the adapter reads (family, processor pixel bounds), no weights."""
    d = tmp_path_factory.mktemp("model") / "Qwen2-VL-fake"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    (d / "preprocessor_config.json").write_text(json.dumps({"min_pixels": 3136, "max_pixels": 12544,
                                                            "patch_size": 14, "merge_size": 2}))
    return d


def samples_of(dataset, prev_image=False, style="qwen2vl", **pixels):
    options = PromptOptions(history=2, prev_image=prev_image, **pixels)
    return list(build_samples(dataset, get_style(style, options)))


def grpo_recipe(train_dir: str, model: Path, **over) -> "object":
    d = {"name": "v", "model": str(model), "data": {"train": train_dir, "style": "qwen2vl", "history": 2},
         "method": "grpo", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
         "train": {"lr": 1e-5, "max_steps": 5, "per_device_batch": 2, "grad_accum": 2},
         "grpo": {"num_generations": 4, "beta": 0.01, "epsilon_high": 0.28, "temperature": 0.7, "top_p": 0.9,
                  "loss_type": "dr_grpo", "rewards": [{"name": "format", "weight": 0.2},
                                                      {"name": "action_match", "weight": 0.8}],
                  "rollout": {"engine": "vllm", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.7}},
         "distributed": {"nproc_per_node": 2}}
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **v}
        else:
            d[k] = v
    return parse_recipe(d)


# ---------------------------------------------------------------------------------------------------------------
# Hydra values
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,text", [
    (None, "null"), (True, "true"), (False, "false"), (3, "3"), (1e-05, "1e-05"), (0.2, "0.2"),
    ("grpo", "grpo"), ("all-linear", "all-linear"), ("/abs/x_1/train.parquet", "/abs/x_1/train.parquet"),
    ("true", "'true'"), ("null", "'null'"), ("1abc", "'1abc'"), (".*visual.*", "'.*visual.*'"),
    ("it's a b", "'it\\'s a b'"), ("x=y", "'x=y'"),
    # Hydra quoted strings: backslashes double only before a quote or at the end; ${ is escaped
    ("a\\b", "'a\\b'"), ("end\\", "'end\\\\'"), ("a\\'b", "'a\\\\\\'b'"), ("${x}", "'\\${x}'"),
    ([1, "a b", "/p"], "[1,'a b',/p]"),
    ({"min_pixels": 3136, "max_pixels": 12544}, "{min_pixels:3136,max_pixels:12544}"),
])
def test_hydra_value(value, text):
    assert hydra_value(value) == text


def test_merge_overrides_replaces_in_place_and_appends_new_keys():
    text = "# c\na.b=1\n+c.d=2\ne=3\n"
    out = merge_overrides(text, {"a.b": 5, "c.d": "x y", "+new.key": [1], "images": "bytes"})
    assert parse_overrides(out) == ["a.b=5", "c.d='x y'", "e=3", "+new.key=[1]"]
    assert "images" not in out                    # a bridge-level key, not Hydra's


# ---------------------------------------------------------------------------------------------------------------
# Export
# ---------------------------------------------------------------------------------------------------------------

def test_export_rows_follow_verl_rules(synth_dataset, tmp_path, home):
    samples = samples_of(synth_dataset, prev_image=True)
    res = ADAPTER.export(iter(samples), tmp_path / "x", "grpo", None)
    rows = pq.read_table(res.files["train"]).to_pylist()
    assert res.samples == len(rows) == len(samples) > 20
    assert res.meta["image_mode"] == "paths" and res.meta["backend"] == "verl"
    for i, (row, s) in enumerate(zip(rows, samples)):
        prompt = row["prompt"]
        assert prompt[-1]["role"] == "user" and all(m["role"] != "assistant" for m in prompt)
        text = "".join(m["content"] for m in prompt)
        assert text.count("<image>") == len(row["images"]) == len(s.images) >= 1
        # the prompt text every backend must show: message texts joined by a newline, markers removed
        assert "\n".join(m["content"] for m in prompt).replace("<image>", "") == s.prompt_text
        frame = s.ground_truth.frame
        assert row["images"] == [{"image": p, "min_pixels": frame.min_pixels, "max_pixels": frame.max_pixels}
                                 for p in s.images]
        assert all(os.path.isabs(e["image"]) for e in row["images"])
        assert row["data_source"] == "gui-bridge:qwen2vl" and row["ability"] == "gui"
        assert row["reward_model"] == {"style": "rule", "ground_truth": s.ground_truth.to_json()}
        assert GroundTruth.from_any(row["reward_model"]["ground_truth"]) == s.ground_truth
        assert row["extra_info"] == {"index": i, "split": "train", "id": s.id, "target": s.target,
                                     "reward_spec": None}
    stats = res.meta["prompt_stats"]
    assert stats["max_images"] == 2 and stats["image_sizes"] == [[270, 540], [640, 400]]
    assert stats["max_text_bytes"] == max(sum(len(b["text"].encode()) for m in s.messages for b in m["content"]
                                              if b["type"] == "text") for s in samples)


def test_export_embeds_bytes_by_option(synth_dataset, tmp_path, home, monkeypatch):
    samples = samples_of(synth_dataset)[:3]
    monkeypatch.setenv(verl_mod.IMAGES_ENV, "bytes")
    res = ADAPTER.export(iter(samples), tmp_path / "x", "grpo", None)
    rows = pq.read_table(res.files["train"]).to_pylist()
    assert res.meta["image_mode"] == "bytes"
    for row, s in zip(rows, samples):
        assert [set(e) for e in row["images"]] == [{"bytes", "min_pixels", "max_pixels"}] * len(s.images)
        assert [e["bytes"] for e in row["images"]] == [Path(p).read_bytes() for p in s.images]
    monkeypatch.setenv(verl_mod.IMAGES_ENV, "zip")
    with pytest.raises(BridgeError, match="unknown image mode 'zip'"):
        ADAPTER.export(iter(samples), tmp_path / "y", "grpo", None)


def test_export_refuses_placeholder_text_and_sft(synth_dataset, tmp_path, home):
    s = samples_of(synth_dataset)[0]
    bad = Sample(id=s.id, target=s.target, images=s.images, ground_truth=s.ground_truth,
                 messages=[{"role": "user", "content": [{"type": "image", "image": s.images[0]},
                                                        {"type": "text", "text": "a literal <image> here"}]}])
    with pytest.raises(BridgeError) as e:
        ADAPTER.export(iter([bad]), tmp_path / "x", "grpo", None)
    assert "<image>" in e.value.problems[0].message and e.value.problems[0].record == s.id
    assert not (tmp_path / "x" / "train.parquet").exists()
    with pytest.raises(BridgeError, match="--method grpo"):
        ADAPTER.export(iter([s]), tmp_path / "y", "sft", None)


# ---------------------------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------------------------

def render(tmp_path, recipe, samples):
    export = ADAPTER.export(iter(samples), tmp_path / "export", "grpo", recipe)
    run_dir = tmp_path / "run"
    files = ADAPTER.render_config(recipe, export, run_dir)
    return export, run_dir, files, ADAPTER.overrides(run_dir)


def test_overrides_map_the_recipe(synth_dataset, tmp_path, home, model_dir):
    # The recipe's pixel bounds are the resize policy: export and config agree, so the export is used in place.
    samples = samples_of(synth_dataset, prev_image=True, min_pixels=3136, max_pixels=12544)
    r = grpo_recipe(str(synth_dataset), model_dir, data={"min_pixels": 3136, "max_pixels": 12544},
                    backends={"verl": {"overrides": {
        "trainer.logger": ["console"], "actor_rollout_ref.rollout.enforce_eager": True, "images": "paths"}}})
    export, run_dir, files, lines = render(tmp_path, r, samples)
    assert set(files) == {"overrides", "reward"}
    train = export.files["train"]
    # upper bound of a prompt: text bytes + 2 images x (15 tokens of a 640x400 screenshot at 12544 px + 2) + 64
    assert image_tokens(400, 640, 28, 3136, 12544) == 15 and image_tokens(540, 270, 28, 3136, 12544) == 10
    bound = export.meta["prompt_stats"]["max_text_bytes"] + 2 * (15 + 2) + 64
    expected = [
        "algorithm.adv_estimator=grpo", f"data.train_files=[{train}]", f"data.val_files=[{train}]",
        f"data.max_prompt_length={bound}", "data.max_response_length=256",
        "data.train_batch_size=8",                        # 2 per device x 2 accumulation x 2 GPUs
        "data.filter_overlong_prompts=false", "data.truncation=error", "data.image_patch_size=14",
        "+data.mm_processor_kwargs.min_pixels=3136", "+data.mm_processor_kwargs.max_pixels=12544",
        f"actor_rollout_ref.model.path={model_dir}", "actor_rollout_ref.model.lora_rank=8",
        "actor_rollout_ref.model.lora_alpha=16", "actor_rollout_ref.model.target_modules=all-linear",
        "actor_rollout_ref.model.exclude_modules='.*visual.*'", "actor_rollout_ref.actor.freeze_vision_tower=true",
        "actor_rollout_ref.actor.optim.lr=1e-05", "actor_rollout_ref.actor.optim.lr_scheduler_type=cosine",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",   # prompts (verl multiplies by rollout.n)
            "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8",   # sequences: 2 prompts x 4 generations
        "actor_rollout_ref.actor.use_kl_loss=true", "actor_rollout_ref.actor.kl_loss_coef=0.01",
        "actor_rollout_ref.actor.clip_ratio_low=0.2", "actor_rollout_ref.actor.clip_ratio_high=0.28",
        "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm",   # dr_grpo
        "actor_rollout_ref.rollout.name=vllm", "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=2",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.7", "actor_rollout_ref.rollout.temperature=0.7",
        "actor_rollout_ref.rollout.top_p=0.9", "+actor_rollout_ref.rollout.limit_images=2",
        f"reward.custom_reward_function.path={run_dir / 'verl_reward.py'}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.n_gpus_per_node=2", "trainer.nnodes=1", "trainer.experiment_name=v",
        f"trainer.default_local_dir={run_dir / 'output'}", "trainer.total_training_steps=5",
        "trainer.save_freq=1000000000", "trainer.test_freq=-1", "trainer.val_before_train=false",
        "trainer.logger=[console]",                         # recipe override replaced the rendered value
        "actor_rollout_ref.rollout.enforce_eager=true",     # recipe override appended
    ]
    for line in expected:
        assert line in lines, line
    keys = [verl_mod.override_key(x) for x in lines]
    assert len(keys) == len(set(keys))                      # Hydra refuses two values for one key
    assert not any(k.startswith(("custom_reward_function", "reward_model.reward_manager")) for k in keys)
    assert not any(k == "images" or k.startswith("trainer.total_epochs") for k in keys)
    spec = ADAPTER.command(r, export, run_dir, "/env/bin/python")
    assert spec.argv[:3] == ["/env/bin/python", "-m", "verl.trainer.main_ppo"] and spec.argv[3:] == lines
    assert spec.env["VERL_FILE_LOGGER_PATH"] == str(run_dir / "verl_metrics.jsonl") and "RAY_ADDRESS" not in spec.env


def test_full_finetune_and_epochs(synth_dataset, tmp_path, home, model_dir):
    r = grpo_recipe(str(synth_dataset), model_dir, finetune={"type": "full", "train": {"vision_tower": True,
                                                                                          "projector": True}},
                    train={"max_steps": None, "epochs": 2, "save": {"strategy": "epoch"}},
                    grpo={"loss_type": "grpo", "epsilon_high": None})
    assert ADAPTER.recipe_problems(r) == []
    samples = samples_of(synth_dataset)
    export, run_dir, _, lines = render(tmp_path, r, samples)
    assert "actor_rollout_ref.model.lora_rank=0" in lines and "actor_rollout_ref.model.exclude_modules=null" in lines
    assert "actor_rollout_ref.actor.freeze_vision_tower=false" in lines
    assert "trainer.total_epochs=2" in lines and not any(x.startswith("trainer.total_training_steps") for x in lines)
    assert f"trainer.save_freq={len(samples) // 8}" in lines                # steps per epoch at 8 prompts/step
    assert "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean" in lines   # the recipe default: grpo
    assert "actor_rollout_ref.actor.clip_ratio_high=0.2" in lines
    assert not any("limit_images" in x for x in lines)                      # one image per prompt


def test_recipe_rules_name_the_backend(synth_dataset, model_dir):
    def problems(**over):
        return {(p.field, p.message.split(":")[0]) for p in ADAPTER.recipe_problems(grpo_recipe(
            str(synth_dataset), model_dir, **over))}

    assert problems() == set()
    assert ("finetune.train", "verl") in problems(finetune={"type": "full"})       # ViT cannot be frozen in 0.9.1
    assert ("finetune.train.projector", "verl") in problems(finetune={"train": {"projector": True}})
    assert ("finetune.train.vision_tower", "verl") in problems(finetune={"train": {"vision_tower": True}})
    assert ("train.scheduler", "verl") in problems(train={"scheduler": "linear"})
    assert ("train.epochs", "verl") in problems(train={"max_steps": None, "epochs": 1.5})
    assert ("grpo.rollout.engine", "verl") in problems(grpo={"rollout": {"engine": "hf"}})
    assert ("grpo.loss_type", "verl") in problems(grpo={"loss_type": "cispo"})
    assert ("train.precision", "verl") in problems(train={"precision": "fp32"})
    assert ("finetune.rank", "verl") in problems(finetune={"rank": 1024})
    assert ("backends.verl.overrides.images", "verl") in problems(backends={"verl": {"overrides": {"images": "x"}}})


def test_materialise_rewrites_a_cached_export_for_other_bounds_and_bytes(synth_dataset, tmp_path, home, model_dir):
    samples = samples_of(synth_dataset)[:4]
    export = ADAPTER.export(iter(samples), tmp_path / "export", "grpo", None)      # the style frame's bounds
    r = grpo_recipe(str(synth_dataset), model_dir, data={"max_pixels": 50176},
                    backends={"verl": {"overrides": {"images": "bytes"}}})
    run_dir = tmp_path / "run"
    ADAPTER.render_config(r, export, run_dir)
    lines = ADAPTER.overrides(run_dir)
    assert f"data.train_files=[{run_dir / 'train.parquet'}]" in lines
    assert "+data.mm_processor_kwargs.max_pixels=50176" in lines
    rows = pq.read_table(run_dir / "train.parquet").to_pylist()
    assert [[(e["bytes"], e["min_pixels"], e["max_pixels"]) for e in row["images"]] for row in rows] == \
        [[(Path(p).read_bytes(), 3136, 50176) for p in s.images] for s in samples]
    assert pq.read_table(export.files["train"]).to_pylist()[0]["images"][0]["image"] == samples[0].images[0]


# ---------------------------------------------------------------------------------------------------------------
# Reward module
# ---------------------------------------------------------------------------------------------------------------

def test_generated_reward_module_pins_the_run_spec(synth_dataset, tmp_path, home, model_dir, monkeypatch):
    monkeypatch.setattr(hooks, "_configured", None)      # importing the module configures hooks: undo afterwards
    r = grpo_recipe(str(synth_dataset), model_dir, grpo={"rewards": [{"name": "action_match"}]})
    path = ADAPTER.reward_hook(r, tmp_path)
    mod_spec = importlib.util.spec_from_file_location("verl_reward_under_test", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    assert mod.SPEC == [{"name": "action_match", "weight": 1.0}]
    s = samples_of(synth_dataset)[1]
    gt = s.ground_truth.to_json()
    for text in (s.target, "nonsense", s.target.replace("click", "long_press")):
        # a row's own reward_spec (here: format only) never overrides the run's spec
        got = mod.compute_score(data_source="gui-bridge:qwen2vl", solution_str=text, ground_truth=gt,
                                extra_info={"index": 0, "reward_spec": '[{"name": "format"}]'})
        assert got == build_scorer([{"name": "action_match"}])(text, gt)
    assert mod.compute_score("x", s.target, gt, None)["score"] == 1.0


# ---------------------------------------------------------------------------------------------------------------
# Multi-node, preflight, `bridge run`
# ---------------------------------------------------------------------------------------------------------------

def test_multinode_script_and_ray_address(synth_dataset, tmp_path, home, model_dir):
    r = grpo_recipe(str(synth_dataset), model_dir, distributed={"nnodes": 2, "nproc_per_node": 4,
                                                                "master_addr": "10.0.0.1"},
                    backends={"verl": {"python": "/opt/verl/bin/python"}})
    export, run_dir, files, lines = render(tmp_path, r, samples_of(synth_dataset)[:4])
    script = files["multinode"]
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert "PYTHON=${PYTHON:-/opt/verl/bin/python}" in text and 'RAY_ADDRESS=10.0.0.1:"$PORT"' in text
    # what each role runs, through a stand-in `ray` that prints its arguments
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "python").write_text("#!/bin/sh\necho \"$@\"\n")
    (fake / "ray").write_text("#!/bin/sh\necho \"$@\"\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "BRIDGE_RAY"))}
    env["PYTHON"] = str(fake / "python")

    def run(*args, **extra):
        out = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env={**env, **extra})
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert run("head", "--num-cpus=8") == "start --head --node-ip-address=10.0.0.1 --port=6379 --num-gpus=4 " \
                                          "--num-cpus=8\n"
    token = run_dir / "ray_auth_token"                     # one token for every node (Ray 2.60 token auth)
    assert len(token.read_text()) == 64 and token.stat().st_mode & 0o777 == 0o600
    assert run("worker", BRIDGE_RAY_PORT="7000") == "start --address=10.0.0.1:7000 --num-gpus=4\n"
    assert run("stop", "--force") == "stop --force\n"
    train = run("train", "trainer.total_training_steps=9").split()
    assert train[:2] == ["-m", "verl.trainer.main_ppo"] and train[-1] == "trainer.total_training_steps=9"
    assert train[2:-1] == lines
    assert "trainer.nnodes=2" in lines and "trainer.n_gpus_per_node=4" in lines and "trainer.nnodes=2" in text
    assert "data.train_batch_size=32" in lines                        # 2 x 2 x (2 nodes x 4 GPUs)
    assert ADAPTER.command(r, export, run_dir, "py").env["RAY_ADDRESS"] == "10.0.0.1:6379"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage:" in usage.stderr


def test_hostile_master_addr_is_refused_and_never_executed(synth_dataset, tmp_path, home, model_dir):
    """Issue 11 item 6: `distributed.master_addr` went unquoted into multinode.sh and a `$(...)` in it ran."""
    hostile = "10.0.0.1$(touch PWNED);touch PWNED2"
    with pytest.raises(BridgeError) as e:
        grpo_recipe(str(synth_dataset), model_dir, distributed={"nnodes": 2, "master_addr": hostile})
    assert e.value.problems[0].field == "distributed.master_addr"
    # and should one get past the recipe (a plug-in building recipes in code), the script still quotes it
    r = grpo_recipe(str(synth_dataset), model_dir, distributed={"nnodes": 2, "nproc_per_node": 1})
    r = r.model_copy(update={"distributed": r.distributed.model_copy(update={"master_addr": hostile})})
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text("")
    (fake / "ray").write_text("#!/bin/sh\necho \"$@\"\n")
    (fake / "ray").chmod(0o755)
    _, _, files, _ = render(tmp_path, r, samples_of(synth_dataset)[:4])
    script = files["multinode"]
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    for role in ("head", "worker"):
        out = subprocess.run(["bash", str(script), role], capture_output=True, text=True, cwd=tmp_path,
                             env={**os.environ, "PYTHON": str(fake / "python")})
        assert out.returncode == 0 and hostile in out.stdout, out.stderr       # passed as one literal argument
    assert not list(tmp_path.glob("PWNED*")) and not list(script.parent.glob("PWNED*"))


def test_preflight_needs_enough_gpus(synth_dataset, model_dir, monkeypatch):
    r = grpo_recipe(str(synth_dataset), model_dir)
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 0)
    with pytest.raises(BridgeError, match="verl needs GPUs and this machine has none.*Nothing was launched"):
        ADAPTER.preflight(r, "python")
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 1)
    with pytest.raises(BridgeError, match="asks for 2 GPU"):
        ADAPTER.preflight(r, "python")
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 2)
    assert ADAPTER.preflight(r, "python") is None


def write_recipe(tmp_path, synth_dataset, model_dir) -> Path:
    d = {"name": "vr", "model": str(model_dir), "data": {"train": str(synth_dataset), "style": "qwen2vl"},
         "method": "grpo", "train": {"max_steps": 2},
         "grpo": {"num_generations": 2, "rollout": {"engine": "vllm"}},
         # an existing interpreter: the environment check passes, so the GPU check is what stops the run
         "backends": {"verl": {"python": sys.executable}}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_bridge_run_stops_before_launch_without_gpu(synth_dataset, tmp_path, home, model_dir, monkeypatch, capsys):
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 0)
    path = write_recipe(tmp_path, synth_dataset, model_dir)
    with pytest.raises(SystemExit) as e:
        cli_main(["run", "--backend", "verl", str(path), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "verl needs GPUs and this machine has none" in err and "Nothing was launched" in err
    assert "Traceback" not in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "refused"
    assert not (run_dir / "backend.log").exists()                  # nothing was started


def test_bridge_run_dry_run_prints_the_full_command(synth_dataset, tmp_path, home, model_dir, capsys):
    path = write_recipe(tmp_path, synth_dataset, model_dir)
    cli_main(["run", "--backend", "verl", str(path), "--dry-run", "--runs-dir", str(tmp_path / "runs")])
    run_dir = next((tmp_path / "runs").iterdir())
    cmd = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"{sys.executable} -m verl.trainer.main_ppo algorithm.adv_estimator=grpo" in cmd
    assert f"reward.custom_reward_function.path={run_dir / 'verl_reward.py'}" in cmd
    assert cmd.count("=") >= len(ADAPTER.overrides(run_dir))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "dry-run"


def test_parse_metrics(tmp_path):
    rows = [{"step": 1, "data": {"actor/pg_loss": 0.1, "critic/score/mean": 0.5, "actor/grad_norm": 0.3,
                                 "timing_s/step": 2.0, "actor/kl_loss": 0.01, "other": 1}},
            {"step": 2, "data": {"val-core/gui-bridge:qwen2vl/score/mean@4": 0.7,
                                 "val-aux/gui-bridge:qwen2vl/format/mean@4": 0.9,
                                 "val-aux/gui-bridge:qwen2vl/format/std@4": 0.1}}]
    (tmp_path / "verl_metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert ADAPTER.parse_run(tmp_path).rows == [
        {"step": 1, "loss": 0.1, "reward": 0.5, "grad_norm": 0.3, "step_time": 2.0, "kl": 0.01},
        {"step": 2, "eval/reward": 0.7, "eval/format": 0.9}]
    assert ADAPTER.metrics_log(tmp_path) == tmp_path / "verl_metrics.jsonl"


def test_default_bounds_are_the_style_frames(synth_dataset, tmp_path, home, model_dir):
    """Without recipe bounds verl gets the style frame's (what the export and coordinates assume), not the
    model processor's: the export is used in place and verl resizes like the other backends."""
    frame = get_style("qwen2vl", PromptOptions(history=2)).frame()
    assert frame.max_pixels != 12544  # the tiny processor's own bound: the two policies really differ here
    export, run_dir, files, lines = render(tmp_path, grpo_recipe(str(synth_dataset), model_dir),
                                           samples_of(synth_dataset))
    assert f"+data.mm_processor_kwargs.max_pixels={frame.max_pixels}" in lines
    assert f"data.train_files=[{export.files['train']}]" in lines


@pytest.fixture(scope="session")
def verl_python() -> str:
    from bridge.backends.testing import backend_python

    return backend_python("verl")   # session scope: resolved before `home` points BRIDGE_HOME elsewhere


@pytest.mark.backend("verl")
def test_bridge_run_refuses_an_engine_the_environment_lacks(verl_python, synth_dataset, tmp_path, home, model_dir,
                                                             monkeypatch, capsys):
    """On a GPU machine (the GPU check passed), the verl environment `bridge env install verl` builds has no vLLM:
    the run stops before launching, naming the setting and verl's own pinned extra."""
    python = verl_python
    monkeypatch.setattr(verl_mod, "gpu_count", lambda: 1)
    path = write_recipe(tmp_path, synth_dataset, model_dir)
    path.write_text(path.read_text().replace(sys.executable, python))
    with pytest.raises(SystemExit) as e:
        cli_main(["run", "--backend", "verl", str(path), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err, err
    assert "the verl environment cannot import what the rendered configuration needs" in err
    assert "vllm: asked for by grpo.rollout.engine: vllm (actor_rollout_ref.rollout.name)" in err
    assert f"{python} -m pip install 'verl[vllm]==0.9.1'" in err
    run_dir = next((tmp_path / "runs").iterdir())
    assert json.loads((run_dir / "run.json").read_text())["status"] == "refused"
    assert not (run_dir / "backend.log").exists()


def test_attention_follows_what_the_environment_has(synth_dataset, tmp_path, model_dir, monkeypatch):
    """verl loads the actor with flash_attention_2 unless told otherwise (verl/workers/config/model.py): without
    flash-attn in its environment the config asks for sdpa and drops the flash-only remove-padding path."""
    samples = samples_of(synth_dataset)
    r = grpo_recipe(str(synth_dataset), model_dir, backends={"verl": {"python": sys.executable}})
    monkeypatch.setattr(verl_mod.preflight, "missing", lambda py, mods: list(mods))
    lines = render(tmp_path / "a", r, samples)[3]
    assert "+actor_rollout_ref.model.override_config.attn_implementation=sdpa" in lines
    assert "actor_rollout_ref.model.use_remove_padding=false" in lines
    assert ADAPTER.read_config(render(tmp_path / "c", r, samples)[2], r)["attn_implementation"] == "sdpa"
    assert [q.module for q in ADAPTER.requires(r)] == ["vllm"]
    monkeypatch.setattr(verl_mod.preflight, "missing", lambda py, mods: [])
    lines = render(tmp_path / "b", r, samples)[3]
    assert "+actor_rollout_ref.model.override_config.attn_implementation=flash_attention_2" in lines
    assert "actor_rollout_ref.model.use_remove_padding=true" in lines
    # the recipe's own choice wins, and then flash-attn is a requirement the preflight looks for
    r = grpo_recipe(str(synth_dataset), model_dir, backends={"verl": {"python": sys.executable, "overrides": {
        "+actor_rollout_ref.model.override_config.attn_implementation": "flash_attention_2"}}})
    monkeypatch.setattr(verl_mod.preflight, "missing", lambda py, mods: list(mods))
    assert verl_mod.attention(r) == "flash_attention_2"
    assert [q.module for q in ADAPTER.requires(r)] == ["vllm", "flash_attn"]


def test_lora_dropout_is_refused_by_name_when_asked_for(synth_dataset, model_dir):
    """verl's LoraConfig has no dropout: an explicit one is refused; left unset, run.json says verl's 0."""
    asked = grpo_recipe(str(synth_dataset), model_dir, finetune={"type": "lora", "dropout": 0.1})
    [p] = [p for p in ADAPTER.recipe_problems(asked) if p.field == "finetune.dropout"]
    assert "transformer_impl.py" in p.message and p.found == 0.1
    unset = grpo_recipe(str(synth_dataset), model_dir, finetune={"type": "lora"})
    assert not [p for p in ADAPTER.recipe_problems(unset) if p.field == "finetune.dropout"]
    zero = grpo_recipe(str(synth_dataset), model_dir, finetune={"type": "lora", "dropout": 0.0})
    assert not [p for p in ADAPTER.recipe_problems(zero) if p.field == "finetune.dropout"]
