"""Online evaluation: whole episodes in a live environment, per task and per policy — success rate, mean
reward, turns — with the random and oracle baselines beside the model (``bridge eval --env miniwob``).
Every policy plays the same (task, seed) episodes, so the columns compare like with like.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional

from .rollout import EnvPool, EpisodeResult, Policy


@dataclass
class TaskStats:
    episodes: int = 0
    successes: int = 0
    reward: float = 0.0          # sum of end-of-episode rewards
    turns: int = 0
    no_action: int = 0           # turns whose output gave no action (parse failures, failed requests)
    invalid: int = 0             # actions the environment could not perform
    timed_out: int = 0           # episodes the task's own clock ended (MiniWoB: reward -1 after 10 s)

    def add(self, r: EpisodeResult) -> None:
        self.episodes += 1
        self.successes += r.success
        self.reward += r.reward
        self.turns += len(r.turns)
        self.no_action += sum(t.decision.action is None for t in r.turns)
        self.invalid += sum(t.decision.action is not None and "invalid_action" in t.info for t in r.turns)
        self.timed_out += bool(r.turns) and r.turns[-1].info.get("reason") == "timed out"

    def to_dict(self) -> dict[str, Any]:
        n = max(self.episodes, 1)
        return {"episodes": self.episodes, "success_rate": self.successes / n, "mean_reward": self.reward / n,
                "mean_turns": self.turns / n, "no_action_turns": self.no_action, "invalid_actions": self.invalid,
                "timed_out": self.timed_out}


@dataclass
class OnlineReport:
    tasks: list[str]
    stats: dict[str, dict[str, TaskStats]] = field(default_factory=dict)   # policy -> task -> stats
    meta: dict[str, Any] = field(default_factory=dict)

    def overall(self, policy: str) -> TaskStats:
        total = TaskStats()
        for s in self.stats[policy].values():
            for k in ("episodes", "successes", "reward", "turns", "no_action", "invalid", "timed_out"):
                setattr(total, k, getattr(total, k) + getattr(s, k))
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "tasks": self.tasks,
                "policies": {p: {"overall": self.overall(p).to_dict(), **{t: s.to_dict() for t, s in per.items()}}
                             for p, per in self.stats.items()}}

    def render(self) -> str:
        policies = list(self.stats)
        head = ["task"] + [f"{p} success / reward" for p in policies]
        rows = []
        for t in self.tasks + ["(all)"]:
            row = [t]
            for p in policies:
                d = (self.overall(p) if t == "(all)" else self.stats[p][t]).to_dict()
                row.append(f"{d['success_rate'] * 100:5.1f}% / {d['mean_reward']:+.2f}")
            rows.append(row)
        widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head] + rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        first, n = self.meta.get("seed", 0), self.meta.get("episodes") or 1
        notes = [f"{n} episode(s) per task, seeds {first}..{first + n - 1}; reward: {self.meta.get('reward')}"]
        for p in policies:
            o = self.overall(p)
            if o.no_action or o.invalid:
                notes.append(f"{p}: {o.no_action} turn(s) without an action, {o.invalid} invalid action(s)")
            if o.timed_out:
                notes.append(f"{p}: {o.timed_out} episode(s) ran out of time (the task's clock; --time-limit "
                             f"raises it for slow models)")
        return "\n".join(lines + [""] + notes)


def evaluate_online(pool: EnvPool, tasks: list[str], episodes: int, policies: list[Policy], *, seed: int = 0,
                    save: Optional[IO[str]] = None, progress: Optional[Callable[[int], None]] = None) -> OnlineReport:
    """Each policy plays ``episodes`` episodes (seeds ``seed``..) of every task in ``pool``."""
    report = OnlineReport(tasks=list(tasks), meta={"episodes": episodes, "seed": seed})
    jobs = [(t, seed + k) for t in tasks for k in range(episodes)]
    for policy in policies:
        per = report.stats.setdefault(policy.name, {t: TaskStats() for t in tasks})
        for result in pool.run(jobs, policy):
            per[result.task].add(result)
            if save is not None:
                save.write(json.dumps(episode_json(policy.name, result), ensure_ascii=False) + "\n")
            if progress:
                progress(1)
    return report


def episode_json(policy: str, r: EpisodeResult) -> dict[str, Any]:
    """One played episode as a JSON line: what the policy said and did each turn, and what it got."""
    turns = []
    for t in r.turns:
        turn: dict[str, Any] = {"action": t.decision.action.compact() if t.decision.action else None,
                                "reward": t.reward}
        for key, value in (("completion", t.decision.completion), ("error", t.decision.error),
                           ("invalid_action", t.info.get("invalid_action"))):
            if value is not None:
                turn[key] = value
        turns.append(turn)
    return {"policy": policy, "task": r.task, "seed": r.seed, "instruction": r.instruction, "success": r.success,
            "reward": r.reward, "raw_reward": r.raw_reward, "truncated": r.truncated,
            "seconds": round(r.seconds, 3), "turns": turns}
