"""Convert benchmark: seed per-step layout -> canonical dataset, against the tutorials' plain script.

Synthesises N steps in the seed "ui-doctor" layout (numeric episode folders with ~1 KB step_N.json files and
real 1080x2400 PNG/JPEG screenshots, hard-linked from two small files so generation is fast), then times,
each in a fresh subprocess (so peak RSS is per measurement):

* ``anchor``  — the seed tutorials' plain script: json.load each step file, json.dumps one JSONL line
  (no validation, no image reads);
* ``import``  — ``bridge import seed-steps`` (Python API): every step converted and checked (types + every
  bridge.validate rule), every screenshot's header read and checked for truncation, written atomically;
  screenshots referenced in place (``--images ref``, the default) unless the phase says ``link``;
* ``validate``— ``bridge validate`` on the result (every record parsed and checked again, every image header
  read and checked for truncation again);
* ``import+validate`` — both, end to end in one process.

``jobs=1`` rows use one process (one core, like the anchor); ``jobs=2`` rows use two worker processes — the
default on this 2-CPU machine (the default is the number of CPUs available). CPU s counts the process and
its workers. A ``components`` run times each piece of per-step work alone, to show where the time goes.

It prints steps/s and peak RSS for each N: memory must not grow with N (streaming).

    python bench/convert_bench.py                      # N = 2000 and 20000, best of 3
    python bench/convert_bench.py --steps 2000 --repeat 1 --profile   # + a cProfile of import+validate
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

W, H = 1080, 2400
PHASES = ("anchor", "import jobs=1", "validate jobs=1", "import+validate jobs=1", "import jobs=2",
          "validate jobs=2", "import+validate jobs=2", "import+validate images=link jobs=1",
          "import+validate images=link jobs=2")
STEPS_PER_EPISODE = 10
APPS = ["淘宝", "微信", "设置", "美团", "高德地图"]


# ------------------------------------------------------------------------------------------- synthesis
def _step_output(i: int, last: bool) -> dict:
    """Cycle through the seed action types; coordinates inside the 1080x2400 screenshot."""
    if last:
        return {"action_type": "task_completed", "action_parameter": {"task_completed": "已完成任务"},
                "action_description": "任务完成"}
    kind = ["open_app", "click", "type", "swipe", "long_click", "wait", "click", "back", "inquiry"][i % 9]
    value = {
        "open_app": APPS[i % len(APPS)],
        "click": f"{49 + i},{721 + i},{1068 - i},{1008 + i}",
        "type": "蓝牙耳机",
        "swipe": "540,1800,540,600",
        "long_click": "100,200,400,500",
        "wait": "",
        "back": "",
        "inquiry": json.dumps({"Question": "选择哪个颜色？", "CandidatesList": ["黑色", "白色"],
                               "PicDescribe": "商品详情页", "AnswerIndex": 0}, ensure_ascii=False),
    }[kind]
    return {"action_type": kind, "action_parameter": {kind: value}, "action_description": f"第{i + 1}步 {kind}"}


def synthesise(root: Path, n_steps: int) -> Path:
    """Write ``n_steps`` steps (episodes of STEPS_PER_EPISODE) under ``root/src``; returns the source dir."""
    from PIL import Image

    src = root / "src"
    src.mkdir(parents=True)
    proto = {}
    for ext, fmt in (("png", "PNG"), ("jpg", "JPEG")):
        proto[ext] = root / f"proto.{ext}"
        Image.new("RGB", (W, H), (240, 240, 240)).save(proto[ext], fmt)
    action_types = {"open_app": "打开应用", "click": "点击", "long_click": "长按", "type": "输入", "swipe": "滑动",
                    "task_completed": "任务完成", "task_impossible": "任务无法完成", "inquiry": "询问",
                    "wait": "等待", "back": "返回"}
    n_eps = -(-n_steps // STEPS_PER_EPISODE)
    done = 0
    for e in range(n_eps):
        name = str(10000 + e)
        d = src / name
        d.mkdir()
        ext = "png" if e % 2 == 0 else "jpg"
        k = min(STEPS_PER_EPISODE, n_steps - done)
        plan = {str(j + 1): f"计划步骤{j + 1}" for j in range(k)}
        history: list[str] = []
        for j in range(k):
            shot = f"{name}_{j + 1}.{ext}"
            os.link(proto[ext], d / shot)
            out = _step_output(j, last=(j == k - 1))
            step = {"input": {"task_content": f"任务{e}：在{APPS[e % len(APPS)]}里搜索蓝牙耳机并加入购物车",
                              "task_path": plan,
                              "screen_path1": f"{name}_{j}.{ext}" if j else "",
                              "screen_path2": shot,
                              "history_path_all": list(history),
                              "app_name": APPS[e % len(APPS)],
                              "action_type_list": action_types},
                    "output": out}
            (d / f"step_{j + 1}.json").write_text(json.dumps(step, ensure_ascii=False, indent=1), encoding="utf-8")
            history.append(out["action_description"])
        done += k
    return src


# -------------------------------------------------------------------------------------- measured phases
def anchor(src: Path, out: Path) -> int:
    """The tutorials' plain conversion: one JSONL line per step file, nothing checked."""
    n = 0
    with open(out, "w", encoding="utf-8") as fh:
        for ep in sorted(os.listdir(src)):
            ep_dir = os.path.join(src, ep)
            for name in sorted(os.listdir(ep_dir)):
                if name.startswith("step_") and name.endswith(".json"):
                    with open(os.path.join(ep_dir, name), encoding="utf-8") as f:
                        rec = json.load(f)
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += 1
    return n


def components(src: Path, scratch: Path) -> dict:
    """Time each piece of per-step work alone, on the first 500 episodes (no profiler inflation): what the
    anchor does (read + json parse + json dump), what import and validate add. Microseconds per step; CPU
    time (``time.process_time``), best of 3, so other load on the machine does not inflate it."""
    import gc
    import json as _json

    from bridge.dataset import open_dataset
    from bridge.images import header
    from bridge.importers import seed_steps
    from bridge.importers.base import ImportContext, _process, loads
    from bridge.schema import Episode
    from bridge.validate import check_episode

    gc.disable()  # lists of parsed objects are kept below; collections would time the harness, not the work
    eps = sorted(os.listdir(src))[:500]
    step_files, shots = [], []
    for ep in eps:
        d = os.path.join(src, ep)
        for name in sorted(os.listdir(d)):
            (step_files if name.endswith(".json") else shots).append(os.path.join(d, name))
    n = len(step_files)

    def per_step(fn, *args) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.process_time()
            fn(*args)
            best = min(best, time.process_time() - t)
        return best / n * 1e6

    def read_all():
        out = []
        for f in step_files:
            fd = os.open(f, os.O_RDONLY)
            out.append(os.read(fd, 1 << 16))
            os.close(fd)
        return out

    raw = read_all()
    parsed = [_json.loads(b) for b in raw]
    out = {"steps": n}
    out["read_us"] = per_step(read_all)
    out["json_loads_us"] = per_step(lambda: [_json.loads(b) for b in raw])
    out["our_loads_us"] = per_step(lambda: [loads(b) for b in raw])
    out["json_dumps_us"] = per_step(lambda: [_json.dumps(r, ensure_ascii=False) for r in parsed])
    out["header_us"] = per_step(lambda: [header(f) for f in shots])  # one new screenshot per step
    ctx = ImportContext(images="ref")
    chosen = set(eps)
    tasks = [t for t in seed_steps.records(src, ctx) if os.path.basename(t.args[1]) in chosen]
    out["convert_us"] = per_step(lambda: [t.run() for t in tasks])  # read + parse + header + conversion
    recs = [t.run() for t in tasks]
    dicts = [r.episode for r in recs]
    models = [Episode.model_validate(d) for d in dicts]
    out["model_validate_us"] = per_step(lambda: [Episode.model_validate(d) for d in dicts])
    out["check_us"] = per_step(lambda: [check_episode(m, "", file="x", check_images=False) for m in models])
    out["to_json_us"] = per_step(lambda: [m.to_json_bytes() for m in models])
    proc = __import__("functools").partial(_process, source="seed-steps", split=None, platform=None, ref=True)
    out["import_record_us"] = per_step(lambda: [proc(t) for t in tasks])  # everything a worker does
    # the validate pass: parse + check a line, header reads included
    os.makedirs(scratch, exist_ok=True)
    ds_dir = os.path.join(scratch, "ds")
    from bridge.importers import import_dataset

    import_dataset("seed-steps", src, ds_dir, jobs=1, overwrite=True)
    ds = open_dataset(ds_dir)
    lines = [ln for ln in open(ds.episodes_path, "rb")][:len(tasks)]
    out["parse_line_us"] = per_step(lambda: [Episode.model_validate_json(ln) for ln in lines])
    vmodels = [Episode.model_validate_json(ln) for ln in lines]
    out["validate_record_us"] = per_step(lambda: [check_episode(m, ds, file="x") for m in vmodels]) + \
        out["parse_line_us"]
    gc.enable()
    return out


def _cpu() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child(phase: str, src: str, out: str, profile: str | None) -> None:
    """Run one phase in this (fresh) process and print its timings and peak RSS as JSON."""
    result: dict = {"phase": phase}
    cpu0 = _cpu()
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    t0 = time.perf_counter()
    if phase == "anchor":
        result["steps"] = anchor(Path(src), Path(out))
    elif phase == "components":
        result.update(components(Path(src), Path(out)))
    else:
        from bridge.importers import import_dataset
        from bridge.importers import seed_steps  # noqa: F401  (module imports are startup, timed apart)
        from bridge.validate import validate_dataset

        result["startup_s"] = time.perf_counter() - t0
        t0, cpu0 = time.perf_counter(), _cpu()
        if prof:
            prof.enable()
        base, _, jobs = phase.partition(" jobs=")
        base, _, images = base.partition(" images=")
        if base in ("import", "import+validate"):
            rep = import_dataset("seed-steps", src, out, images=images or "ref",
                                 **({"jobs": int(jobs)} if jobs else {}))
            result["steps"] = rep.steps
            result["import_s"] = time.perf_counter() - t0
        if base in ("validate", "import+validate"):
            t1 = time.perf_counter()
            report = validate_dataset(out, **({"jobs": int(jobs)} if jobs else {}))
            if not report.ok:
                raise SystemExit(f"validation failed: {report.problems[:3]}")
            result["steps"] = report.steps
            result["validate_s"] = time.perf_counter() - t1
        if prof:
            prof.disable()
    result["seconds"] = time.perf_counter() - t0
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_s"] = _cpu() - cpu0
    result["peak_rss_mb"] = me.ru_maxrss / 1024.0
    result["peak_rss_workers_mb"] = kids.ru_maxrss / 1024.0  # largest worker process, if the path forks any
    if prof:
        prof.dump_stats(profile)
    print(json.dumps(result))


def run_child(phase: str, src: Path, out: Path, profile: str | None = None) -> dict:
    args = [sys.executable, __file__, "--child", phase, str(src), str(out)] + (["--profile-out", profile]
                                                                               if profile else [])
    res = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if res.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{res.stderr}{res.stdout}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _clean(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def bench(n: int, work: Path, repeat: int, profile: bool) -> list[dict]:
    root = work / f"n{n}"
    _clean(root)
    t0 = time.perf_counter()
    src = synthesise(root, n)
    print(f"# N={n}: synthesised {n} steps in {time.perf_counter() - t0:.1f}s under {src}", file=sys.stderr)
    rows = []
    for phase in PHASES:
        best = None
        for _ in range(repeat):
            out = root / ("anchor.jsonl" if phase == "anchor" else "dataset")
            if not phase.startswith("validate"):  # everything else writes OUT afresh
                _clean(out)
            elif not (root / "dataset").exists():
                run_child("import jobs=1", src, root / "dataset")
            r = run_child(phase, src, out)
            if best is None or r["seconds"] < best["seconds"]:
                best = r
        best["n"] = n
        rows.append(best)
    _clean(root / "scratch")
    parts = run_child("components", src, root / "scratch")
    parts["n"] = n
    rows.append(parts)
    if profile:
        out = root / "dataset"
        _clean(out)
        prof_file = str(root / "import_validate.prof")
        run_child("import+validate", src, out, profile=prof_file)
        import pstats

        print(f"\n# cProfile of import+validate, N={n} (top 25 by own time)")
        pstats.Stats(prof_file).sort_stats("tottime").print_stats(25)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs per measurement")
    ap.add_argument("--workdir", type=Path, default=None, help="where to synthesise (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the synthesised data")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of import+validate")
    ap.add_argument("--child", nargs=3, metavar=("PHASE", "SRC", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, profile=args.profile_out)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="convert_bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = [r for n in args.steps for r in bench(n, work, args.repeat, args.profile)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    import bridge

    anchors = {r["n"]: r for r in rows if r["phase"] == "anchor"}
    parts = [r for r in rows if r["phase"] == "components"]
    rows = [r for r in rows if r["phase"] != "components"]
    by = {(r["n"], r["phase"]): r for r in rows}

    def rate(n: int, phase: str) -> str:
        r = by.get((n, phase))
        if not r:
            return "-"
        return f"{r['steps'] / r['seconds']:,.0f}" + ("" if phase == "anchor" else
                                                     f" ({anchors[n]['seconds'] / r['seconds']:.2f}x)")

    ns = sorted(anchors)
    print(f"# SUMMARY steps/s (wall, best of {args.repeat}) at N = {' / '.join(map(str, ns))}: "
          f"anchor {' / '.join(rate(n, 'anchor') for n in ns)}; "
          f"ours import+validate 1 core {' / '.join(rate(n, 'import+validate jobs=1') for n in ns)}, "
          f"2 workers {' / '.join(rate(n, 'import+validate jobs=2') for n in ns)}; "
          f"ours import alone (validates everything) 1 core {' / '.join(rate(n, 'import jobs=1') for n in ns)}, "
          f"2 workers {' / '.join(rate(n, 'import jobs=2') for n in ns)}; peak RSS MB import+validate 1 core "
          + " / ".join(f"{by[(n, 'import+validate jobs=1')]['peak_rss_mb']:.1f}" for n in ns)
          + ", 2 workers (main; each worker) " + " / ".join(
              f"{by[(n, 'import+validate jobs=2')]['peak_rss_mb']:.1f}; "
              f"{by[(n, 'import+validate jobs=2')]['peak_rss_workers_mb']:.1f}" for n in ns))
    print(f"# convert_bench  gui-bridge {bridge.__version__}  python {platform.python_version()}  "
          f"{platform.machine()}  cpus={os.cpu_count()}  best of {args.repeat}; one fresh process per row; "
          f"CPU s = user+sys of the process and any workers it forks")
    print("# load average at the end (1/5/15 min): %.2f %.2f %.2f — other work on the machine inflates the times"
          % os.getloadavg())
    print(f"# {W}x{H} PNG/JPEG screenshots, ~1 KB step files, {STEPS_PER_EPISODE} steps per episode, previous "
          f"screenshot as extra image; images=ref (referenced in place) unless the phase says link")
    print(f"{'N':>7}  {'phase':<36} {'seconds':>8} {'steps/s':>9} {'vs anchor':>9} {'CPU s':>7} "
          f"{'CPU us/step':>11} {'peak RSS MB':>11}")
    for r in rows:
        speed = r["steps"] / r["seconds"]
        rel = anchors[r["n"]]["seconds"] / r["seconds"]
        notes = []
        if r.get("peak_rss_workers_mb"):
            notes.append(f"workers' peak RSS {r['peak_rss_workers_mb']:.1f} MB")
        if "startup_s" in r:
            notes.append(f"+{r['startup_s']:.2f}s module imports, once")
        print(f"{r['n']:>7}  {r['phase']:<36} {r['seconds']:>8.3f} {speed:>9.0f} {rel:>8.2f}x {r['cpu_s']:>7.2f}"
              f" {1e6 * r['cpu_s'] / r['steps']:>11.1f} {r['peak_rss_mb']:>11.1f}"
              + (f"   ({'; '.join(notes)})" if notes else ""))
    print("# per-step CPU cost of each piece, timed alone (microseconds per step, process CPU time, best of 3):")
    for r in parts:
        print(f"{r['n']:>7}  anchor's work: read {r['read_us']:.1f} + json.loads {r['json_loads_us']:.1f}"
              f" + json.dumps {r['json_dumps_us']:.1f}")
        print(f"{r['n']:>7}  import: read {r['read_us']:.1f} + parse {r['our_loads_us']:.1f} (pydantic-core; "
              f"json.loads {r['json_loads_us']:.1f}) + header & truncation check {r['header_us']:.1f}"
              f" -> convert in all {r['convert_us']:.1f}; + model_validate {r['model_validate_us']:.1f}"
              f" + check_episode {r['check_us']:.1f} (+ to_json {r['to_json_us']:.1f} when not canonical)"
              f" -> one record in all {r['import_record_us']:.1f}")
        print(f"{r['n']:>7}  validate: parse line {r['parse_line_us']:.1f} -> one record with header reads and "
              f"checks {r['validate_record_us']:.1f}")


if __name__ == "__main__":
    main()
