"""Side-by-side view of runs: one normalised metrics table, plots and an effective-config diff.

A run directory (written by ``bridge run``) holds ``run.json`` (the run record) and ``metrics.jsonl``: one JSON
row per logged step in the normalised vocabulary below, produced from the backend's own logs by its adapter's
``parse_metrics``. When ``metrics.jsonl`` is absent it is derived on the fly from the adapter.

Normalised metric keys: ``step``, ``loss``, ``reward`` and ``reward/<component>``, ``kl``, ``lr``,
``grad_norm``, ``samples_per_s``, ``tokens_per_s``, ``step_time``, ``peak_mem_mb``.
"""
from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import BridgeError

METRIC_KEYS = ("loss", "reward", "kl", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "step_time", "peak_mem_mb")


@dataclass
class RunView:
    path: Path
    record: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.record.get('name', self.path.name)} [{self.backend}]"

    @property
    def backend(self) -> str:
        return str(self.record.get("backend", "?"))

    def series(self, key: str) -> tuple[list[float], list[float]]:
        xs, ys = [], []
        for row in self.metrics:
            v = row.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v) and "step" in row:
                xs.append(float(row["step"]))
                ys.append(float(v))
        return xs, ys

    def last(self, key: str) -> Optional[float]:
        ys = self.series(key)[1]
        return ys[-1] if ys else None

    def mean(self, key: str) -> Optional[float]:
        ys = self.series(key)[1]
        return sum(ys) / len(ys) if ys else None

    def summary(self) -> dict[str, Any]:
        rec = self.record
        peak = [v for v in (self.mean("peak_mem_mb"), rec.get("peak_rss_mb")) if v is not None]
        return {
            "run": self.path.name, "name": rec.get("name"), "backend": self.backend, "method": rec.get("method"),
            "status": rec.get("status"), "wall_s": rec.get("wall_time_s"), "steps": len(self.series("loss")[0]) or None,
            "final_loss": self.last("loss"), "final_reward": self.last("reward"),
            "step_time_s": self.mean("step_time"), "samples_per_s": self.mean("samples_per_s"),
            "peak_mem_mb": max(peak) if peak else None,
        }


def load_run(path: str | Path) -> RunView:
    """Read a run directory; a missing or unreadable run.json is a located BridgeError."""
    path = Path(path)
    record_path = path / "run.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BridgeError(f"{path}: not a run directory (no run.json; runs are written by `bridge run`)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise BridgeError(f"{record_path}: unreadable run record: {e}") from None
    return RunView(path, record, _load_metrics(path, record))


def _load_metrics(path: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    metrics_path = path / "metrics.jsonl"
    if metrics_path.is_file():
        rows = []
        for lineno, line in enumerate(metrics_path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise BridgeError(f"{metrics_path}:{lineno}: not valid JSON ({e.msg})") from None
        return rows
    backend = record.get("backend")
    if not backend:
        return []
    from .adapters import get_adapter

    return get_adapter(backend).parse_metrics(path)


def config_diff(runs: list[RunView]) -> list[dict[str, Any]]:
    """Rows ``{"key", "values": [...], "differs": bool}`` over the union of the runs' effective settings
    (``run.json["effective"]``: lr, effective batch, LoRA targets, frozen parts, image pixels, generations...)."""
    keys: list[str] = []
    for run in runs:
        for k in run.record.get("effective", {}):
            if k not in keys:
                keys.append(k)
    rows = []
    for k in keys:
        values = [run.record.get("effective", {}).get(k) for run in runs]
        rows.append({"key": k, "values": values, "differs": len({json.dumps(v, sort_keys=True) for v in values}) > 1})
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def text_table(rows: list[dict[str, Any]], columns: Optional[list[str]] = None) -> str:
    """A plain aligned table (the terminal view)."""
    if not rows:
        return "(no runs)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def plot_png(runs: list[RunView], out: Path) -> Path:
    """Loss and reward vs step, plus step-time and memory bars, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, key in ((axes[0][0], "loss"), (axes[0][1], "reward")):
        for run in runs:
            xs, ys = run.series(key)
            if xs:
                ax.plot(xs, ys, marker="o", label=run.label)
        ax.set_title(f"{key} vs step")
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, f"no {key} logged", ha="center", va="center", transform=ax.transAxes)
    summaries = [r.summary() for r in runs]
    labels = [r.label for r in runs]
    for ax, key, title in ((axes[1][0], "step_time_s", "mean step time (s)"), (axes[1][1], "peak_mem_mb", "peak memory (MB)")):
        vals = [s[key] or 0.0 for s in summaries]
        ax.bar(range(len(vals)), vals, color="#4c72b0")
        ax.set_xticks(range(len(vals)), labels, rotation=15, fontsize=8)
        ax.set_title(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def html_report(runs: list[RunView], out: Path, png: Optional[Path] = None) -> Path:
    """One self-contained HTML file: summary table, plots (inline PNG) and the effective-config diff."""
    summaries = [r.summary() for r in runs]
    cols = list(summaries[0]) if summaries else []
    esc = lambda v: html.escape(_fmt(v))
    table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{esc(s[c])}</td>" for c in cols) + "</tr>" for s in summaries) + "</table>"
    diff_rows = config_diff(runs)
    diff = "<table><tr><th>setting</th>" + "".join(f"<th>{html.escape(r.label)}</th>" for r in runs) + "</tr>" + "".join(
        f"<tr class='{'diff' if d['differs'] else ''}'><td>{html.escape(d['key'])}</td>"
        + "".join(f"<td>{esc(v)}</td>" for v in d["values"]) + "</tr>" for d in diff_rows) + "</table>"
    img = ""
    if png is not None and png.is_file():
        img = f"<img alt='plots' src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>"
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>gui-bridge compare</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}th{{background:#eee}}tr.diff td{{background:#ffe9a8}}
img{{max-width:100%}}</style></head><body>
<h1>gui-bridge: run comparison</h1><h2>Runs</h2>{table}<h2>Curves</h2>{img or '<p>no plots</p>'}
<h2>Effective configuration</h2><p>Highlighted rows differ between runs.</p>{diff if diff_rows else '<p>no settings recorded</p>'}
</body></html>"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out
