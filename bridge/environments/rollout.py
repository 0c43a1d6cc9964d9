"""Episodes in an environment: a policy acts turn by turn until the environment ends the episode or
``max_turns`` truncates it; a pool of N environments (one browser each) runs many episodes at once.

The pool uses threads: a turn is mostly waiting on the browser (HTTP to chromedriver, rendering, PNG decode
outside the GIL), so N threads keep N browsers busy; results come back in the order the jobs were given.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

from ..errors import BridgeError
from ..schema import Action
from .base import GuiEnv, Observation


@dataclass
class Decision:
    """What a policy did in one turn: the canonical action (None: none could be parsed), the model's text when
    a model produced it, and why there is no action."""

    action: Optional[Action]
    completion: Optional[str] = None
    error: Optional[str] = None


@dataclass
class Turn:
    observation: Observation
    decision: Decision
    reward: float
    info: dict[str, Any]


@dataclass
class EpisodeResult:
    task: str
    seed: Optional[int]
    instruction: str
    turns: list[Turn] = field(default_factory=list)
    reward: float = 0.0          # the environment's reward at the end (raw or decayed, as the env was built)
    raw_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        """MiniWoB's rule: a positive raw reward (1.0 on most tasks; partial credit on a few)."""
        return self.raw_reward > 0


class Policy:
    """Maps the current observation (and the episode so far) to a :class:`Decision`. Shared by the pool's
    threads: implementations keep no per-episode state outside the arguments, or lock it."""

    name = "policy"

    def act(self, obs: Observation, history: list[Turn]) -> Decision:
        raise NotImplementedError


def run_episode(env: GuiEnv, policy: Policy, task: str, seed: Optional[int]) -> EpisodeResult:
    """One episode of ``task`` with ``seed``: reset, then act until terminated or truncated."""
    import time

    start = time.perf_counter()
    obs, _ = env.reset(seed=seed, options={"task": task})
    result = EpisodeResult(task=task, seed=seed, instruction=obs.instruction)
    while True:
        decision = policy.act(obs, result.turns)
        nxt, reward, terminated, truncated, info = env.step(decision.action)
        result.turns.append(Turn(obs, decision, reward, info))
        obs = nxt
        if terminated or truncated:
            result.reward, result.raw_reward = reward, float(info.get("raw_reward", reward))
            result.terminated, result.truncated = terminated, truncated
            break
    result.seconds = time.perf_counter() - start
    return result


class EnvPool:
    """``size`` environments made by ``make`` (started in parallel); :meth:`run` plays jobs on them."""

    def __init__(self, make: Callable[[], GuiEnv], size: int = 1):
        if size < 1:
            raise BridgeError(f"a pool needs at least one environment, got {size}")
        self.envs: list[GuiEnv] = []
        with ThreadPoolExecutor(size) as ex:
            futures = [ex.submit(make) for _ in range(size)]
            errors = []
            for f in futures:
                try:
                    self.envs.append(f.result())
                except BaseException as e:   # collected: the others are closed before re-raising
                    errors.append(e)
        if errors:
            self.close()
            raise errors[0]
        self._free: "queue.SimpleQueue[GuiEnv]" = queue.SimpleQueue()
        for env in self.envs:
            self._free.put(env)
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self.envs)

    @property
    def free(self) -> int:
        return self._free.qsize()

    def lease(self, timeout: Optional[float] = None) -> GuiEnv:
        """A free environment, for the caller alone until :meth:`release` (``queue.Empty`` after ``timeout``)."""
        return self._free.get(timeout=timeout)

    def release(self, env: GuiEnv) -> None:
        self._free.put(env)

    def run(self, jobs: Iterable[tuple[str, Optional[int]]], policy: Policy) -> Iterator[EpisodeResult]:
        """Play each ``(task, seed)`` job with ``policy``; results in job order."""
        def one(job):
            env = self.lease()
            try:
                return run_episode(env, policy, job[0], job[1])
            finally:
                self.release(env)

        jobs = list(jobs)
        if self.size == 1:
            for job in jobs:
                yield one(job)
            return
        with ThreadPoolExecutor(self.size) as ex:
            futures = [ex.submit(one, j) for j in jobs]
            try:
                for f in futures:
                    yield f.result()
            finally:
                for f in futures:
                    f.cancel()

    def close(self) -> None:
        for env in self.envs:
            try:
                env.close()
            except Exception:
                pass
        self.envs = []

    def __enter__(self) -> "EnvPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
