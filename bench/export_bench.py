"""Export benchmark (issue 16): every backend x method's ``convert`` on the seed per-step layout, and the seed
tutorials' job end to end (``bridge import seed-steps`` + ``bridge convert --backend vlmr1 --style seed --method
grpo``) against their plain script (bench/convert_bench.py ``anchor``: the whole job, read + one JSONL line).

Each measurement runs in a fresh process (peak RSS is per row); wall seconds best of ``--repeat``; CPU µs/step is
user+sys of that process. Export rows start from a dataset imported once (not timed).

    python bench/export_bench.py                        # N = 2000 and 20000, best of 3
    python bench/export_bench.py --steps 2000 --repeat 1 --profile vlmr1:grpo
    python bench/export_bench.py --steps 20000 --split   # where the time of one export goes (the floor)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_bench import _clean, _cpu, anchor, synthesise  # noqa: E402

EXPORTS = ("trl:sft", "trl:grpo", "llamafactory:sft", "swift:sft", "swift:grpo", "verl:grpo", "vlmr1:grpo")
STYLE = "seed"   # the seed tutorials' model speaks the seed style


def _peak_rss_mb() -> float:
    """This process's own peak RSS: VmHWM (reset at exec), not ru_maxrss (Linux carries the forking parent's
    peak across exec, so every row read at least the bench driver's RSS)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(phase: str, src: str, ds: str, out: str, profile: str | None) -> None:
    result: dict = {"phase": phase}
    if phase == "anchor":
        t0, cpu0 = time.perf_counter(), _cpu()
        result["steps"] = anchor(Path(src), Path(out))
    else:
        from bridge.backends import get_adapter
        from bridge.importers import import_dataset
        from bridge.importers import seed_steps  # noqa: F401
        from bridge.runs import export_dataset
        from bridge.styles import get_style

        backend, method = phase.split()[-1].split(":")
        adapter = get_adapter(backend)
        prof = None
        if profile:
            import cProfile
            prof = cProfile.Profile()
            prof.enable()
        t0, cpu0 = time.perf_counter(), _cpu()
        if phase.startswith("import+export"):
            import_dataset("seed-steps", src, ds, jobs=1)
        res, _ = export_dataset(adapter, ds, get_style(STYLE), method, Path(out))
        result["steps"] = res.samples
        if prof:
            prof.disable()
            prof.dump_stats(profile)
    result["seconds"] = time.perf_counter() - t0
    result["cpu_s"] = _cpu() - cpu0
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def split(n: int, work: Path, repeat: int) -> None:
    """Where an export's CPU time goes, cumulatively, in this one process (CPU µs/step, best of ``repeat``):
    reading the canonical episodes, + checking them (image headers, coordinates: issue 11 item 2), + rendering
    the samples (bridge.samples.build_samples), + writing VLM-R1 JSONL (the seed job's export) — beside the
    plain script's whole job. The goal of issue 16 (export >= 3x the script) needs the last row <= anchor / 3."""
    from bridge.backends import get_adapter
    from bridge.dataset import open_dataset
    from bridge.importers import import_dataset
    from bridge.importers import seed_steps  # noqa: F401
    from bridge.runs import export_dataset
    from bridge.samples import build_samples
    from bridge.styles import get_style
    from bridge.validate import episode_checker

    root = work / f"split{n}"
    _clean(root)
    src = synthesise(root, n)
    import_dataset("seed-steps", src, root / "ds", jobs=1)
    style, ds = get_style(STYLE), open_dataset(root / "ds")

    def read():
        for _ in ds:
            pass

    def check():
        c = episode_checker(ds)
        for ep in ds:
            c(ep, file="x")

    def render():
        for _ in build_samples(ds, style):
            pass

    def export():
        _clean(root / "out")
        export_dataset(get_adapter("vlmr1"), root / "ds", style, "grpo", root / "out")

    rows = [("anchor: the plain script's whole job", lambda: anchor(src, root / "anchor.jsonl")),
            ("read the canonical episodes", read), ("+ check them", check),
            ("+ render the samples (build_samples)", render), ("+ write VLM-R1 JSONL (export)", export)]
    print(f"# where the time goes, N={n}, CPU us/step, best of {repeat}, one process")
    base = None
    for name, fn in rows:
        best = min(_timed(fn) for _ in range(repeat)) * 1e6 / n
        base = base or best
        print(f"  {name:<40} {best:>8.1f}   {base / best:>5.2f}x anchor")
    print(f"  (export >= 3x the plain script needs <= {base / 3:.1f} us/step)")


def _timed(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def run_child(phase: str, src: Path, ds: Path, out: Path, profile: str | None = None) -> dict:
    args = [sys.executable, __file__, "--child", phase, str(src), str(ds), str(out)]
    args += ["--profile-out", profile] if profile else []
    res = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if res.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{res.stderr}{res.stdout}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench(n: int, work: Path, repeat: int, profile: list[str]) -> list[dict]:
    root = work / f"n{n}"
    _clean(root)
    src = synthesise(root, n)
    from bridge.importers import import_dataset
    import_dataset("seed-steps", src, root / "ds", jobs=1)
    phases = ["anchor", "import+export vlmr1:grpo"] + [f"export {e}" for e in EXPORTS]
    rows = []
    for phase in phases:
        best = None
        for _ in range(repeat):
            ds = root / ("ds2" if phase.startswith("import") else "ds")
            out = root / "out"
            _clean(out)
            if phase.startswith("import"):
                _clean(ds)
            r = run_child(phase, src, ds, out)
            if best is None or r["seconds"] < best["seconds"]:
                best = r
        best["n"] = n
        rows.append(best)
    for spec in profile:
        _clean(root / "out")
        prof = str(root / "export.prof")
        run_child(f"export {spec}", src, root / "ds", root / "out", profile=prof)
        import pstats
        print(f"\n# cProfile of export {spec}, N={n} (top 25 by own time)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[2000, 20000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--profile", nargs="*", default=[], metavar="BACKEND:METHOD")
    ap.add_argument("--split", action="store_true", help="only where one export's time goes (see split())")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, profile=args.profile_out)
        return
    work = Path(tempfile.mkdtemp(prefix="export_bench-"))
    if args.split:
        try:
            for n in args.steps:
                split(n, work, args.repeat)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    try:
        rows = [r for n in args.steps for r in bench(n, work, args.repeat, args.profile)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import bridge
    anchors = {r["n"]: r for r in rows if r["phase"] == "anchor"}
    print(f"# export_bench  gui-bridge {bridge.__version__}  python {platform.python_version()}  "
          f"{platform.machine()}  cpus={os.cpu_count()}  best of {args.repeat}; one fresh process per row; "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}")
    print("# load average at the end (1/5/15 min): %.2f %.2f %.2f — the machine is shared; other work inflates "
          "wall times (CPU us/step less so)" % os.getloadavg())
    print(f"# style {STYLE}; 'vs anchor' = the plain script's whole job (read + write JSONL) / this row's wall time")
    print(f"{'N':>7}  {'phase':<28} {'seconds':>8} {'steps/s':>9} {'vs anchor':>9} {'CPU us/step':>11} "
          f"{'peak RSS MB':>11}")
    for r in rows:
        rel = anchors[r["n"]]["seconds"] / r["seconds"]
        print(f"{r['n']:>7}  {r['phase']:<28} {r['seconds']:>8.3f} {r['steps'] / r['seconds']:>9.0f} {rel:>8.2f}x"
              f" {1e6 * r['cpu_s'] / r['steps']:>11.1f} {r['peak_rss_mb']:>11.1f}")


if __name__ == "__main__":
    main()
