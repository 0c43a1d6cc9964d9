"""Run machinery and the TRL adapter without a backend environment: export format, export cache, smoke recipes,
config mapping, launch commands, metrics normalisation, dry-run, and how a launched backend stops (ok / failed /
interrupted) — the last with a stand-in backend process."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from bridge.backends import get_adapter
from bridge.backends.trl.adapter import normalise_log_row
from bridge.errors import BridgeError
from bridge.groundtruth import GroundTruth
from bridge.recipe import parse_recipe
from bridge.samples import build_samples
from bridge.styles import PromptOptions, get_style


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("BRIDGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def recipe(train_dir: str, **over):
    d = {"name": "t", "model": "tiny:qwen2_5_vl", "data": {"train": train_dir, "style": "gui-r1", "history": 2}}
    for k, v in over.items():
        d[k] = v
    return parse_recipe(d)


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_trl_export_is_typed_blocks_images_and_ground_truth(synth_dataset, tmp_path, method):
    style = get_style("gui-r1", PromptOptions(history=2, prev_image=True))
    samples = list(build_samples(synth_dataset, style))
    res = get_adapter("trl").export(iter(samples), tmp_path / "x", method, None)
    rows = [json.loads(line) for line in res.files["train"].read_text().splitlines()]
    assert res.samples == len(rows) == len(samples) > 20
    for row, s in zip(rows, samples):
        assert row["id"] == s.id
        assert "<image>" not in json.dumps(row["prompt"])          # TRL fills typed blocks, never text markers
        blocks = [b for m in row["prompt"] for b in m["content"]]
        assert sum(b == {"type": "image"} for b in blocks) == len(row["images"]) == len(s.images)
        assert row["images"] == s.images and all(os.path.isabs(p) and os.path.isfile(p) for p in row["images"])
        # the same text in the same order as the style produced
        assert "".join(b.get("text", "") for b in blocks) == "".join(
            b["text"] for m in s.messages for b in m["content"] if b["type"] == "text")
        assert GroundTruth.from_any(row["ground_truth"]) == s.ground_truth
        if method == "sft":
            assert row["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": s.target}]}]
        else:
            assert "completion" not in row
    assert any(len(r["images"]) == 2 for r in rows)               # previous screenshot, in order
    assert res.meta["frame"] == samples[0].ground_truth.frame.to_dict()


def test_export_cache_reuses_same_content_and_rebuilds_changed(synth_dataset, tmp_path, home):
    from bridge.runs import cached_export

    adapter = get_adapter("trl")
    data = tmp_path / "data"
    shutil.copytree(synth_dataset, data)
    r = recipe(str(data))
    first, key1, cached1 = cached_export(adapter, r, echo=lambda s: None)
    second, key2, cached2 = cached_export(adapter, r, echo=lambda s: None)
    assert (cached1, cached2) == (False, True) and key1 == key2
    assert first.files == second.files and first.files["train"].is_file()
    assert first.out.parent == home / "exports" and not list(first.out.parent.glob("*.build-*"))
    # a different style option is a different export
    _, key3, _ = cached_export(adapter, recipe(str(data), data={"train": str(data), "style": "gui-r1",
                                                                   "history": 0}), echo=lambda s: None)
    assert key3 != key1
    # changed data (one episode fewer) is a different export
    ep = data / "episodes.jsonl"
    ep.write_text("".join(ep.read_text().splitlines(True)[:-1]))
    third, key4, cached4 = cached_export(adapter, r, echo=lambda s: None)
    assert key4 != key1 and not cached4 and third.samples < first.samples


PLUGIN = """from bridge.styles.compact import CompactStyle
from bridge.styles.base import text_block


class Mine(CompactStyle):
    def messages(self, episode, step_index, image_root):
        msgs = super().messages(episode, step_index, image_root)
        msgs[0]["content"][0] = text_block("{prompt} " + episode.instruction)
        return msgs
"""


def test_an_edited_plugin_renderer_is_never_served_the_old_export(synth_dataset, tmp_path, home, monkeypatch):
    """Issue 10 item 7: the key covered data and options but not code, so an edited renderer reused the old prompts;
    a cached export's inner train/export.json named the deleted build folder, so `bridge check` on it failed."""
    from bridge.backends.check import read_manifest
    from bridge.runs import cached_export

    monkeypatch.syspath_prepend(str(tmp_path))
    mod = tmp_path / "my_style_mod.py"
    mod.write_text(PLUGIN.replace("{prompt}", "FIRST"))
    r = recipe(str(synth_dataset), data={"train": str(synth_dataset), "style": "my_style_mod:Mine", "history": 0},
               model="tiny:qwen2_5_vl")
    adapter = get_adapter("trl")
    first, key1, _ = cached_export(adapter, r, echo=lambda s: None)
    assert "FIRST " in first.files["train"].read_text()
    mod.write_text(PLUGIN.replace("{prompt}", "SECOND"))
    monkeypatch.delitem(sys.modules, "my_style_mod")        # a new process would import the edited module
    second, key2, reused = cached_export(adapter, r, echo=lambda s: None)
    assert key2 != key1 and not reused and "SECOND " in second.files["train"].read_text()
    _, key3, reused3 = cached_export(adapter, r, echo=lambda s: None)
    assert key3 == key2 and reused3                          # unchanged code: reused
    said = []
    fresh, _, reused4 = cached_export(adapter, r, echo=said.append, fresh=True)
    assert not reused4 and any("--fresh-export" in s for s in said) and fresh.files["train"].is_file()
    inner = read_manifest(fresh.out / "train")               # what bridge check reads: the final place
    assert all(Path(p).is_file() and fresh.out in Path(p).parents for p in inner.files.values())


def test_an_export_entry_is_complete_or_absent(synth_dataset, tmp_path, home, monkeypatch):
    """Issue 11 item 9: a crash between renaming the export into the cache and writing its export.json broke every
    later run of the recipe (the rename target existed); killed builders' temporaries were never cleaned."""
    import bridge.runs as runs

    adapter, r = get_adapter("trl"), recipe(str(synth_dataset))
    first, _, _ = runs.cached_export(adapter, r, echo=lambda s: None)
    root = first.out
    (root / runs.EXPORT_META).unlink()                  # the state an older version left after such a crash
    stale = root.with_name(root.name + ".build-999999")  # a kill -9'd builder's leftover
    stale.mkdir()
    again, _, reused = runs.cached_export(adapter, r, echo=lambda s: None)
    assert not reused and (root / runs.EXPORT_META).is_file() and not stale.exists()
    # a crash at the last moment (the rename) leaves no entry at all, and the next run builds it
    shutil.rmtree(root)
    real = Path.rename
    with monkeypatch.context() as m, pytest.raises(KeyboardInterrupt):
        m.setattr(Path, "rename", lambda self, target: (_ for _ in ()).throw(KeyboardInterrupt)
                  if Path(target) == root else real(self, target))
        runs.cached_export(adapter, r, echo=lambda s: None)
    assert not root.exists() and not list(root.parent.glob(root.name + ".build-*"))
    third, _, reused3 = runs.cached_export(adapter, r, echo=lambda s: None)
    assert not reused3 and third.files == first.files and third.files["train"].is_file()


def test_export_of_a_non_dataset_is_a_bridge_error(tmp_path, home):
    from bridge.runs import cached_export

    with pytest.raises(BridgeError, match="not a canonical dataset"):
        cached_export(get_adapter("trl"), recipe(str(tmp_path)), echo=lambda s: None)


def test_smoke_recipe_shrinks_everything_but_keeps_the_family():
    from bridge.runs import smoke_recipe
    from bridge.tiny import MAX_PIXELS

    r = parse_recipe({"name": "big", "model": "Qwen/Qwen2.5-VL-7B-Instruct", "method": "grpo",
                      "data": {"train": "/d", "style": "qwen25vl", "max_pixels": 1003520},
                      "train": {"epochs": 3, "per_device_batch": 8, "precision": "bf16",
                                "gradient_checkpointing": True},
                      "grpo": {"num_generations": 8, "rollout": {"engine": "vllm", "tensor_parallel_size": 4}},
                      "distributed": {"nnodes": 2, "nproc_per_node": 8, "deepspeed": "zero3"}})
    s = smoke_recipe(r)
    assert s.model == "tiny:qwen2_5_vl" and s.data.max_pixels == MAX_PIXELS
    assert (s.train.max_steps, s.train.epochs, s.train.per_device_batch, s.train.precision, s.train.device) == \
        (2, None, 1, "fp32", "cpu")   # GRPO: 1 prompt x num_generations completions
    assert (s.grpo.num_generations, s.grpo.rollout.engine, s.distributed.world_size, s.distributed.deepspeed) == \
        (2, "hf", 1, "none")
    assert r.train.epochs == 3        # the original is untouched
    with pytest.raises(BridgeError, match="no tiny model"):
        smoke_recipe(parse_recipe({"name": "x", "model": "llava-hf/llava-1.5-7b-hf",
                                   "data": {"train": "/d", "style": "qwen2vl"}}))


def test_trl_trainer_args_mapping():
    a = get_adapter("trl")
    sft = a.trainer_args(parse_recipe({
        "name": "x", "model": "m", "data": {"train": "/d", "style": "qwen2vl"},
        "train": {"lr": 3e-5, "epochs": 2, "per_device_batch": 4, "grad_accum": 8, "warmup_ratio": 0.1,
                  "precision": "bf16", "gradient_checkpointing": True, "save": {"strategy": "steps", "steps": 50}},
        "backends": {"trl": {"overrides": {"logging_first_step": True, "seed": 7}}}}))
    assert sft["learning_rate"] == 3e-5 and sft["num_train_epochs"] == 2 and "max_steps" not in sft
    assert (sft["per_device_train_batch_size"], sft["gradient_accumulation_steps"]) == (4, 8)
    assert sft["warmup_steps"] == 0.1 and sft["bf16"] is True and sft["fp16"] is False
    assert sft["gradient_checkpointing_kwargs"] == {"use_reentrant": False}
    assert (sft["save_strategy"], sft["save_steps"]) == ("steps", 50)
    assert sft["max_length"] is None and sft["completion_only_loss"] is True
    assert sft["logging_first_step"] is True and sft["seed"] == 7        # overrides win
    grpo = a.trainer_args(parse_recipe({
        "name": "x", "model": "m", "data": {"train": "/d", "style": "gui-r1"}, "method": "grpo",
        "train": {"max_steps": 100},
        "grpo": {"num_generations": 4, "beta": 0.04, "epsilon_high": 0.28, "loss_type": "grpo", "top_p": 0.9,
                 "rollout": {"engine": "vllm", "gpu_memory_utilization": 0.3}}}))
    assert grpo["max_steps"] == 100 and grpo["save_strategy"] == "no"
    assert (grpo["num_generations"], grpo["beta"], grpo["epsilon"], grpo["epsilon_high"]) == (4, 0.04, 0.2, 0.28)
    assert (grpo["loss_type"], grpo["top_p"], grpo["use_vllm"], grpo["vllm_gpu_memory_utilization"]) == \
        ("grpo", 0.9, True, 0.3)
    assert "max_prompt_length" not in grpo and "max_length" not in grpo


def test_trl_command_single_process_and_multi_node(tmp_path, monkeypatch):
    from bridge.backends.base import ExportResult

    a = get_adapter("trl")
    ex = ExportResult(tmp_path, "sft", {"train": tmp_path / "train.jsonl"}, 1)
    one = a.command(recipe("/d"), ex, tmp_path, "/env/bin/python")
    assert one.argv == ["/env/bin/python", "-m", "bridge.backends.trl.launcher", "--config",
                        str(tmp_path / "trl_config.yaml")]
    monkeypatch.setenv("NODE_RANK", "1")
    multi = a.command(recipe("/d", distributed={"nnodes": 2, "nproc_per_node": 8, "master_addr": "10.0.0.1",
                                                "deepspeed": "zero3"},
                             train={"precision": "bf16"}), ex, tmp_path, "/env/bin/python")
    argv = multi.argv
    assert argv[:3] == ["/env/bin/python", "-m", "accelerate.commands.launch"]

    def opt(name):
        return argv[argv.index(name) + 1]

    assert (opt("--num_processes"), opt("--num_machines"), opt("--machine_rank")) == ("16", "2", "1")
    assert (opt("--main_process_ip"), opt("--main_process_port"), opt("--zero_stage")) == ("10.0.0.1", "29500", "3")
    assert opt("--mixed_precision") == "bf16" and "--use_deepspeed" in argv
    assert argv[-4:] == ["--module", "bridge.backends.trl.launcher", "--config", str(tmp_path / "trl_config.yaml")]


def test_trl_log_rows_are_normalised_for_compare(tmp_path):
    row = normalise_log_row({"step": 3, "loss": 0.5, "learning_rate": 1e-5, "grad_norm": 0.2, "reward": 0.7,
                             "rewards/bridge_gui_r1/mean": 0.6, "rewards/bridge_gui_r1/std": 0.1, "kl": 0.01,
                             "step_time": 2.0, "samples": 8, "completions/mean_length": 30})
    assert row == {"step": 3, "loss": 0.5, "lr": 1e-5, "grad_norm": 0.2, "reward": 0.7, "reward/bridge_gui_r1": 0.6,
                   "kl": 0.01, "step_time": 2.0, "samples_per_s": 4.0}
    (tmp_path / "trainer_log.jsonl").write_text(
        '{"step": 1, "loss": 2.0}\n{"step": 2, "train_runtime": 3.0, "train_loss": 2.0}\n')
    assert get_adapter("trl").parse_run(tmp_path).rows == [{"step": 1, "loss": 2.0}]


def test_rendered_config_reads_back_with_recipe_values(synth_dataset, tmp_path, home):
    from bridge.runs import cached_export

    a = get_adapter("trl")
    r = recipe(str(synth_dataset), method="grpo", train={"lr": 1e-5, "max_steps": 3},
               grpo={"rewards": [{"preset": "gui-r1"}, {"name": "gaussian_point", "weight": 0.5}]})
    ex, _, _ = cached_export(a, r, echo=lambda s: None)
    run = tmp_path / "run"
    run.mkdir()
    cfg = yaml.safe_load(a.render_config(r, ex, run)["config"].read_text())
    assert cfg["args"]["learning_rate"] == 1e-5 and isinstance(cfg["args"]["learning_rate"], float)
    assert cfg["rewards"] == [{"preset": "gui-r1", "weight": 1.0}, {"name": "gaussian_point", "weight": 0.5}]
    assert cfg["train_file"] == str(ex.files["train"]) and cfg["output_dir"] == str(run / "output")
    frame = ex.meta["frame"]
    assert cfg["processor"] == {"min_pixels": frame["min_pixels"], "max_pixels": frame["max_pixels"]}
    assert cfg["finetune"]["train"] == {"language_model": True, "vision_tower": False, "projector": False}


def test_dry_run_renders_records_and_prints_the_command(synth_dataset, tmp_path, home):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    rec = tmp_path / "r.yaml"
    rec.write_text(yaml.safe_dump({"name": "dry", "model": str(model),
                                   "data": {"train": str(synth_dataset), "style": "gui-r1"},
                                   "train": {"max_steps": 1}}))
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", "run", str(rec), "--dry-run", "--runs-dir",
                           str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run_dir = next((tmp_path / "runs").iterdir())
    assert run_dir.name.startswith("dry-trl-")
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "dry-run" and record["backend"] == "trl" and record["method"] == "sft"
    assert record["command"][1:3] == ["-m", "bridge.backends.trl.launcher"]
    assert proc.stdout.strip().endswith(str(run_dir / "trl_config.yaml"))
    assert record["backend_config"]["config"]["args"]["max_steps"] == 1
    assert record["effective"]["effective_batch"] == 1 and record["export"]["samples"] > 0
    assert "environment not ready" in record["notes"][0] or record["notes"] == []


# -- launching: a stand-in backend --------------------------------------------------------------------------------

LAUNCH = """
import sys
from pathlib import Path
from bridge import runs
from bridge.backends.base import Adapter, ExportResult, LaunchSpec
from bridge.recipe import parse_recipe

class Stub(Adapter):
    name, methods, packages = "stub", frozenset({"sft"}), ()
    def export(self, samples, out, method, recipe): raise NotImplementedError
    def render_config(self, recipe, export, run_dir): return {}
    def command(self, recipe, export, run_dir, python): raise NotImplementedError

run_dir = Path(sys.argv[1]); run_dir.mkdir()
runs.INTERRUPT_GRACE_S = float(sys.argv[3])
r = parse_recipe({"name": "stub", "model": "m", "data": {"train": "/d", "style": "qwen2vl"}})
spec = LaunchSpec([sys.executable, "-u", "-c", sys.argv[2]])
plan = runs.RunPlan(r, Stub(), run_dir, ExportResult(run_dir, "sft", {}, 0), "k", {}, None, spec,
                    sys.executable, False)
rec = runs.execute(plan, echo=lambda s: None)
print("STATUS", rec["status"], rec["return_code"], flush=True)
"""

CHILD_OK = "print('step 1 loss 1.0')"
CHILD_FAIL = "import sys; print('boom'); sys.exit(3)"
CHILD_POLITE = textwrap.dedent("""
    import signal, sys, time
    def stop(*a):
        print('got sigint, saving', flush=True); sys.exit(130)
    signal.signal(signal.SIGINT, stop)
    print('ready', flush=True)
    time.sleep(60)
""")
CHILD_STUBBORN = textwrap.dedent("""
    import signal, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print('ready', flush=True)
    time.sleep(60)
""")


def launch(tmp_path, child, grace=30.0, interrupt=False):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(run_dir), child, str(grace)],
                            stdout=subprocess.PIPE, text=True)
    t0 = time.time()
    if interrupt:
        for line in proc.stdout:
            if line.strip() == "ready":
                break
        proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out, json.loads((run_dir / "run.json").read_text()), run_dir, time.time() - t0


def test_successful_backend_run_is_recorded(tmp_path):
    rc, out, rec, run_dir, _ = launch(tmp_path, CHILD_OK)
    assert rc == 0 and "STATUS ok 0" in out and "step 1 loss 1.0" in out     # streamed to the terminal
    assert rec["status"] == "ok" and rec["return_code"] == 0 and rec["wall_time_s"] >= 0
    assert (run_dir / "backend.log").read_text() == "step 1 loss 1.0\n"
    assert rec["versions"]["gui-bridge"] and rec["command"][0] == sys.executable


CHILD_STEPS = textwrap.dedent(r"""
    import time
    time.sleep(0.6)                                   # model loading: not a step
    for i in range(1, 6):
        time.sleep(0.2 if i > 1 else 0.5)              # step 1 also warms up
        print(f"  3%|#  | {i}/5 [00:01<00:05]\r" + str({'loss': '1.0', 'epoch': i / 5}), flush=True)
    print(str({'train_runtime': '9.9', 'train_loss': '1.0'}), flush=True)
""")


def test_step_time_is_one_definition_on_bridge_clock(tmp_path):
    """Issue 10 item 14: each backend's step time was its own (TRL with trainer construction, LLaMA-Factory in whole
    seconds, ms-swift a running average); now bridge times the backend's per-step log lines, after the first."""
    from bridge.runs import step_clock

    rc, out, rec, run_dir, _ = launch(tmp_path, CHILD_STEPS)
    clock = rec["step_clock"]
    assert len(clock["times_s"]) == 5 and clock["times_s"][0] >= 1.0     # one per step line, the summary line not
    assert 0.18 <= clock["step_time_s"] <= 0.35                           # 0.2 s steps: loading + warm-up left out
    assert step_clock([2.0, 3.0, 5.0, 7.0], logging_steps=2) == {
        "logging_steps": 2, "skip": 1, "times_s": [2.0, 3.0, 5.0, 7.0], "step_time_s": round(5.0 / 6, 4)}
    assert step_clock([2.0], 1)["step_time_s"] is None


def test_failed_backend_run_is_recorded(tmp_path):
    rc, out, rec, run_dir, _ = launch(tmp_path, CHILD_FAIL)
    assert "STATUS failed 3" in out and rec["status"] == "failed" and rec["return_code"] == 3
    assert "boom" in (run_dir / "backend.log").read_text()


def test_ctrl_c_is_forwarded_and_recorded_as_interrupted(tmp_path):
    rc, out, rec, run_dir, wall = launch(tmp_path, CHILD_POLITE, interrupt=True)
    assert "STATUS interrupted 130" in out and rec["status"] == "interrupted"
    assert "got sigint, saving" in (run_dir / "backend.log").read_text()   # the backend stopped itself cleanly
    assert wall < 30


def test_a_backend_ignoring_ctrl_c_is_terminated_after_the_grace_period(tmp_path):
    rc, out, rec, run_dir, wall = launch(tmp_path, CHILD_STUBBORN, grace=1.0, interrupt=True)
    assert rec["status"] == "interrupted" and rec["return_code"] == -signal.SIGTERM
    assert wall < 20


def test_dataset_digest_follows_where_images_resolve(synth_dataset, tmp_path):
    """Exports hold absolute image paths: the same episodes at another place must not reuse a cached export."""
    import shutil

    from bridge.runs import dataset_digest

    moved = tmp_path / "moved"
    shutil.copytree(synth_dataset, moved)
    assert dataset_digest(synth_dataset) == dataset_digest(synth_dataset)
    assert dataset_digest(moved) != dataset_digest(synth_dataset)


def test_backend_environment_bin_first_on_path(tmp_path):
    """Backends start console scripts by name (LLaMA-Factory's FORCE_TORCHRUN runs `torchrun`): the environment's
    bin folder leads PATH in the launch, and in the printed command."""
    from bridge.backends.base import LaunchSpec
    from bridge.runs import format_command, launch_env, with_bin_dir

    spec = with_bin_dir(LaunchSpec(["/envs/lf/bin/python", "-m", "llamafactory.cli"], env={"A": "1"}),
                        "/envs/lf/bin/python")
    assert spec.bin_dir == "/envs/lf/bin"
    env = launch_env(spec)
    assert env["PATH"].split(os.pathsep)[0] == "/envs/lf/bin" and env["A"] == "1"
    assert format_command(spec).startswith('PATH=/envs/lf/bin:"$PATH" A=1 /envs/lf/bin/python')
    assert with_bin_dir(LaunchSpec(["python"]), "python").bin_dir is None   # a bare name: PATH as it is
