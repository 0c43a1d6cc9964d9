"""Policies: the scripted oracle, a uniformly random clicker, and a model seen through a style (its renderer
builds the prompt from the episode so far, its parser turns the completion into a canonical action).

A model policy renders exactly what offline training and evaluation render: the running episode is a
canonical :class:`~bridge.schema.Episode` (screenshots written as PNG files, past actions as taken), so
``style.messages`` gives the same prompt text and pixels as for a recorded dataset.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
import threading
from typing import Any, Callable, Optional

from ..schema import Action, Episode, Step
from .base import Observation
from .rollout import Decision, Policy, Turn


class OraclePolicy(Policy):
    """The task's scripted oracle (:mod:`.oracles`); no oracle for the task or a lost oracle: no action."""

    name = "oracle"

    def act(self, obs: Observation, history: list[Turn]) -> Decision:
        from .oracles import ORACLES, oracle_action

        task = obs.meta.get("task")
        if task not in ORACLES:
            return Decision(None, error=f"no oracle for task {task!r}")
        action = oracle_action(task, obs.meta.get("dom", []), obs.meta.get("fields", {}))
        return Decision(action, error=None if action else "the oracle found no target")


class RandomPolicy(Policy):
    """A click at a uniformly random pixel of the screen; reproducible per (seed, task, episode seed, turn)."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def act(self, obs: Observation, history: list[Turn]) -> Decision:
        rng = random.Random(f"{self.seed}/{obs.meta.get('task')}/{obs.meta.get('seed')}/{len(history)}")
        return Decision(Action(type="click", point=(round(rng.uniform(0, obs.width - 1), 1),
                                                    round(rng.uniform(0, obs.height - 1), 1))))


class ModelPolicy(Policy):
    """A model behind ``generate(messages) -> text`` (a local model or an endpoint), prompted by ``style``."""

    name = "model"

    def __init__(self, style, generate: Callable[[list[dict[str, Any]]], str], name: str = "model"):
        self.style, self.generate, self.name = style, generate, name
        self.workdir = tempfile.mkdtemp(prefix="bridge-rollout-")
        self.failures = 0
        self._count = 0
        self._lock = threading.Lock()

    def _path(self, obs: Observation) -> str:
        path = obs.meta.get("screenshot_path")
        if path is None:
            with self._lock:
                self._count += 1
                n = self._count
            path = os.path.join(self.workdir, f"screen_{n:07d}.png")
            obs.image.save(path, format="PNG")
            obs.meta["screenshot_path"] = path
        return path

    def episode(self, obs: Observation, history: list[Turn]) -> Episode:
        """The running episode in the canonical format; the current step's action is a placeholder."""
        steps = [Step(index=k, screenshot=self._path(t.observation), width=t.observation.width,
                      height=t.observation.height, action=t.decision.action or Action(type="wait"))
                 for k, t in enumerate(history)]
        steps.append(Step(index=len(history), screenshot=self._path(obs), width=obs.width, height=obs.height,
                          action=Action(type="wait")))
        return Episode(episode_id=f"{obs.meta.get('task')}-{obs.meta.get('seed')}", instruction=obs.instruction,
                       platform="web", app=obs.meta.get("task"), source="environment", steps=steps)

    def prompt(self, obs: Observation, history: list[Turn]) -> list[dict[str, Any]]:
        return self.style.messages(self.episode(obs, history), len(history), "/")

    def act(self, obs: Observation, history: list[Turn]) -> Decision:
        try:
            text = self.generate(self.prompt(obs, history))
        except Exception as e:   # an endpoint that failed for this turn: the turn is lost, the run goes on
            with self._lock:
                self.failures += 1
            return Decision(None, error=f"generation failed: {e}")
        parsed = self.style.parse_action(text, obs.width, obs.height)
        return Decision(parsed.action, completion=text, error=parsed.error)

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def local_generator(model_dir: str, *, device: str = "auto", max_new_tokens: int = 64, processor=None,
                    temperature: float = 0.0) -> Callable[[list[dict[str, Any]]], str]:
    """``generate(messages) -> text`` with a local transformers model loaded once (greedy, or sampled at
    ``temperature`` > 0; one prompt at a time under a lock — the pool's threads share the model)."""
    from ..evaluate import generate_batch, load_model, load_processor

    processor = processor or load_processor(model_dir)
    model, _ = load_model(model_dir, device)
    lock = threading.Lock()

    def generate(messages):
        with lock:
            return generate_batch(model, processor, [messages], max_new_tokens=max_new_tokens,
                                  temperature=temperature)[0]

    return generate


def endpoint_generator(url: str, *, model_name: Optional[str] = None, max_new_tokens: int = 64,
                       timeout: float = 120.0, retries: int = 2, api_key: Optional[str] = None,
                       temperature: float = 0.0) -> Callable[[list[dict[str, Any]]], str]:
    """``generate(messages) -> text`` with an OpenAI-compatible chat endpoint (checked reachable first)."""
    from ..evaluate import chat_completion, check_reachable, endpoint_urls, resolve_model_name

    check_reachable(url, api_key, min(timeout, 10.0))
    name = model_name or resolve_model_name(url, api_key, min(timeout, 30.0))
    _, chat_url = endpoint_urls(url)

    def generate(messages):
        return chat_completion(chat_url, messages, model_name=name, max_new_tokens=max_new_tokens,
                               timeout=timeout, retries=retries, api_key=api_key, temperature=temperature)

    return generate
