"""GUI environments: live interfaces a policy acts in, turn by turn, in the canonical vocabulary
(observation = screenshot + instruction + elements, action = canonical :class:`~bridge.schema.Action` in
screenshot pixels; contract in :mod:`.base`). MiniWoB++ is the first (:mod:`.miniwob`).

(``bridge/envs.py`` is something else: the trainers' virtualenvs.)

Python API::

    from bridge.environments import make_env, make_pool
    from bridge.environments.policies import OraclePolicy

    with make_env("miniwob", task="click-test-2") as env:
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(action)

    with make_pool("miniwob", size=2) as pool:
        for result in pool.run([("click-test-2", s) for s in range(10)], OraclePolicy()):
            print(result.task, result.seed, result.success)
"""
from __future__ import annotations

from typing import Any

#: environment name -> "module:class" (imported on use: nothing here loads selenium)
ENVIRONMENTS = {"miniwob": "bridge.environments.miniwob:MiniWoBEnv"}


def env_class(name: str):
    import importlib

    from ..errors import BridgeError

    if name not in ENVIRONMENTS:
        raise BridgeError(f"unknown environment {name!r} (known: {', '.join(sorted(ENVIRONMENTS))})")
    module, cls = ENVIRONMENTS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make_env(name: str, **options: Any):
    """One environment ``name`` (options go to its constructor, e.g. ``task``, ``max_turns``)."""
    return env_class(name)(**options)


def make_pool(name: str, size: int = 1, **options: Any):
    """An :class:`~.rollout.EnvPool` of ``size`` environments ``name``, started in parallel."""
    from .rollout import EnvPool

    cls = env_class(name)
    return EnvPool(lambda: cls(**options), size)


__all__ = ["ENVIRONMENTS", "env_class", "make_env", "make_pool"]
