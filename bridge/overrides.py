"""Dotted command-line overrides of a recipe: ``train.lr=2e-5 data.train=data/mine grpo.rewards[0].weight=2``.

What ``llamafactory-cli train x.yaml key=value`` and ``tune run ... key=value`` users type. Each value is typed by
the field it lands on in :class:`bridge.recipe.Recipe` — a string field keeps the text as written (``name=007``
stays ``"007"``), any other field reads it as a YAML value (``1e-4`` → 0.0001, ``true``, ``[tensorboard]``,
``null``) — and the overridden mapping is then validated exactly like the file, every problem located at the
override (``override train.lr=abc``) instead of a file line."""
from __future__ import annotations

import re
import typing
from typing import Any, Optional

from .errors import BridgeError, Problem

_ITEM = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+|\[\d+\])*$")


def is_override(arg: str) -> bool:
    """``key.sub=value`` (the key part a dotted path), as opposed to a file or directory argument."""
    key, eq, _ = arg.partition("=")
    return bool(eq) and bool(_PATH.match(key))


def split_path(key: str) -> list[Any]:
    """``grpo.rewards[0].weight`` → ``["grpo", "rewards", 0, "weight"]``."""
    return [int(i) if i else n for n, i in _ITEM.findall(key)]


def parse_overrides(args: tuple[str, ...] | list[str], model: Any = None) -> list[tuple[str, list[Any], Any]]:
    """``(text, path, typed value)`` for each ``key=value``; a malformed one is a located error (all at once)."""
    out, problems = [], []
    for arg in args:
        key, eq, raw = arg.partition("=")
        if not eq or not _PATH.match(key):
            problems.append(Problem(f"override {arg}", "not a dotted override", expected="key.sub=value",
                                    found=arg))
            continue
        path = split_path(key)
        try:
            out.append((arg, path, typed_value(raw, _annotation(model, path) if model is not None else Any)))
        except ValueError as e:
            problems.append(Problem(f"override {arg}", str(e), field=key))
    if problems:
        raise BridgeError(f"{len(problems)} bad override(s)", problems=problems)
    return out


def apply_overrides(data: dict[str, Any], overrides: list[tuple[str, list[Any], Any]]) -> dict[str, Any]:
    """A copy of the raw recipe mapping with every override set (missing sections are created)."""
    import copy

    data = copy.deepcopy(data)
    problems = []
    for text, path, value in overrides:
        node: Any = data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    problems.append(Problem(f"override {text}", f"no element [{part}] to set in the recipe"))
                    break
                node = node[part]
                continue
            if not isinstance(node.get(part), (dict, list)):
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
        else:
            last = path[-1]
            if isinstance(last, int):
                if not isinstance(node, list) or last >= len(node):
                    problems.append(Problem(f"override {text}", f"no element [{last}] to set in the recipe"))
                    continue
            elif not isinstance(node, dict):
                problems.append(Problem(f"override {text}", "its parent is not a mapping in the recipe"))
                continue
            node[last] = value
    if problems:
        raise BridgeError(f"{len(problems)} bad override(s)", problems=problems)
    return data


def typed_value(raw: str, annotation: Any) -> Any:
    """``raw`` as the type the field declares (see the module docstring)."""
    import yaml

    if _is_str(annotation):
        return None if raw in ("null", "~") and _optional(annotation) else raw
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError as e:
        raise ValueError(f"not a YAML value: {raw!r} ({getattr(e, 'problem', e)})") from None
    if isinstance(value, str) and _accepts(annotation, float):
        try:   # YAML 1.1 reads "1e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    return value


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Union else ()


def _optional(annotation: Any) -> bool:
    return type(None) in _args(annotation)


def _accepts(annotation: Any, t: type) -> bool:
    return annotation is t or t in _args(annotation)


def _is_str(annotation: Any) -> bool:
    """A plain (optional) string field; a Literal of strings too (its values are words, never YAML)."""
    args = [a for a in _args(annotation) if a is not type(None)] or [annotation]
    return all(a is str or (typing.get_origin(a) is typing.Literal and all(isinstance(v, str)
                                                                          for v in typing.get_args(a)))
               for a in args)


def _annotation(model: Any, path: list[Any]) -> Any:
    """The declared type at ``path`` in a pydantic model (``Any`` where it cannot tell: unknown keys are left
    to the model's own validation, which reports them with their path)."""
    from pydantic import BaseModel

    ann: Any = model
    for part in path:
        ann = _unwrap(ann)
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel) and isinstance(part, str):
            f = ann.model_fields.get(part)
            if f is None:
                return Any
            ann = f.annotation
        elif origin is dict and isinstance(part, str):
            ann = typing.get_args(ann)[1]
        elif origin is list and isinstance(part, int):
            ann = typing.get_args(ann)[0]
        else:
            return Any
    return ann


def _unwrap(ann: Any) -> Any:
    """``Optional[X]`` → X; a Union of a model/dict/list with something else → that container."""
    args = [a for a in _args(ann) if a is not type(None)]
    if not args:
        return ann
    for a in args:
        if typing.get_origin(a) in (dict, list) or isinstance(a, type) and hasattr(a, "model_fields"):
            return a
    return args[0]


def located(problems: list[Problem], overrides: list[tuple[str, list[Any], Any]]) -> list[Problem]:
    """Problems whose field an override set (or lies under one) are located at that override, not the file."""
    def origin(field: Optional[str]) -> Optional[str]:
        for text, _, _ in reversed(overrides):
            key = text.partition("=")[0]
            if field and (field == key or field.startswith(key + ".") or field.startswith(key + "[")):
                return text
        return None

    out = []
    for p in problems:
        o = origin(p.field)
        out.append(Problem(f"override {o}", p.message, field=p.field, expected=p.expected, found=p.found)
                   if o else p)
    return out
