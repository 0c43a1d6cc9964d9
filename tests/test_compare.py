"""bridge compare on hand-written run records and on the captured backend logs: table values, config diff
(read back from what each backend received), CSV/PNG/HTML outputs, directories of runs, bad input."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from bridge.cli import cli
from bridge.compare import config_diff, load_run, run_dirs

FIX = Path(__file__).parent / "fixtures" / "logs"


def _run(tmp_path, name, backend, losses, effective, rewards=None, record=None):
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"name": "demo", "backend": backend, "method": "sft", "status": "ok",
                                            "wall_time_s": 12.5, "effective": effective, **(record or {})}))
    rows = []
    for i, loss in enumerate(losses, 1):
        row = {"step": i, "loss": loss, "step_time": 0.5 * i, "peak_mem_mb": 800.0 + i}
        if rewards:
            row["reward"] = rewards[i - 1]
            row["reward/gui_r1"] = rewards[i - 1] / 2
        rows.append(json.dumps(row))
    (d / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return d


def test_summary_and_diff(tmp_path):
    a = _run(tmp_path, "a", "trl", [2.0, 1.5], {"lr": 1e-4, "lora_rank": 8, "lora_alpha": 16, "effective_batch": 3},
             rewards=[0.1, 0.3], record={"bench": {"peak_rss_mb": 2048.0},
                                         "eval": {"metrics": {"step_success": 0.25, "type_accuracy": 0.5}}})
    b = _run(tmp_path, "b", "myown", [2.2, 1.9, 1.7], {"lr": 1e-4, "lora_rank": 16, "lora_alpha": 16.0, "kl": None})
    va, vb = load_run(a), load_run(b)
    sa = va.summary()
    assert sa["final_loss"] == 1.5 and sa["final_reward"] == 0.3 and sa["steps"] == 2
    assert sa["step_time_s"] == 0.75 and sa["backend_mem_mb"] == 802.0 and sa["peak_rss_mb"] == 2048.0
    assert sa["samples_per_s"] == 3 / 0.75                      # effective batch / mean step time
    assert (sa["eval_step_success"], sa["eval_type_accuracy"]) == (0.25, 0.5)
    sb = vb.summary()
    assert sb["final_reward"] is None and sb["samples_per_s"] is None and sb["step_time_s"] == 1.0
    assert va.components() == ["reward/gui_r1"]
    diff = {d["key"]: d for d in config_diff([va, vb])}
    assert not diff["lr"]["differs"] and diff["lora_rank"]["differs"] and diff["lora_rank"]["values"] == [8, 16]
    assert not diff["lora_alpha"]["differs"]                    # 16 and 16.0 are the same value
    assert not diff["kl"]["differs"] and diff["kl"]["values"] == [None, None]
    assert not diff["effective_batch"]["differs"]               # unknown on one side is not a difference


def test_settings_are_read_back_from_the_backends_dumps(tmp_path):
    """The captured smoke runs: the recipe said the same thing, the backends' own dumps say what differed."""
    views = []
    from conftest import captured_run

    for backend, src in (("trl", "trl/sft"), ("llamafactory", "llamafactory"), ("swift", "swift")):
        d = captured_run(FIX / src, tmp_path / backend)
        (d / "run.json").write_text(json.dumps({"name": "demo-sft", "backend": backend, "method": "sft",
                                                "effective": {"lr": 0.0002, "lora_targets": "all-linear",
                                                              "style": "gui-r1"}}))
        views.append(load_run(d))
    assert [len(v.metrics) for v in views] == [2, 2, 2]         # no metrics.jsonl: parsed from the logs
    diff = {d["key"]: d for d in config_diff(views)}
    differing = {k for k, d in diff.items() if d["differs"]}
    assert {"adam_beta2", "weight_decay", "precision", "gradient_checkpointing"} <= differing
    assert not {"lr", "lora_rank", "lora_alpha", "lora_targets", "trains", "max_pixels", "style"} & differing
    assert diff["lora_targets"]["values"][0] == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj",
                                                 "v_proj"]
    assert "source" not in diff


def test_cli_outputs(tmp_path):
    a = _run(tmp_path, "a", "trl", [2.0, 1.5], {"lr": 1e-4})
    b = _run(tmp_path, "b", "llamafactory", [2.1, 1.4], {"lr": 2e-4})
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["compare", str(a), str(b), "--csv", str(tmp_path / "m.csv"), "--html", str(out)])
    assert res.exit_code == 0, res.output
    assert "llamafactory" in res.output and "settings that differ" in res.output
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and lines[0].startswith("run,backend,step,")
    page = out.read_text()
    assert "data:image/png;base64," in page and "<tr class='diff'><td>lr</td>" in page
    assert "1 setting(s) differ" in page and "2 logged steps" in page
    img = Image.open(tmp_path / "report.png")
    assert img.size[0] > 800 and len(img.convert("L").getcolors(1 << 16) or []) > 10   # not blank
    js = CliRunner().invoke(cli, ["compare", str(a), "--json"])
    assert json.loads(js.output)["runs"][0]["final_loss"] == 1.5


def test_a_directory_of_runs_expands(tmp_path):
    _run(tmp_path / "bench", "r1", "trl", [1.0], {})
    _run(tmp_path / "bench", "r2", "swift", [2.0], {})
    (tmp_path / "bench" / "notes").mkdir()
    assert [p.name for p in run_dirs([tmp_path / "bench"])] == ["r1", "r2"]
    res = CliRunner().invoke(cli, ["compare", str(tmp_path / "bench"), "--json"])
    assert [r["run"] for r in json.loads(res.output)["runs"]] == ["r1", "r2"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "bridge.cli", "compare", *map(str, args)], capture_output=True,
                          text=True)


def test_bad_input_is_located(tmp_path):
    p = _cli(tmp_path)
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr
    d = _run(tmp_path, "a", "trl", [1.0, 2.0], {})
    (d / "metrics.jsonl").write_text('{"step": 1, "loss": 1.0}\n{"step": 2,\n')
    p = _cli(d)
    assert p.returncode == 2 and f"{d / 'metrics.jsonl'}:2: not valid JSON" in p.stderr and "Traceback" not in p.stderr
    (d / "run.json").write_text("[1, 2]")
    p = _cli(d)
    assert p.returncode == 2 and "not a JSON object" in p.stderr
