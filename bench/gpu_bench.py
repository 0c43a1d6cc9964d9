"""GPU benchmark: TRL SFT, LLaMA-Factory SFT and TRL GRPO through `bridge run` on a randomly initialised model
shaped like Qwen2.5-VL-3B-Instruct (bf16, sdpa), on one GPU. Records s/step, tokens/s and peak GPU memory.

    python bench/gpu_bench.py --work /tmp/gb --out bench/results \
        --path-trl /tmp/site-trl:/tmp/site-common --path-lf /tmp/site-lf:/tmp/site-common
    python bench/gpu_bench.py --dry --work /tmp/gb-dry --out /tmp/gb-dry/out \
        --python-trl ~/.cache/gui-bridge/envs/trl/bin/python --python-lf ~/.cache/gui-bridge/envs/llamafactory/bin/python

What it does, in order (each step bounded by --budget, results written after every run):
1. `bridge synth --platform android` screens (270x540). The recipes set data.min_pixels/max_pixels to
   802816/1003520, so every backend's smart_resize scales each screen to 644x1288 = 1058 image tokens, the grid a
   real 1080x2400 phone screenshot gets under the qwen25vl_sft_lora recipe's 1280-token cap (1272 tokens): the
   model sees a realistic number of image tokens without rewriting any coordinate.
2. The model: Qwen2_5_VLConfig with the published Qwen/Qwen2.5-VL-3B-Instruct config.json values (see
   QWEN25VL_3B below), random weights (torch.manual_seed(0)) initialised on the GPU in bf16 and saved with the
   tiny model's tokenizer and processor (bridge/tiny.py: real special-token ids, vocab_size 151936), processor
   bounds those of the real preprocessor_config.json (3136..12845056). Built by the TRL stack's interpreter.
   --dry builds a toy-size model of the same class instead (CPU rehearsal).
3. One recipe per run (LoRA as recipes/qwen25vl_sft_lora.yaml and recipes/qwen25vl_grpo.yaml, smaller batches and
   max_steps), `backends.<b>.python` naming an interpreter wrapper that puts that backend's packages (carried
   wheels on the GPU machine) and bench/gpu_hook on PYTHONPATH. gui-bridge renders, launches and records as for a
   user; bench/gpu_hook/sitecustomize.py times optimizer steps and reads peak CUDA memory inside the trainer.
4. s/step: median interval between consecutive optimizer-step ends, first step (warm-up) excluded. tokens/step:
   the trainer's own cumulative token counter (TRL `num_tokens`: attention-mask sum of prompt+completion incl.
   image tokens; LLaMA-Factory `total_tokens` with include_num_input_tokens_seen=non_padding, the same count).
   Peak GPU memory: torch.cuda.max_memory_allocated/reserved of the trainer process, and nvidia-smi's maximum
   memory.used during the run (adds the CUDA context).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]   # the gui-bridge checkout whose `bridge` runs (--root overrides)
HOOK = Path(__file__).resolve().parent / "gpu_hook"

#: Qwen/Qwen2.5-VL-3B-Instruct config.json (published on the Hugging Face hub; values read from a public copy of
#: that file), in transformers 5's Qwen2_5_VLConfig layout (rope_scaling -> rope_parameters).
QWEN25VL_3B = {
    "text_config": dict(
        vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=2, hidden_act="silu", max_position_embeddings=128000, rms_norm_eps=1e-6,
        sliding_window=32768, use_sliding_window=False, max_window_layers=70, attention_dropout=0.0,
        tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, initializer_range=0.02,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}),
    "vision_config": dict(
        depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048, hidden_act="silu",
        patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112,
        fullatt_block_indexes=[7, 15, 23, 31], tokens_per_second=2, in_channels=3, initializer_range=0.02),
    "ids": dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
                vision_end_token_id=151653, tie_word_embeddings=True),
    "pixels": (3136, 12845056),
}
#: The same class at toy size for --dry (the tiny model's text/vision sizes, bridge/tiny.py).
TOY = {
    "text_config": dict(QWEN25VL_3B["text_config"], hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2,
                        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}),
    "vision_config": dict(QWEN25VL_3B["vision_config"], depth=2, hidden_size=32, intermediate_size=64, num_heads=2,
                          out_hidden_size=64, fullatt_block_indexes=[1]),
    "ids": QWEN25VL_3B["ids"],
    "pixels": (3136, 12544),
}

RUNS = ("trl-sft", "lf-sft", "trl-grpo")


# -- model --------------------------------------------------------------------------------------------------

def build_model(out: Path, dry: bool) -> dict:
    """Write the random model directory (runs in the TRL stack's interpreter)."""
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig, Qwen2_5_VLConfig

    from bridge.tiny import _add_pixel_keys, build_processor

    shape = TOY if dry else QWEN25VL_3B
    t0 = time.time()
    processor = build_processor("qwen2_5_vl")
    lo, hi = shape["pixels"]
    for p in (processor.image_processor, processor.video_processor):
        p.size = {"shortest_edge": lo, "longest_edge": hi}
    config = Qwen2_5_VLConfig(text_config=shape["text_config"], vision_config=shape["vision_config"], **shape["ids"])
    device = "cuda" if torch.cuda.is_available() and not dry else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(config, dtype=torch.bfloat16 if not dry else torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=151643, eos_token_id=[151645, 151643],
                                               pad_token_id=151643, do_sample=False)
    n = sum(p.numel() for p in model.parameters())
    t1 = time.time()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    processor.image_processor.save_pretrained(out)   # older transformers (LLaMA-Factory's 5.6) read these files
    processor.video_processor.save_pretrained(out)
    _add_pixel_keys(out, lo, hi)
    info = {"params": n, "init_s": round(t1 - t0, 1), "save_s": round(time.time() - t1, 1), "device": device,
            "dtype": str(model.dtype), "class": type(model).__name__}
    (out / "bench_model.json").write_text(json.dumps(info, indent=2))
    return info


# -- recipes ------------------------------------------------------------------------------------------------

def recipes(work: Path, model: Path, data: Path, wrappers: dict, dry: bool, steps: dict) -> dict[str, Path]:
    import yaml

    lo, hi = (3136, 12544) if dry else (802816, 1003520)
    common = {
        "model": str(model),
        "data": {"train": str(data), "history": 2, "min_pixels": lo, "max_pixels": hi},
        "finetune": {"type": "lora", "rank": 16, "alpha": 32, "dropout": 0.05,
                     "train": {"language_model": True, "vision_tower": False, "projector": False},
                     "target_modules": "all-linear"},
        "distributed": {"nnodes": 1, "nproc_per_node": 1},
    }
    train = {"lr": 1.0e-4, "per_device_batch": 2, "grad_accum": 1, "scheduler": "constant", "warmup_ratio": 0.0,
             "precision": "fp32" if dry else "bf16", "device": "cpu" if dry else "cuda",
             "gradient_checkpointing": True, "logging_steps": 1, "save": {"strategy": "no"}, "seed": 0}
    backends = {"trl": {"python": str(wrappers["trl"])},
                "llamafactory": {"python": str(wrappers["lf"]),
                                 "overrides": {"include_num_input_tokens_seen": "non_padding",
                                               "flash_attn": "sdpa"}}}
    sft = {**common, "name": "gpu-sft", "method": "sft", "data": {**common["data"], "style": "qwen25vl"},
           "train": {**train, "max_steps": steps["sft"]}, "backends": backends}
    grpo = {**common, "name": "gpu-grpo", "method": "grpo", "data": {**common["data"], "style": "gui-r1"},
            "finetune": {**common["finetune"], "rank": 64, "alpha": 128},
            "train": {**train, "lr": 1.0e-6, "max_steps": steps["grpo"]},
            "grpo": {"num_generations": 4, "beta": 0.04, "temperature": 1.0, "top_p": 1.0,
                     "max_completion_length": 32 if dry else 128,
                     "rewards": [{"preset": "gui-r1"}], "rollout": {"engine": "hf"}},
            "backends": backends}
    out = {}
    for name, r in (("sft", sft), ("grpo", grpo)):
        p = work / f"{name}.yaml"
        p.write_text(yaml.safe_dump(r, sort_keys=False))
        out[name] = p
    return out


def wrapper(work: Path, name: str, python: str, paths: str) -> Path:
    """An interpreter wrapper: the backend's packages and the hook first on PYTHONPATH, then `exec python`."""
    p = work / f"python-{name}"
    extra = os.pathsep.join([str(HOOK)] + [x for x in paths.split(os.pathsep) if x])
    p.write_text(f'#!/bin/sh\nexport PYTHONPATH="{extra}${{PYTHONPATH:+:$PYTHONPATH}}"\nexec "{python}" "$@"\n')
    p.chmod(0o755)
    return p


# -- measuring ----------------------------------------------------------------------------------------------

class SmiPeak:
    """Maximum of nvidia-smi's memory.used (MiB) while running; None without nvidia-smi."""

    def __init__(self):
        self.peak, self.proc = None, None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                          "-lms", "200"], stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                v = float(line.strip().split(",")[0])
            except ValueError:
                continue
            self.peak = v if self.peak is None else max(self.peak, v)

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
        return self.peak


def bridge(*args: str, timeout: float, log) -> int:
    cmd = [sys.executable, "-m", "bridge.cli", *args]
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    try:
        return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT).returncode
    except subprocess.TimeoutExpired:
        log.write(f"\n[bench] timed out after {timeout:.0f} s\n")
        return 124


def summarise(name: str, run_dir: Path | None, hook_dir: Path, rc: int, wall: float, smi: float | None) -> dict:
    res: dict = {"run": name, "rc": rc, "wall_s": round(wall, 1), "nvidia_smi_peak_mib": smi}
    hooks = [json.loads(p.read_text()) for p in sorted(hook_dir.glob("*.json"))]
    hooks = [h for h in hooks if h.get("step_ends")] or hooks
    if hooks:
        h = max(hooks, key=lambda h: len(h.get("step_ends") or []))
        ends = h.get("step_ends") or []
        dts = [b - a for a, b in zip(ends, ends[1:])]
        res.update(steps=len(ends), step_times_s=[round(x, 3) for x in dts],
                   s_per_step=round(statistics.median(dts), 3) if dts else None,
                   first_step_s=round(ends[0] - h["t0"], 1) if ends else None,
                   max_allocated_mib=round(h.get("max_allocated_mib") or 0) or None,
                   max_reserved_mib=round(h.get("max_reserved_mib") or 0) or None,
                   model=h.get("attn"), gpu=h.get("device"))
    if run_dir is not None:
        rec = json.loads((run_dir / "run.json").read_text())
        res.update(run_dir=str(run_dir), status=rec.get("status"), versions=rec.get("versions"))
        tokens = cumulative_tokens(run_dir)
        if tokens:
            per_step = [b - a for a, b in zip([0.0] + tokens, tokens)]   # tokens of step 1, 2, ...
            res["tokens_per_step"] = per_step
            times = res.get("step_times_s") or []          # steps 2..N (step 1 has no previous end)
            steady = per_step[1:1 + len(times)]
            if steady:
                res["tokens_per_s"] = round(sum(steady) / sum(times[: len(steady)]), 1)
    return res


def cumulative_tokens(run_dir: Path) -> list[float]:
    """The trainer's cumulative token count per logged step (logging_steps 1), from its own log file."""
    for log, key in ((run_dir / "trainer_log.jsonl", "num_tokens"),
                     (run_dir / "output" / "trainer_log.jsonl", "total_tokens")):
        if log.is_file():
            by_step: dict[int, float] = {}
            for line in log.read_text().splitlines():
                r = json.loads(line) if line.strip() else {}
                step = r.get("step", r.get("current_steps"))
                if key in r and "loss" in r and step is not None:   # training rows only, one per step
                    by_step[int(step)] = float(r[key])
            if by_step:
                return [by_step[k] for k in sorted(by_step)]
    return []


def versions_of(python: Path, pkgs: list[str]) -> dict:
    code = ("import json,sys,importlib.metadata as m\nout={}\nfor p in sys.argv[1:]:\n try: out[p]=m.version(p)\n"
            " except Exception: out[p]=None\nprint(json.dumps(out))")
    try:
        return json.loads(subprocess.run([str(python), "-c", code, *pkgs], capture_output=True, text=True,
                                         timeout=120).stdout)
    except Exception as e:  # noqa: BLE001 - a report line, never a failure
        return {"error": str(e)}


def machine() -> dict:
    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "host_python": platform.python_version(),
            "cpus": os.cpu_count()}
    if shutil.which("nvidia-smi"):
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                           capture_output=True, text=True)
        info["gpu"] = q.stdout.strip()
    return info


# -- main ---------------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path, help="where gpu_bench.json/.md and the run logs go")
    ap.add_argument("--dry", action="store_true", help="toy model, CPU, 2 steps each: rehearse the whole path")
    ap.add_argument("--python-trl", default=sys.executable)
    ap.add_argument("--python-lf", default=sys.executable)
    ap.add_argument("--path-trl", default="", help="PYTHONPATH entries for the TRL stack")
    ap.add_argument("--path-lf", default="", help="PYTHONPATH entries for the LLaMA-Factory stack")
    ap.add_argument("--root", type=Path, help="gui-bridge checkout to run (default: the one holding this script)")
    ap.add_argument("--runs", default=",".join(RUNS))
    ap.add_argument("--sft-steps", type=int, default=20)
    ap.add_argument("--grpo-steps", type=int, default=6)
    ap.add_argument("--budget", type=float, default=420, help="seconds for everything; later runs get what is left")
    ap.add_argument("--build-model", type=Path, help=argparse.SUPPRESS)   # internal: run in the TRL stack
    a = ap.parse_args(argv)
    global ROOT
    ROOT = (a.root or ROOT).resolve()
    if a.build_model:
        print(json.dumps(build_model(a.build_model, a.dry)))
        return 0

    t_start = time.time()
    left = lambda: a.budget - (time.time() - t_start)   # noqa: E731
    steps = {"sft": 2 if a.dry else a.sft_steps, "grpo": 2 if a.dry else a.grpo_steps}
    a.work.mkdir(parents=True, exist_ok=True)
    a.out.mkdir(parents=True, exist_ok=True)
    os.environ["BRIDGE_HOME"] = str(a.work / "bridge_home")
    wrappers = {"trl": wrapper(a.work, "trl", a.python_trl, a.path_trl),
                "lf": wrapper(a.work, "lf", a.python_lf, a.path_lf)}
    report: dict = {"machine": machine(), "dry": a.dry, "steps": steps, "runs": [],
                    "stacks": {"trl": versions_of(wrappers["trl"], ["torch", "transformers", "trl", "peft",
                                                                   "accelerate", "datasets", "tokenizers"]),
                               "llamafactory": versions_of(wrappers["lf"], ["torch", "transformers", "llamafactory",
                                                                           "trl", "peft", "accelerate", "datasets",
                                                                           "tokenizers"])}}

    def save():
        report["elapsed_s"] = round(time.time() - t_start, 1)
        (a.out / "gpu_bench.json").write_text(json.dumps(report, indent=2))
        (a.out / "gpu_bench.md").write_text(markdown(report))

    prep = open(a.out / "prep.log", "w")
    data, model = a.work / "data", a.work / "model"
    if not (data / "episodes.jsonl").exists():
        rc = bridge("synth", str(data), "--episodes", "8", "--platform", "android", "--seed", "0", "--overwrite",
                    timeout=120, log=prep)
        if rc:
            report["error"] = f"bridge synth failed ({rc}); see prep.log"
            save()
            return 1
    if not (model / "bench_model.json").exists():
        shutil.rmtree(model, ignore_errors=True)
        cmd = [str(wrappers["trl"]), str(Path(__file__).resolve()), "--work", str(a.work), "--out", str(a.out),
               "--root", str(ROOT), "--build-model", str(model)] + (["--dry"] if a.dry else [])
        t = time.time()
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=prep, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        if p.returncode:
            report["error"] = f"model build failed ({p.returncode}); see prep.log"
            save()
            return 1
        report["model_build"] = {**json.loads(p.stdout.strip().splitlines()[-1]), "wall_s": round(time.time() - t, 1)}
    else:
        report["model_build"] = json.loads((model / "bench_model.json").read_text())
    prep.close()
    paths = recipes(a.work, model, data, wrappers, a.dry, steps)
    save()

    plan = {"trl-sft": ("sft", "trl"), "lf-sft": ("sft", "llamafactory"), "trl-grpo": ("grpo", "trl")}
    todo = [r for r in a.runs.split(",") if r]
    for i, name in enumerate(todo):
        recipe, backend = plan[name]
        budget = left() - 5
        if budget < 30:
            report["runs"].append({"run": name, "skipped": f"budget spent ({left():.0f} s left)"})
            save()
            continue
        # share what is left among the remaining runs, but let a run use more when the others are quick
        cap = max(budget / (len(todo) - i) * 1.5, 60) if i < len(todo) - 1 else budget
        cap = min(cap, budget)
        hook_dir = a.work / "hook" / name
        shutil.rmtree(hook_dir, ignore_errors=True)
        hook_dir.mkdir(parents=True)
        os.environ["BENCH_HOOK_OUT"] = str(hook_dir)
        # LLaMA-Factory 0.9.5 checks its pins at import; the carried stack is exactly those pins except torch
        os.environ["DISABLE_VERSION_CHECK"] = "1"
        runs_dir = a.work / "runs" / name
        smi = SmiPeak()
        t = time.time()
        with open(a.out / f"{name}.log", "w") as log:
            rc = bridge("run", str(paths[recipe]), "--backend", backend, "--runs-dir", str(runs_dir),
                        timeout=cap, log=log)
        wall = time.time() - t
        peak = smi.stop()
        run_dirs = sorted(runs_dir.glob("*/run.json"))
        res = summarise(name, run_dirs[-1].parent if run_dirs else None, hook_dir, rc, wall, peak)
        res["timeout_s"] = round(cap)
        report["runs"].append(res)
        save()
        print(f"[bench] {name}: rc={rc} wall={wall:.0f}s s/step={res.get('s_per_step')} "
              f"tok/s={res.get('tokens_per_s')} peak={res.get('max_allocated_mib')} MiB", flush=True)
    save()
    return 0 if all(r.get("rc") == 0 for r in report["runs"]) else 1


def markdown(rep: dict) -> str:
    m = rep["machine"]
    lines = [f"# gui-bridge GPU bench{' (dry rehearsal)' if rep['dry'] else ''}", "",
             f"- date: {m['date']}; GPU: {m.get('gpu', 'none')}; CPUs: {m['cpus']}",
             f"- model: {rep.get('model_build')}",
             f"- TRL stack: {rep['stacks']['trl']}", f"- LLaMA-Factory stack: {rep['stacks']['llamafactory']}",
             "", "| run | rc | steps | s/step (median, step 1 excluded) | tokens/step | tokens/s | peak alloc MiB "
             "| peak reserved MiB | nvidia-smi peak MiB | first step s | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rep["runs"]:
        if "skipped" in r:
            lines.append(f"| {r['run']} | skipped: {r['skipped']} |||||||||")
            continue
        tps = r.get("tokens_per_step") or []
        lines.append(f"| {r['run']} | {r['rc']} | {r.get('steps')} | {r.get('s_per_step')} | "
                     f"{round(statistics.median(tps)) if tps else None} | {r.get('tokens_per_s')} | "
                     f"{r.get('max_allocated_mib')} | {r.get('max_reserved_mib')} | {r.get('nvidia_smi_peak_mib')} | "
                     f"{r.get('first_step_s')} | {r.get('wall_s')} |")
    lines.append("")
    for r in rep["runs"]:
        if r.get("model"):
            lines.append(f"- {r['run']}: model {r['model']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
