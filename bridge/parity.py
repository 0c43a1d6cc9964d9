"""Cross-backend parity: the same recipe must give the same training on every backend (docs/backends.md, "The
same recipe, the same result").

Two checks, pure functions of what the runs logged (no torch here; ``bench/parity_bench.py`` and
``tests/test_parity.py`` run the trainings):

* :func:`compare_losses` — per-step training loss of the first ``steps`` optimiser steps, every backend against
  the first one. TRL, LLaMA-Factory and ms-swift all train through transformers' ``Trainer``: with the same seed,
  the same exported samples in the same order, the same initial weights and the same optimiser they draw the same
  batches and take the same steps, so their losses agree to float32 round-off (measured: relative 1e-7 at step 1,
  see bench/results/parity_bench.md). A backend fed coordinates in another frame, images resized differently,
  other label masking or another sampler order shows up from the first steps on.
* :func:`compare_evals` — held-out metrics (``bridge eval``) of each backend's trained model: the spread across
  backends in percentage points must stay within ``points``.

Both return a report dict with ``ok`` and ``problems`` (one line per violation, naming backend and step), so a
caller can print or assert on it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

#: relative tolerance on the per-step loss of the first steps: the clean curves agree to <= 5.5e-7 for 30 steps
#: (float32 round-off); the planted frame fault moves step 1 by ~1e-4 and steps 2..20 by up to 2.2e-2
#: (bench/results/parity_bench.md), so it is caught from step 2 on
LOSS_RTOL = 1e-3
#: held-out step success may differ by this many percentage points across backends (issue 17)
EVAL_POINTS = 5.0


def loss_curve(backend: str, run_dir: str | Path) -> list[tuple[int, float]]:
    """``[(step, loss), ...]`` of a run, from the backend's own log (:func:`bridge.backends.metrics.parse_run`)."""
    from .backends.metrics import parse_run

    return [(int(r["step"]), float(r["loss"])) for r in parse_run(backend, run_dir).rows
            if r.get("loss") is not None and r.get("step") is not None]


def compare_losses(curves: Mapping[str, Iterable[tuple[int, float]]], steps: int,
                   rtol: float = LOSS_RTOL) -> dict[str, Any]:
    """Compare the losses of steps ``1..steps`` of every curve with the first curve's (the reference).

    Returns ``{"reference", "steps", "rtol", "ok", "problems", "max_abs_dev", "max_rel_dev", "worst",
    "per_step"}``: ``per_step`` lists ``{"step", backend: loss, ..., "max_abs_dev"}``; ``worst`` is
    ``{"backend", "step", "rel_dev"}`` of the largest relative deviation. A step missing from a curve is a problem
    (a backend that logs less often cannot be compared step by step)."""
    names = list(curves)
    if len(names) < 2:
        raise ValueError("compare_losses needs at least two curves")
    table = {n: dict(c) for n, c in curves.items()}
    ref = names[0]
    problems: list[str] = []
    per_step: list[dict[str, Any]] = []
    max_abs = max_rel = 0.0
    worst: dict[str, Any] = {}
    for step in range(1, steps + 1):
        row: dict[str, Any] = {"step": step}
        base = table[ref].get(step)
        if base is None:
            problems.append(f"{ref}: no loss logged at step {step}")
        dev = 0.0
        for n in names:
            v = table[n].get(step)
            row[n] = v
            if v is None:
                if n != ref:
                    problems.append(f"{n}: no loss logged at step {step}")
                continue
            if base is None or n == ref:
                continue
            if not math.isfinite(v):
                problems.append(f"{n}: loss {v} at step {step}")
                continue
            a = abs(v - base)
            r = a / max(abs(base), 1e-12)
            dev = max(dev, a)
            if r > max_rel:
                worst = {"backend": n, "step": step, "rel_dev": r}
            max_abs, max_rel = max(max_abs, a), max(max_rel, r)
            if r > rtol:
                problems.append(f"{n}: step {step} loss {v:.6g} vs {ref} {base:.6g} (relative deviation {r:.2e} "
                                f"> {rtol:g})")
        row["max_abs_dev"] = dev
        per_step.append(row)
    return {"reference": ref, "steps": steps, "rtol": rtol, "ok": not problems, "problems": problems,
            "max_abs_dev": max_abs, "max_rel_dev": max_rel, "worst": worst, "per_step": per_step}


def compare_evals(metrics: Mapping[str, Mapping[str, Any]],
                  keys: Sequence[str] = ("step_success", "grounding_accuracy"),
                  points: float = EVAL_POINTS, gated: Sequence[str] = ("step_success",)) -> dict[str, Any]:
    """Spread (max - min, percentage points) of each metric in ``keys`` across backends; the ``gated`` ones must
    stay within ``points``. ``metrics``: backend -> ``bridge eval`` metrics (fractions in [0, 1])."""
    problems: list[str] = []
    spread: dict[str, float] = {}
    for k in keys:
        vals = {b: m.get(k) for b, m in metrics.items()}
        missing = [b for b, v in vals.items() if v is None]
        if missing:
            problems.append(f"{k}: no value for {', '.join(missing)}")
            continue
        pts = {b: 100 * float(v) for b, v in vals.items()}
        spread[k] = max(pts.values()) - min(pts.values())
        if k in gated and spread[k] > points:
            lo, hi = min(pts, key=pts.get), max(pts, key=pts.get)
            problems.append(f"{k}: {hi} {pts[hi]:.1f} % vs {lo} {pts[lo]:.1f} % ({spread[k]:.1f} points > "
                            f"{points:g})")
    return {"points": points, "spread": spread, "ok": not problems, "problems": problems}


#: the planted fault of tests/test_parity.py and ``bench/parity_bench.py --fault-steps``: the ``resized`` frame of
#: the 112x112 learnable screens squeezed to 3136 pixels (smart_resize -> 56x56) while the model still sees
#: 112x112: every click's coordinates halved, as an adapter that scaled to the wrong pixel bound would do
WRONG_FRAME = ("resized", 28, 3136, 3136)


def wrong_frame_export(out: Path, frame: tuple = WRONG_FRAME):
    """A drop-in for :func:`bridge.runs.cached_export` that exports through the recipe's style with ``frame``
    instead of the style's own (into ``out``/<backend>, never into the shared export cache). Monkeypatch it in to
    plant a frame fault; nothing else changes (same samples, same order, same images)."""
    def export(adapter, recipe, smoke=False, echo=print, fresh=False):   # cached_export's signature
        from .frames import Frame
        from .runs import export_dataset, make_style, prompt_options

        style = make_style(recipe.data.style, prompt_options(recipe.data))
        style.frame = lambda: Frame(*frame)
        result, _ = export_dataset(adapter, recipe.data.train, style, recipe.method, Path(out) / adapter.name,
                                   recipe)
        return result, "planted-wrong-frame", False
    return export
