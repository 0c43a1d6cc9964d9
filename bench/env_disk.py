"""Disk and install time of the backend environments, and how much of it is the same package version installed
in more than one of them (what one shared torch/CUDA stack — hard links from one cache, or a shared base — would
store once). Read-only: reads each env's stamp and every ``*.dist-info/RECORD`` (file sizes as installed).

    python bench/env_disk.py [--home ~/.cache/gui-bridge] [--out bench/results/env_disk.md]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import textwrap
import time
from collections import defaultdict
from pathlib import Path


def packages(env: Path) -> dict[tuple[str, str], int]:
    """(name, version) -> bytes, from the RECORD of every installed distribution."""
    out = {}
    for rec in env.glob("lib/python3*/site-packages/*.dist-info/RECORD"):
        name, _, version = rec.parent.name.removesuffix(".dist-info").rpartition("-")
        size = 0
        with open(rec, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if len(row) >= 3 and row[2].isdigit():
                    size += int(row[2])
        out[(name.lower().replace("_", "-"), version)] = size
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", default=os.environ.get("BRIDGE_HOME", str(Path.home() / ".cache" / "gui-bridge")))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "env_disk.md"))
    a = ap.parse_args()
    envs = sorted(p for p in (Path(a.home) / "envs").iterdir() if (p / ".gui-bridge-env.json").is_file())
    rows, where = [], defaultdict(list)
    for e in envs:
        stamp = json.loads((e / ".gui-bridge-env.json").read_text())
        du = int(subprocess.run(["du", "-sb", str(e)], capture_output=True, text=True).stdout.split()[0])
        pk = packages(e)
        for k, v in pk.items():
            where[k].append((e.name, v))
        torch = sum(v for (n, _), v in pk.items() if n == "torch" or n.startswith("nvidia-") or n == "triton")
        rows.append((e.name, du, torch, stamp.get("seconds"), stamp.get("installed_at")))
    total = sum(r[1] for r in rows)
    dup = sum(sum(v for _, v in envs_[1:]) for envs_ in where.values() if len(envs_) > 1)
    dup_torch = sum(sum(v for _, v in envs_[1:]) for (n, _), envs_ in where.items() if len(envs_) > 1 and (
        n == "torch" or n.startswith("nvidia-") or n == "triton"))
    gb = lambda b: f"{b / 1e9:.2f} GB"  # noqa: E731
    lines = [f"# Backend environment disk and install time ({time.strftime('%Y-%m-%d')}, "
             "`python bench/env_disk.py`)", "",
             "Measured on the shared environments of this machine (pip 23.2, one full copy per env; hard-link "
             "count 1).",
             "", "| env | disk (du) | torch + nvidia-* + triton | install time (stamp) | installed at |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {gb(d)} | {gb(t)} | {s} s | {w} |" for n, d, t, s, w in rows]
    lines += [f"| **all** | **{gb(total)}** | | **{sum(r[3] or 0 for r in rows):.0f} s** | |", "",
              f"Same package *version* installed in more than one env: {gb(dup)} stored more than once "
              f"({gb(dup_torch)} of it the torch/CUDA stack). Stored once (hard links from one cache, or a shared "
              f"base), the envs would take {gb(total - dup)} instead of {gb(total)}: a projection from the RECORD "
              "sizes, not a measured rebuild."]
    lines = [w for line in lines for w in (textwrap.wrap(line, 118) if not line.startswith("|") else [line])]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
