"""bridge.logs on real logs captured from the CPU smoke runs (tests/fixtures/logs/<backend>/; verl's is written by
hand in verl's own format, see its README): normalised rows, read-back settings, tolerance of broken lines."""
import json
import pickle
import shutil
from pathlib import Path

import pytest

from bridge.backends.metrics import finalize, parse_run, resolved_settings
from bridge.backends.logs import hms_seconds, leaf_names, training_args

FIX = Path(__file__).parent / "fixtures" / "logs"
LM_LINEARS = ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]


def test_trl_sft_rows_from_the_launcher_log():
    p = parse_run("trl", FIX / "trl" / "sft")
    assert p.warnings == [] and p.sources == [str(FIX / "trl" / "sft" / "trainer_log.jsonl")]
    a, b = p.rows                                   # the end-of-training summary row is not a step
    assert a["step"] == 1 and a["loss"] == 11.86923885345459 and a["lr"] == 0.0002
    assert a["grad_norm"] == 0.3118058741092682 and a["peak_mem_mb"] == 2396.21484375
    assert a["step_time"] == 6.9043614864349365
    assert a["samples_per_s"] == pytest.approx(2 / 6.9043614864349365)
    assert a["tokens_per_s"] == pytest.approx(1346 / 6.9043614864349365)        # num_tokens is cumulative
    assert b["tokens_per_s"] == pytest.approx((2752 - 1346) / 6.662844896316528)
    assert a["token_acc"] == 0.05714285746216774 and "reward" not in a and "kl" not in a


def trl_log(tmp_path, *rows):
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps({"loss": 1.0, "samples": 8, **r}) + "\n"
                                                        for r in rows))
    return parse_run("trl", tmp_path).rows


def test_trl_token_rate_spans_the_logging_interval(tmp_path):
    """Rows every 5 steps (logging_steps 5): num_tokens grows by 5 steps' tokens between rows while step_time is
    one step's mean time. 8 samples x 66 tokens = 528 tokens a step: 528 / 0.5 s = 1056 tokens/s and 528 / 0.6 s =
    880 tokens/s — i.e. 66 tokens x samples_per_s — not the 5x larger 2640 / 0.5 s."""
    a, b = trl_log(tmp_path, {"step": 5, "num_tokens": 2640.0, "step_time": 0.5},
                   {"step": 10, "num_tokens": 5280.0, "step_time": 0.6})
    assert a["samples_per_s"] == pytest.approx(16.0) and b["samples_per_s"] == pytest.approx(8 / 0.6)
    assert a["tokens_per_s"] == pytest.approx(1056.0) == pytest.approx(66 * a["samples_per_s"])
    assert b["tokens_per_s"] == pytest.approx(880.0) == pytest.approx(66 * b["samples_per_s"])


def test_trl_token_rate_after_a_resume(tmp_path):
    """A resumed run logs step 10 again (from its checkpoint at 5) with the count restarted: that row has no rate
    and is the base of the next one (2640 tokens over 5 steps of 0.5 s)."""
    rows = trl_log(tmp_path, {"step": 5, "num_tokens": 2640.0, "step_time": 0.5},
                   {"step": 10, "num_tokens": 5280.0, "step_time": 0.5},
                   {"step": 10, "num_tokens": 2640.0, "step_time": 0.5},
                   {"step": 15, "num_tokens": 5280.0, "step_time": 0.5})
    assert [r["step"] for r in rows] == [5, 10, 15]
    assert rows[2]["tokens_per_s"] == pytest.approx(1056.0)


def test_trl_grpo_rewards_per_component():
    rows = parse_run("trl", FIX / "trl" / "grpo").rows
    assert [r["step"] for r in rows] == [1, 2]
    r = rows[1]
    assert r["reward"] == 0.7877441644668579 and r["reward_std"] == 0.10723444074392319
    assert r["reward/gui_r1"] == 0.0 and r["reward/gaussian_point"] == 0.0       # "bridge_" prefix removed
    assert r["reward/smoke_aux"] == 0.7877441644668579
    assert r["loss"] == -2.980232238769531e-07 and "kl" not in r                 # beta 0: TRL logs no kl


def test_trl_falls_back_to_the_console(tmp_path):
    shutil.copy(FIX / "trl" / "sft" / "backend.log", tmp_path / "backend.log")
    p = parse_run("trl", tmp_path)
    assert [(r["step"], r["loss"], r["grad_norm"]) for r in p.rows] == [(1, 11.87, 0.3118), (2, 11.87, 0.3024)]
    assert any("console" in w for w in p.warnings)


def test_llamafactory_state_merged_with_its_trainer_log():
    p = parse_run("llamafactory", FIX / "llamafactory")
    assert p.warnings == []
    assert [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in p.rows] == [
        (1, 11.86923885345459, 0.3118058443069458, 0.0002), (2, 11.874496459960938, 0.3023974895477295, 0.0001)]
    # elapsed_time "0:00:03" then "0:00:04": LLaMA-Factory's own clock, 1 s resolution
    assert [r["step_time"] for r in p.rows] == [3.0, 1.0]


def test_swift_logging_jsonl(tmp_path):
    rows = parse_run("swift", FIX / "swift").rows
    assert [(r["step"], r["loss"], r["lr"], r["step_time"]) for r in rows] == [
        (1, 11.87907887, 0.0001, 0.328034), (2, 11.87092686, 0.0, 0.237578)]
    assert rows[0]["token_acc"] == 0.02941176 and "peak_mem_mb" not in rows[0]   # CPU: no memory(GiB)
    # GPU runs add memory(GiB) and GRPO rows add rewards/<Func>/mean (line written by hand in ms-swift's format)
    out = tmp_path / "output"
    out.mkdir()
    (out / "logging.jsonl").write_text(json.dumps(
        {"loss": 0.1, "reward": 0.5, "rewards/bridge_gui_r1/mean": 0.4, "kl": 0.002, "memory(GiB)": 12.5,
         "global_step/max_steps": "7/10", "train_speed(iter/s)": 0.25}) + "\n")
    (r,) = parse_run("swift", tmp_path).rows
    assert r == {"step": 7, "loss": 0.1, "reward": 0.5, "reward/gui_r1": 0.4, "kl": 0.002,
                 "peak_mem_mb": 12800.0, "step_time": 4.0}


def _verl_expect(rows):
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert rows[0] == {"step": 0, "eval/reward": 0.0625, "eval/format": 0.25}    # validation before training
    r = rows[1]
    assert r["loss"] == -0.011355588 and r["reward"] == 0.375 and r["kl"] == 0.000412
    assert r["grad_norm"] == 0.3417 and r["lr"] == 1e-06 and r["step_time"] == 41.52
    assert r["peak_mem_mb"] == pytest.approx(21.874 * 1024)
    assert r["tokens_per_s"] == pytest.approx(8326 / 41.52)
    assert rows[3]["eval/reward"] == 0.1875 and rows[3]["reward"] == 0.5


def test_verl_console_lines_under_ray():
    p = parse_run("verl", FIX / "verl")
    _verl_expect(p.rows)


def test_verl_file_logger():
    _verl_expect(parse_run("verl", FIX / "verl" / "file").rows)


def test_settings_read_back_differ_where_the_backends_differ(tmp_path):
    from conftest import captured_run

    trl = resolved_settings("trl", captured_run(FIX / "trl" / "sft", tmp_path / "trl"))
    lf = resolved_settings("llamafactory", captured_run(FIX / "llamafactory", tmp_path / "lf"))
    sw = resolved_settings("swift", captured_run(FIX / "swift", tmp_path / "swift"))
    assert trl["source"] == lf["source"] == "training_args.bin" and sw["source"] == "args.json"
    for s in (trl, lf, sw):
        assert (s["lr"], s["effective_batch"], s["max_steps"], s["lora_rank"]) == (0.0002, 2, 2, 8)
        assert s["lora_targets"] == LM_LINEARS and s["trains"] == ["language_model"]
        assert s["frozen"] == ["projector", "vision_tower"] and s["trainable_params"] == "0.0164M"
        assert (s["min_pixels"], s["max_pixels"]) == (3136, 12544)
    # what each backend really trained with, read from its own dumps
    assert (trl["adam_beta2"], lf["adam_beta2"], sw["adam_beta2"]) == (0.999, 0.999, 0.95)
    assert (trl["weight_decay"], lf["weight_decay"], sw["weight_decay"]) == (0.0, 0.0, 0.1)
    assert (trl["gradient_checkpointing"], lf["gradient_checkpointing"], sw["gradient_checkpointing"]) == (
        True, False, False)
    grpo = resolved_settings("trl", FIX / "trl" / "grpo")
    assert (grpo["num_generations"], grpo["beta"], grpo["loss_type"], grpo["max_completion_length"]) == (
        2, 0.0, "dapo", 24)
    assert grpo["reward_weights"] == [1.0, 0.5, 1.0] and grpo["rewards"] == ["gui_r1", "gaussian_point", "smoke_aux"]


def test_verl_settings_from_the_hydra_overrides():
    record = {"command": ["python", "-m", "verl.trainer.main_ppo", "actor_rollout_ref.actor.optim.lr=1e-6",
                          "data.train_batch_size=8", "actor_rollout_ref.rollout.n=4",
                          "actor_rollout_ref.model.lora_rank=16", "actor_rollout_ref.model.lora_alpha=32",
                          "actor_rollout_ref.model.target_modules=all-linear",
                          "actor_rollout_ref.actor.use_kl_loss=false", "actor_rollout_ref.actor.kl_loss_coef=0.001",
                          "+data.mm_processor_kwargs.max_pixels=12544", "data.train_files=/x.parquet"]}
    s = resolved_settings("verl", FIX / "verl", record)
    assert s["lr"] == 1e-6 and s["num_generations"] == 4 and s["prompts_per_step"] == 8
    assert s["effective_batch"] == 32 and s["finetune"] == "lora" and s["lora_rank"] == 16
    assert s["lora_targets"] == ["all-linear"] and s["beta"] == 0.0 and s["max_pixels"] == 12544
    assert "train_files" not in str(s)


def test_trl_gpu_memory_wins_over_rss(tmp_path):
    (tmp_path / "trainer_log.jsonl").write_text(json.dumps(
        {"step": 1, "loss": 1.0, "peak_mem_mb": 3000.0, "peak_gpu_mem_mb": 15000.0}) + "\n" + json.dumps(
        {"step": 2, "loss": 0.9, "peak_mem_mb": 3100.0, "peak_gpu_mem_mb": 0.0}) + "\n")
    assert [r["peak_mem_mb"] for r in parse_run("trl", tmp_path).rows] == [15000.0, 3100.0]


def test_broken_lines_are_warnings_not_errors(tmp_path):
    good = json.dumps({"step": 1, "loss": 1.5})
    (tmp_path / "trainer_log.jsonl").write_text(good + "\nnot json\n" + json.dumps({"step": 2, "loss": 1.0})
                                                + '\n{"step": 3, "lo')
    p = parse_run("trl", tmp_path)
    assert [r["loss"] for r in p.rows] == [1.5, 1.0]
    assert p.warnings == [f"{tmp_path / 'trainer_log.jsonl'}:2: not valid JSON; line skipped",
                          f"{tmp_path / 'trainer_log.jsonl'}:4: incomplete last line (the backend was still "
                          "writing it or was stopped)"]
    assert parse_run("nobody", tmp_path).rows == []


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch BOOM",))


def test_training_args_reader_never_executes_the_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "training_args.bin").write_bytes(pickle.dumps(_Boom()))
    assert training_args(tmp_path / "training_args.bin") is None
    assert not (tmp_path / "BOOM").exists()
    args = training_args(FIX / "trl" / "grpo" / "output" / "training_args.bin")
    assert args["_class"] == "GRPOConfig" and args["lr_scheduler_type"] == "cosine" and args["num_generations"] == 2


def test_small_helpers():
    assert [hms_seconds(s) for s in ("0:00:03", "1:02:03", "1 day, 0:00:02", "12s", "3m 2s", "soon")] == [
        3.0, 3723.0, 86402.0, 12.0, 182.0, None]
    swift_regex = r"^(model\.language_model(?=\.).*\.(k_proj|o_proj|q_proj))$"
    assert leaf_names(swift_regex) == ["k_proj", "o_proj", "q_proj"]
    assert leaf_names("q_proj,v_proj") == ["q_proj", "v_proj"]
    assert leaf_names(["model.layers.0.q_proj", "model.layers.1.q_proj"]) == ["q_proj"]
    assert leaf_names("all") == ["all"] and leaf_names(None) is None


def test_finalize_writes_metrics_and_read_back_settings(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIX / "swift", run)
    record = {"backend": "swift", "effective": {"lr": 0.0002, "style": "gui-r1", "lora_targets": "all-linear"}}
    finalize(run, record)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    eff = record["effective"]
    assert eff["style"] == "gui-r1" and eff["lora_targets"] == LM_LINEARS and eff["adam_beta2"] == 0.95


def test_swift_grpo_rewards_and_settings():
    rows = parse_run("swift", FIX / "swift" / "grpo").rows
    assert [r["step"] for r in rows] == [1, 2]
    r = rows[0]
    assert r["reward"] == 0.40687692 and r["reward/smoke_aux"] == 0.40687692 and r["reward/gui_r1"] == 0.0
    assert r["step_time"] == 15.3144025 and r["grad_norm"] == 0.12944472   # ms-swift's own GRPO step_time
    s = resolved_settings("swift", FIX / "swift" / "grpo")
    t = resolved_settings("trl", FIX / "trl" / "grpo")
    assert s["method"] == t["method"] == "grpo" and s["num_generations"] == t["num_generations"] == 2
    assert (s["beta"], s["temperature"], s["max_completion_length"]) == (t["beta"], t["temperature"], 24)
    # same recipe (no loss_type set), different defaults: the diff must show it
    assert (t["loss_type"], s["loss_type"]) == ("dapo", "grpo")
