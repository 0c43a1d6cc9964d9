"""Side-by-side view of runs: one normalised metrics table, plots and an effective-config diff.

A run directory (written by ``bridge run``) holds ``run.json`` (the run record) and ``metrics.jsonl``: one JSON
row per logged step in the vocabulary of :mod:`bridge.backends.logs`, read from the backend's own logs. When
``metrics.jsonl`` is absent (a run still going, an older run) the rows are read from the backend's logs on the fly.

Normalised metric keys: ``step``, ``loss``, ``reward`` and ``reward/<component>``, ``kl``, ``lr``,
``grad_norm``, ``samples_per_s``, ``tokens_per_s``, ``step_time``, ``host_mem_mb``, ``gpu_mem_mb``
(+ ``eval/<metric>``).

The config diff compares ``run.json["effective"]`` overlaid with the settings read back from what each backend
received (:func:`bridge.backends.metrics.resolved_settings`): the answer to "same config, different result".
"""
from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .backends import get_adapter
from .backends.logs import merge_effective
from .backends.metrics import resolved_settings
from .errors import BridgeError

METRIC_KEYS = ("loss", "reward", "kl", "lr", "grad_norm", "samples_per_s", "tokens_per_s", "step_time", "host_mem_mb",
               "gpu_mem_mb")
#: summary columns, in table order (columns that are empty for every run are left out of the terminal table)
SUMMARY_COLUMNS = ("run", "backend", "method", "status", "steps", "wall_s", "step_time_s", "samples_per_s",
                   "tokens_per_s", "final_loss", "final_reward", "peak_rss_mb", "backend_rss_mb", "gpu_mem_mb",
                   "eval_step_success", "eval_type_accuracy", "eval_grounding_accuracy")
#: settings keys that describe where a value came from, not the training itself
_NOT_SETTINGS = {"source"}


@dataclass
class RunView:
    """One run: its directory, record, per-step rows, effective settings and what could not be read."""

    path: Path
    record: dict[str, Any]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    effective: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return str(self.record.get("backend", "?"))

    @property
    def label(self) -> str:
        return f"{self.record.get('name', self.path.name)} [{self.backend}]"

    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(steps, values) of ``key`` over the rows that have a finite value."""
        xs, ys = [], []
        for row in self.metrics:
            v = row.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and "step" in row:
                xs.append(float(row["step"]))
                ys.append(float(v))
        return xs, ys

    def last(self, key: str) -> Optional[float]:
        ys = self.series(key)[1]
        return ys[-1] if ys else None

    def mean(self, key: str) -> Optional[float]:
        ys = self.series(key)[1]
        return sum(ys) / len(ys) if ys else None

    def components(self) -> list[str]:
        """``reward/<c>`` keys logged by this run, in first-seen order."""
        seen: list[str] = []
        for row in self.metrics:
            for k in row:
                if k.startswith("reward/") and k not in seen:
                    seen.append(k)
        return seen

    def summary(self) -> dict[str, Any]:
        """One table row (see :data:`SUMMARY_COLUMNS`). ``step_time_s`` has one definition for every backend:
        bridge's clock between the backend's per-step log lines after the first (``run.json["step_clock"]``,
        :func:`bridge.runs.step_clock`); the backend's own mean only for a run recorded before it existed.
        ``samples_per_s`` falls back to the effective batch over that step time when the backend logs no
        throughput. Memory, one quantity per column: ``peak_rss_mb`` is the backend process tree's peak resident
        memory measured by ``bridge bench``; ``backend_rss_mb`` the trainer process's peak RSS as the backend
        reports it (TRL); ``gpu_mem_mb`` the device's peak as the backend reports it (TRL, ms-swift, verl on a
        GPU)."""
        rec = self.record
        steps = sorted({int(r["step"]) for r in self.metrics if "step" in r and ("loss" in r or "reward" in r)})
        step_time = (rec.get("step_clock") or {}).get("step_time_s") or self.mean("step_time")
        sps = self.mean("samples_per_s")
        batch = self.effective.get("effective_batch")
        if sps is None and step_time and isinstance(batch, (int, float)):
            sps = batch / step_time
        rss, gpu = self.series("host_mem_mb")[1], self.series("gpu_mem_mb")[1]
        ev = ((rec.get("eval") or {}).get("metrics")) or {}
        return {
            "run": self.path.name, "backend": self.backend, "method": rec.get("method"), "status": rec.get("status"),
            "steps": len(steps) or None, "wall_s": rec.get("wall_time_s"), "step_time_s": step_time,
            "samples_per_s": sps, "tokens_per_s": self.mean("tokens_per_s"),
            "final_loss": self.last("loss"), "final_reward": self.last("reward"),
            "peak_rss_mb": (rec.get("bench") or {}).get("peak_rss_mb"),
            "backend_rss_mb": max(rss) if rss else None, "gpu_mem_mb": max(gpu) if gpu else None,
            "eval_step_success": ev.get("step_success"), "eval_type_accuracy": ev.get("type_accuracy"),
            "eval_grounding_accuracy": ev.get("grounding_accuracy"),
        }


def run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run directories from the arguments: a run directory itself, or a directory of runs (a bench directory)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if (p / "run.json").is_file() or not p.is_dir():
            out.append(p)
            continue
        inner = sorted(d.parent for d in p.glob("*/run.json"))
        out.extend(inner or [p])
    return out


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
    if not isinstance(record, dict):
        raise BridgeError(f"{record_path}: unreadable run record: not a JSON object")
    view = RunView(path, record)
    view.metrics, view.warnings = _load_metrics(path, record)
    view.effective = _effective(path, record)
    return view


def _load_metrics(path: Path, record: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    metrics_path = path / "metrics.jsonl"
    if metrics_path.is_file():
        rows = []
        for lineno, line in enumerate(metrics_path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise BridgeError(f"{metrics_path}:{lineno}: not valid JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise BridgeError(f"{metrics_path}:{lineno}: not a JSON object")
                rows.append(row)
        return rows, list(record.get("metrics_warnings") or [])
    backend = str(record.get("backend") or "")
    if not backend:
        return [], []
    try:
        parsed = get_adapter(backend).parse_run(path)
    except BridgeError as e:
        return [], [f"{path}: no metrics ({e.message})"]
    return parsed.rows, parsed.warnings


def _effective(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    eff = record.get("effective") if isinstance(record.get("effective"), dict) else {}
    return merge_effective(eff, resolved_settings(str(record.get("backend") or ""), path, record))


def _canon(v: Any) -> Any:
    """Comparable form: ints and floats compare by value (ms-swift writes lora_alpha 16.0, TRL 16)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in sorted(v.items())}
    return str(v)


def config_diff(runs: list[RunView]) -> list[dict[str, Any]]:
    """Rows ``{"key", "values": [...], "differs": bool}`` over the union of the runs' effective settings.

    ``differs`` is true when at least two runs report different values; a run that does not report a key
    (None) is unknown, not different."""
    keys: list[str] = []
    for run in runs:
        for k in run.effective:
            if k not in keys and k not in _NOT_SETTINGS:
                keys.append(k)
    rows = []
    for k in keys:
        values = [run.effective.get(k) for run in runs]
        known = {json.dumps(_canon(v), sort_keys=True) for v in values if v is not None}
        rows.append({"key": k, "values": values, "differs": len(known) > 1})
    return rows


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return str(v)


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The summary columns that at least one row fills."""
    cols = list(rows[0]) if rows else []
    return [c for c in cols if c in ("run", "backend") or any(r.get(c) is not None for r in rows)]


def text_table(rows: list[dict[str, Any]], columns: Optional[list[str]] = None) -> str:
    """A plain aligned table (the terminal view)."""
    if not rows:
        return "(no runs)"
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def plot_png(runs: list[RunView], out: Path) -> Path:
    """One PNG: loss, reward (components dashed) and grad norm vs step; mean step time, samples/s and peak memory
    bars per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    markers = "osD^v<>"
    for ax, key in ((axes[0][0], "loss"), (axes[0][1], "reward"), (axes[0][2], "grad_norm")):
        for i, run in enumerate(runs):
            c = colors[i % len(colors)]
            xs, ys = run.series(key)
            if xs:   # shrinking hollow markers: identical curves (same data, same seed) stay visible on top
                ax.plot(xs, ys, marker=markers[i % len(markers)], markersize=max(3, 10 - 2 * i),
                        markerfacecolor="none", color=c, label=run.label)
            if key == "reward":
                for comp in run.components():
                    cx, cy = run.series(comp)
                    if cx:
                        ax.plot(cx, cy, linestyle="--", color=c, alpha=0.55, label=f"{run.label} {comp[7:]}")
        ax.set_title(f"{key} vs step")
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, f"no {key} logged", ha="center", va="center", transform=ax.transAxes)
    summaries = [r.summary() for r in runs]
    labels = [r.label for r in runs]
    x = list(range(len(runs)))
    for ax, key, title in ((axes[1][0], "step_time_s", "mean step time (s)"),
                           (axes[1][1], "samples_per_s", "throughput (samples/s)")):
        ax.bar(x, [s[key] or 0.0 for s in summaries], color=[colors[i % len(colors)] for i in x])
        _not_reported(ax, [s[key] for s in summaries])
        ax.set_xticks(x, labels, rotation=12, fontsize=8)
        ax.set_title(title)
    ax = axes[1][2]
    w = 0.27
    for k, (key, label) in enumerate((("peak_rss_mb", "process tree RSS (measured)"),
                                      ("backend_rss_mb", "trainer RSS (reported)"),
                                      ("gpu_mem_mb", "GPU (reported)"))):
        ax.bar([i + (k - 1) * w for i in x], [s[key] or 0.0 for s in summaries], w, label=label)
    ax.set_xticks(x, labels, rotation=12, fontsize=8)
    _not_reported(ax, [s["peak_rss_mb"] or s["backend_rss_mb"] or s["gpu_mem_mb"] for s in summaries])
    ax.set_title("peak memory (MB)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    tmp.replace(out)
    return out


def _not_reported(ax, values: list) -> None:
    """Say "not reported" on a bar slot without a value (an empty slot would read as zero)."""
    for i, v in enumerate(values):
        if v is None:
            ax.text(i, 0, "not\nreported", ha="center", va="bottom", fontsize=8, color="#777")


_CSS = """body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left}th{background:#eee}
tr.diff td{background:#ffe9a8}td.unknown{color:#999}img{max-width:100%}.warn{color:#a33}
details{margin:.5em 0}summary{cursor:pointer}.wide{overflow-x:auto}"""


def html_report(runs: list[RunView], out: Path, png: Optional[Path] = None, title: str = "run comparison",
                intro_html: str = "") -> Path:
    """One self-contained HTML file: summary table, plots (inline PNG), the effective-config diff (rows that
    differ highlighted), per-step metrics per run and anything that could not be read. ``intro_html`` (trusted
    HTML, e.g. the demo's findings) goes first."""
    esc = lambda v: html.escape(_fmt(v))  # noqa: E731
    summaries = [r.summary() for r in runs]
    cols = table_columns(summaries)
    table = ("<table id='runs'><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{esc(s[c])}</td>" for c in cols) + "</tr>" for s in summaries)
             + "</table>")
    diff_rows = config_diff(runs)
    n_diff = sum(d["differs"] for d in diff_rows)
    diff = ("<table id='config'><tr><th>setting</th>" + "".join(f"<th>{html.escape(r.label)}</th>" for r in runs)
            + "</tr>" + "".join(
                f"<tr class='{'diff' if d['differs'] else 'same'}'><td>{html.escape(d['key'])}</td>"
                + "".join("<td class='unknown'>?</td>" if v is None else f"<td>{esc(v)}</td>" for v in d["values"])
                + "</tr>" for d in diff_rows) + "</table>")
    sources = "".join(f"<li>{html.escape(r.label)}: {html.escape(str(r.effective.get('source', 'the recipe')))}"
                      f" — {html.escape(str(r.path))}</li>" for r in runs)
    img = ""
    if png is not None and Path(png).is_file():
        img = f"<img id='plots' alt='plots' src='data:image/png;base64,{base64.b64encode(Path(png).read_bytes()).decode()}'>"
    steps = ""
    for r in runs:
        keys = ["step"] + sorted({k for row in r.metrics for k in row} - {"step"})
        rows_html = "".join("<tr>" + "".join(f"<td>{esc(row.get(k))}</td>" for k in keys) + "</tr>" for row in r.metrics)
        steps += (f"<details><summary>{html.escape(r.label)}: {len(r.metrics)} logged steps</summary>"
                  "<div class='wide'><table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
                  + f"</tr>{rows_html}</table></div></details>")
    warnings = [w for r in runs for w in r.warnings]
    warn = ("<h2>Could not read</h2><ul class='warn'>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
            + "</ul>") if warnings else ""
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>gui-bridge: {html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>gui-bridge: {html.escape(title)}</h1>{intro_html}<h2>Runs</h2><div class='wide'>{table}</div>
<h2>Curves</h2>{img or '<p>no plots</p>'}
<h2>Effective configuration</h2><p>{n_diff} setting(s) differ between runs (highlighted); ? = not reported by that
backend. Values are read back from what each backend received where it records them:</p><ul>{sources}</ul>
{diff if diff_rows else '<p>no settings recorded</p>'}
<h2>Per-step metrics</h2>{steps}{warn}
</body></html>"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(out)
    return out


def write_csv(runs: list[RunView], path: Path) -> Path:
    """Every run's per-step rows in one CSV (``run``, ``backend`` + the union of metric keys)."""
    import csv

    keys = ["run", "backend", "step"] + sorted({k for v in runs for row in v.metrics for k in row} - {"step"})
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for v in runs:
            for row in v.metrics:
                w.writerow({"run": v.path.name, "backend": v.backend, **row})
    return path
