"""`bridge bench --smoke` over TRL, LLaMA-Factory and ms-swift (every CPU backend in the registry) for real (2 CPU steps each on the tiny model, then
the exported model scored with `bridge eval` on 2 episodes): one report row per backend, non-empty loss curves,
measured memory, eval metrics, the same recipe settings everywhere. A missing backend environment skips with the
command that installs it — or fails under BRIDGE_REQUIRE_BACKENDS=1."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import yaml
from PIL import Image

from bridge import envs
from bridge.backends import available_adapters
from bridge.compare import config_diff, load_run

#: every registered backend `make test` installs that trains SFT on a CPU (the registry's order: TRL first)
BACKENDS = tuple(n for n, a in available_adapters().items() if a.tested and a.caps().cpu and "sft" in a.methods)
pytestmark = [*(pytest.mark.backend(b) for b in BACKENDS), pytest.mark.slow]


@pytest.fixture(scope="module")
def pythons() -> dict[str, str]:
    out, missing = {}, []
    for b in BACKENDS:
        st = envs.status(b)
        if st.state != "ok":
            missing.append(f"the {b} environment is {st.state} ({st.path}); install it with `bridge env install {b}`")
        out[b] = str(st.python)
    if missing:
        if os.environ.get("BRIDGE_REQUIRE_BACKENDS") == "1":
            pytest.fail("; ".join(missing))
        pytest.skip("; ".join(missing))
    return out


def test_bench_smoke_three_backends(tmp_path, synth_dataset, pythons):
    from bridge.synth import make_dataset

    eval_ds = make_dataset(tmp_path / "eval", episodes=2, seed=7, platform="android", split="test")
    recipe = {"name": "bench", "model": "tiny:qwen2_5_vl",
              "data": {"train": str(synth_dataset), "eval": str(eval_ds), "style": "gui-r1", "history": 2},
              "method": "sft", "finetune": {"type": "lora", "rank": 8, "alpha": 16},
              "train": {"lr": 2e-4, "max_steps": 20},
              # interpreters given explicitly: BRIDGE_HOME below is a fresh cache (tiny model, exports)
              "backends": {b: {"python": py} for b, py in pythons.items()}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "bench"
    env = {**os.environ, "BRIDGE_HOME": str(tmp_path / "home")}
    p = subprocess.run([sys.executable, "-m", "bridge.cli", "bench", str(path), "--smoke", "--backends",
                        ",".join(BACKENDS), "--out", str(out)], capture_output=True, text=True, env=env, timeout=1800)
    assert p.returncode == 0, p.stderr[-4000:]
    assert "step 2/2" in p.stderr                                   # progress while it ran
    bench = json.loads((out / "bench.json").read_text())
    rows = bench["runs"]
    assert [r["backend"] for r in rows] == list(BACKENDS) and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["steps"] == 2 and math.isfinite(r["final_loss"]) and r["wall_s"] > 0 and r["step_time_s"] > 0
        assert r["samples_per_s"] > 0
        assert 200 < r["peak_rss_mb"] < 20000                      # the backend's process tree, sampled
        # a 2-step model mostly writes unparsable text; the gui-r1 profile (as GUI-R1's eval_omni) then leaves the
        # hit-less categories out, so the rates may be undefined (None) but never out of range
        for key in ("eval_step_success", "eval_type_accuracy"):
            assert r[key] is None or 0.0 <= r[key] <= 1.0
    views = [load_run(d) for d in sorted(out.iterdir()) if (d / "run.json").is_file()]
    assert sorted(v.backend for v in views) == sorted(BACKENDS)
    for v in views:
        xs, ys = v.series("loss")
        assert xs == [1.0, 2.0] and all(math.isfinite(y) for y in ys)   # a loss curve per backend
        assert v.record["eval"]["counts"]["episodes"] == 2
        assert (v.path / "export" / "model.safetensors").is_file()
    diff = {d["key"]: d for d in config_diff(views)}
    for key in ("lr", "max_steps", "effective_batch", "lora_rank", "lora_targets", "trains", "max_pixels",
                "weight_decay", "adam_beta1", "adam_beta2", "max_grad_norm", "precision", "seed"):
        assert not diff[key]["differs"], (key, diff[key]["values"])   # the same recipe reached every backend
    # the same optimisation: step 1 sees the same weights, data and label mask, so its loss agrees everywhere
    first = {v.backend: v.series("loss")[1][0] for v in views}
    print("step-1 loss:", first)
    assert max(first.values()) - min(first.values()) < 1e-5 * abs(first["trl"]), first
    page = (out / "report.html").read_text()
    assert page.count("<tr>") >= 4 and all(f"<td>{b}</td>" in page for b in BACKENDS)
    assert "data:image/png;base64," in page
    img = Image.open(out / "report.png").convert("L")
    assert len(img.getcolors(1 << 16) or []) > 20
