"""bridge compare on hand-written run records: table values, config diff, CSV/PNG/HTML outputs, bad input."""
import json

from click.testing import CliRunner
from PIL import Image

from bridge.cli import cli
from bridge.compare import config_diff, load_run


def _run(tmp_path, name, backend, losses, effective, rewards=None):
    d = tmp_path / name
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"name": "demo", "backend": backend, "method": "sft", "status": "ok",
                                            "wall_time_s": 12.5, "effective": effective}))
    rows = []
    for i, loss in enumerate(losses, 1):
        row = {"step": i, "loss": loss, "step_time": 0.5 * i, "peak_mem_mb": 800.0 + i}
        if rewards:
            row["reward"] = rewards[i - 1]
        rows.append(json.dumps(row))
    (d / "metrics.jsonl").write_text("\n".join(rows) + "\n")
    return d


def test_summary_and_diff(tmp_path):
    a = _run(tmp_path, "a", "trl", [2.0, 1.5], {"lr": 1e-4, "lora_rank": 8}, rewards=[0.1, 0.3])
    b = _run(tmp_path, "b", "swift", [2.2, 1.9, 1.7], {"lr": 1e-4, "lora_rank": 16})
    va, vb = load_run(a), load_run(b)
    sa = va.summary()
    assert sa["final_loss"] == 1.5 and sa["final_reward"] == 0.3 and sa["steps"] == 2
    assert sa["step_time_s"] == 0.75 and sa["peak_mem_mb"] == 801.5
    assert vb.summary()["final_reward"] is None
    diff = {d["key"]: d for d in config_diff([va, vb])}
    assert not diff["lr"]["differs"] and diff["lora_rank"]["differs"] and diff["lora_rank"]["values"] == [8, 16]


def test_cli_outputs(tmp_path):
    a = _run(tmp_path, "a", "trl", [2.0, 1.5], {"lr": 1e-4})
    b = _run(tmp_path, "b", "llamafactory", [2.1, 1.4], {"lr": 2e-4})
    out = tmp_path / "report.html"
    res = CliRunner().invoke(cli, ["compare", str(a), str(b), "--csv", str(tmp_path / "m.csv"), "--html", str(out)])
    assert res.exit_code == 0, res.output
    assert "llamafactory" in res.output and "settings that differ" in res.output
    assert len((tmp_path / "m.csv").read_text().splitlines()) == 1 + 4
    page = out.read_text()
    assert "data:image/png;base64," in page and "class='diff'" in page
    img = Image.open(tmp_path / "report.png")
    assert img.size[0] > 500 and len(img.convert("L").getcolors(1 << 16) or []) > 10  # not blank
    js = CliRunner().invoke(cli, ["compare", str(a), "--json"])
    assert json.loads(js.output)["runs"][0]["final_loss"] == 1.5


def test_not_a_run_dir(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "bridge.cli", "compare", str(tmp_path)], capture_output=True, text=True)
    assert p.returncode == 2 and "not a run directory" in p.stderr and "Traceback" not in p.stderr
