"""The compare report in a real browser: headless Chromium (Debian's `chromium` package) renders report.html; the
screenshot shows the table, the highlighted config diff and the inline plots (their pixel colours), and the DOM
holds the expected text. Skipped when chromium is absent, unless BRIDGE_REQUIRE_BACKENDS=1."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from PIL import Image

from bridge.compare import html_report, load_run, plot_png

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MPL_BLUE, MPL_ORANGE = (31, 119, 180), (255, 127, 14)     # matplotlib's first two line colours
DIFF_YELLOW = (255, 233, 168)                              # tr.diff background in the report's CSS


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        msg = "headless Chromium is not installed (Debian: apt-get install -y chromium)"
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def _run(root, name, backend, losses, rewards, effective):
    d = root / name
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"name": "browser", "backend": backend, "method": "grpo", "status": "ok",
                                            "wall_time_s": 30.0, "effective": effective,
                                            "bench": {"peak_rss_mb": 3000.0}}))
    (d / "metrics.jsonl").write_text("".join(json.dumps(
        {"step": i, "loss": l, "reward": r, "reward/gui_r1": r / 2, "grad_norm": 0.3, "step_time": 2.0}) + "\n"
        for i, (l, r) in enumerate(zip(losses, rewards), 1)))
    return d


def _browser(chromium, tmp_path, *args, timeout=120):
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_report_renders_in_chromium(chromium, tmp_path):
    a = _run(tmp_path, "run-trl", "trl", [2.0, 1.6, 1.3, 1.1], [0.1, 0.3, 0.4, 0.6],
             {"lr": 1e-5, "beta": 0.04, "num_generations": 4})
    b = _run(tmp_path, "run-swift", "swift", [2.1, 1.8, 1.5, 1.4], [0.0, 0.2, 0.2, 0.5],
             {"lr": 1e-5, "beta": 0.0, "num_generations": 4})
    views = [load_run(a), load_run(b)]
    report = html_report(views, tmp_path / "report.html", plot_png(views, tmp_path / "report.png"))

    dom = _browser(chromium, tmp_path, "--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "<table id=\"runs\">" in text and "run-trl" in text and "run-swift" in text
    assert "1 setting(s) differ" in text and '<tr class="diff"><td>beta</td>' in text
    assert '<tr class="same"><td>lr</td>' in text
    assert 'id="plots"' in text and "data:image/png;base64," in text

    shot = tmp_path / "shot.png"
    p = _browser(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri())
    assert p.returncode == 0 and shot.is_file(), p.stderr[-2000:]
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1600)
    colors = img.getcolors(1 << 24)
    assert colors is not None and len(colors) > 200                 # text, table rules, plots: not blank

    def count(rgb, tol=12):
        return sum(n for n, c in colors if all(abs(x - y) <= tol for x, y in zip(c, rgb)))

    assert count(MPL_BLUE) > 300 and count(MPL_ORANGE) > 300         # the inline PNG's curves and bars drew
    assert count(DIFF_YELLOW, tol=4) > 2000                          # the differing setting is highlighted
