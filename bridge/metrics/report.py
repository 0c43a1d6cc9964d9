"""The result of an offline evaluation: counts, rates, a per-action-type breakdown, a dict/JSON form and a
plain-text table for the terminal."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional

EXAMPLES = 10   # ids listed per problem kind (counts are always complete)


@dataclass
class StepResult:
    id: str                           # "<episode_id>/<step index>"
    gt_type: str                      # canonical ground-truth action type
    outcome: str                      # "ok" | "missing" | "parse_failure"
    type_match: bool = False
    success: bool = False
    grounded: Optional[bool] = None   # None: not a point step
    pred_type: Optional[str] = None   # canonical predicted type (None if missing / unparsable)
    error: Optional[str] = None       # the parser's message for a parse failure
    note: Optional[str] = None
    category: Optional[str] = None    # the ground truth's type in the profile's vocabulary
    part: Optional[str] = None        # the publisher's bucket for the step (gui-r1: grounding / text)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class TypeStats:
    steps: int = 0
    type_match: int = 0
    success: int = 0
    grounding_steps: int = 0
    grounded: int = 0

    def add(self, r: StepResult) -> None:
        self.steps += 1
        self.type_match += r.type_match
        self.success += r.success
        if r.grounded is not None:
            self.grounding_steps += 1
            self.grounded += r.grounded

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "type_match": self.type_match, "success": self.success,
                "grounding_steps": self.grounding_steps, "grounded": self.grounded,
                "type_accuracy": _rate(self.type_match, self.steps), "step_success": _rate(self.success, self.steps),
                "grounding_accuracy": _rate(self.grounded, self.grounding_steps)}


def _rate(n: float, d: int) -> Optional[float]:
    return n / d if d else None


@dataclass
class Report:
    """Offline metrics of one (dataset, predictions, style, profile).

    Every step of the dataset is counted: a step without a prediction (``missing``) or whose prediction the
    style cannot parse (``parse_failures``) is wrong on every metric. ``unexpected`` counts prediction ids that
    name no step of the dataset. Rates are fractions in [0, 1] (None when their denominator is 0).
    """

    profile: str
    style: str
    steps: int = 0
    episodes: int = 0
    predicted: int = 0
    missing: int = 0
    parse_failures: int = 0
    unexpected: int = 0
    type_match: int = 0
    success: int = 0
    grounding_steps: int = 0
    grounded: int = 0
    episode_successes: int = 0
    goal_progress_sum: float = 0.0
    empty_episodes: int = 0
    per_type: dict[str, TypeStats] = field(default_factory=dict)
    notes: Counter = field(default_factory=Counter)
    missing_ids: list[str] = field(default_factory=list)
    unexpected_ids: list[str] = field(default_factory=list)
    parse_failure_examples: list[dict[str, str]] = field(default_factory=list)
    step_results: list[StepResult] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    #: the publisher's own totals when its aggregation differs from per-step counting (gui-r1's eval_omni):
    #: {"type" | "step" | "grounding": (hits, total)}; the headline rates then use them
    published: Optional[dict[str, tuple[int, int]]] = None
    excluded: int = 0                 # steps the profile does not score (e.g. synthetic terminal steps)
    excluded_ids: list[str] = field(default_factory=list)

    # --- accumulation -------------------------------------------------------------------------------------
    def add_step(self, r: StepResult) -> None:
        self.steps += 1
        if r.outcome == "missing":
            self.missing += 1
            if len(self.missing_ids) < EXAMPLES:
                self.missing_ids.append(r.id)
        else:
            self.predicted += 1
            if r.outcome == "parse_failure":
                self.parse_failures += 1
                if len(self.parse_failure_examples) < EXAMPLES:
                    self.parse_failure_examples.append({"id": r.id, "error": r.error or ""})
        self.type_match += r.type_match
        self.success += r.success
        if r.grounded is not None:
            self.grounding_steps += 1
            self.grounded += r.grounded
        if r.note:
            self.notes[r.note] += 1
        self.per_type.setdefault(r.gt_type, TypeStats()).add(r)
        self.step_results.append(r)

    def add_episode(self, results: list[StepResult]) -> None:
        """Episode success = every step right; goal progress = leading right steps / steps (AgentCPM-GUI's
        ``compute_episode_metrics``). Episodes without steps are counted apart, not averaged."""
        if not results:
            self.empty_episodes += 1
            return
        self.episodes += 1
        lead = 0
        for r in results:
            if not r.success:
                break
            lead += 1
        self.episode_successes += lead == len(results)
        self.goal_progress_sum += lead / len(results)

    # --- rates --------------------------------------------------------------------------------------------
    def _headline(self, key: str, hits: int, total: int) -> tuple[int, int]:
        return self.published[key] if self.published else (hits, total)

    @property
    def type_accuracy(self) -> Optional[float]:
        return _rate(*self._headline("type", self.type_match, self.steps))

    @property
    def step_success(self) -> Optional[float]:
        return _rate(*self._headline("step", self.success, self.steps))

    @property
    def grounding_accuracy(self) -> Optional[float]:
        return _rate(*self._headline("grounding", self.grounded, self.grounding_steps))

    @property
    def episode_success(self) -> Optional[float]:
        return _rate(self.episode_successes, self.episodes)

    @property
    def goal_progress(self) -> Optional[float]:
        return _rate(self.goal_progress_sum, self.episodes)

    @property
    def parse_failure_rate(self) -> Optional[float]:
        return _rate(self.parse_failures, self.predicted)

    # --- output -------------------------------------------------------------------------------------------
    def to_dict(self, per_step: bool = False) -> dict[str, Any]:
        """JSON-ready form; ``per_step`` adds one verdict per step."""
        d: dict[str, Any] = {
            "profile": self.profile, "style": self.style,
            "metrics": {"type_accuracy": self.type_accuracy, "step_success": self.step_success,
                        "grounding_accuracy": self.grounding_accuracy, "episode_success": self.episode_success,
                        "goal_progress": self.goal_progress, "parse_failure_rate": self.parse_failure_rate},
            "counts": {"steps": self.steps, "episodes": self.episodes, "predicted": self.predicted,
                       "missing": self.missing, "parse_failures": self.parse_failures,
                       "unexpected": self.unexpected, "type_match": self.type_match, "success": self.success,
                       "grounding_steps": self.grounding_steps, "grounded": self.grounded,
                       "episode_successes": self.episode_successes, "empty_episodes": self.empty_episodes},
            "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())},
            "notes": dict(self.notes),
            "examples": {"missing": self.missing_ids, "unexpected": self.unexpected_ids,
                         "parse_failures": self.parse_failure_examples},
        }
        if self.published:
            d["published"] = {k: {"hits": h, "total": t} for k, (h, t) in self.published.items()}
        if self.excluded:
            d["counts"]["excluded"] = self.excluded
            d["examples"]["excluded"] = self.excluded_ids
        if self.meta:
            d["meta"] = self.meta
        if per_step:
            d["steps"] = [r.to_dict() for r in self.step_results]
        return d

    def render(self) -> str:
        """A plain-text table for the terminal (no colour, fixed width)."""
        out = [f"profile {self.profile} · style {self.style} · {_n(self.steps, 'step')} in "
               f"{_n(self.episodes, 'episode')}"]
        frame = self.meta.get("frame")
        if frame and frame.get("kind") == "resized":   # what the model's coordinates were inverted with
            out[0] += (f" · frame resized (factor {frame['factor']}, "
                       f"pixels {frame['min_pixels']}..{frame['max_pixels']})")
        elif frame:
            out[0] += f" · frame {frame['kind']}"
        line = f"predictions: {self.predicted} for {self.steps} steps"
        line += f" · missing {self.missing} · parse failures {self.parse_failures}"
        if self.unexpected:
            line += f" · unexpected ids {self.unexpected}"
        out.append(line)
        out.append("")
        tm, sc, gr = (self._headline(k, h, t) for k, h, t in (
            ("type", self.type_match, self.steps), ("step", self.success, self.steps),
            ("grounding", self.grounded, self.grounding_steps)))
        rows = [("type accuracy", self.type_accuracy, "%d/%d" % tm),
                ("step success", self.step_success, "%d/%d" % sc),
                ("grounding accuracy", self.grounding_accuracy, "%d/%d" % gr),
                ("episode success", self.episode_success, f"{self.episode_successes}/{self.episodes}"),
                ("goal progress", self.goal_progress, f"{self.goal_progress_sum:.2f}/{self.episodes}")]
        out += _table(("metric", "value", "count"), [(n, _pct(v), c) for n, v, c in rows], ("<", ">", ">"))
        if self.per_type:
            out.append("")
            body = [(k, str(s.steps), _pct(_rate(s.type_match, s.steps)), _pct(_rate(s.success, s.steps)),
                     _pct(_rate(s.grounded, s.grounding_steps)))
                    for k, s in sorted(self.per_type.items())]
            out += _table(("action type", "steps", "type acc", "success", "grounding"), body,
                          ("<", ">", ">", ">", ">"))
        if self.published:
            out.append("note: type / step / grounding follow the publisher's totals (see the profile's docs)")
        if self.excluded:
            out.append(f"note: {self.excluded} step(s) not scored by this profile (synthetic), e.g.: "
                       + ", ".join(self.excluded_ids))
        for note, n in sorted(self.notes.items()):
            out.append(f"note: {n} step(s): {note}")
        if self.missing_ids:
            out.append("missing predictions, e.g.: " + ", ".join(self.missing_ids))
        if self.parse_failure_examples:
            ex = self.parse_failure_examples[0]
            out.append(f"parse failure, e.g. {ex['id']}: {ex['error'][:120]}")
        if self.unexpected_ids:
            out.append("prediction ids not in the dataset, e.g.: " + ", ".join(self.unexpected_ids))
        return "\n".join(out)


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _pct(v: Optional[float]) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _table(header, rows, align) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(r):
        return "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
