"""Backend adapter registry: names -> dotted paths, imported only when asked for (DESIGN.md §5).

Built-in adapters live in this package. Third-party packages add adapters through the entry-point group
``gui_bridge.adapters``::

    [project.entry-points."gui_bridge.adapters"]
    mytrainer = "my_pkg.bridge_adapter:MyTrainerAdapter"

A name claimed by two different targets is an error (never a silent override). Importing this module imports
no adapter and no trainer; :func:`get_adapter` imports one adapter module, which itself must not import its
trainer (trainer code runs only inside the backend's environment, see ``bridge/launchers/``).

A dotted path is ``"module:Class"``. If ``Class`` is missing from the module, the single
:class:`~bridge.adapters.base.Adapter` subclass in it whose ``name`` matches is used.
"""
from __future__ import annotations

import importlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from ..errors import BridgeError

if TYPE_CHECKING:
    from .base import Adapter

ENTRY_POINT_GROUP = "gui_bridge.adapters"

#: built-in adapters, in the order ``bridge backends`` lists them (TRL first: the embedded default)
ADAPTERS: Mapping[str, str] = MappingProxyType({
    "trl": "bridge.adapters.trl:TrlAdapter",
    "llamafactory": "bridge.adapters.llamafactory:LlamaFactoryAdapter",
    "swift": "bridge.adapters.swift:SwiftAdapter",
    "verl": "bridge.adapters.verl:VerlAdapter",
    "vlmr1": "bridge.adapters.vlmr1:VlmR1Adapter",
})

DEFAULT_BACKEND = "trl"

_entry_points: dict[str, str] | None = None
_loaded: dict[str, "Adapter"] = {}


def _from_entry_points() -> dict[str, str]:
    global _entry_points
    if _entry_points is None:
        from importlib.metadata import entry_points

        found: dict[str, str] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            prior = found.get(ep.name) or ADAPTERS.get(ep.name)
            if prior is not None and prior != ep.value:
                raise BridgeError(f"backend name {ep.name!r} is claimed twice: {prior} and {ep.value}",
                                  hint="uninstall one of the packages providing it")
            found[ep.name] = ep.value
        _entry_points = found
    return _entry_points


def registry() -> dict[str, str]:
    """All known backends (built-in + entry points): name -> ``module:Class``."""
    out = dict(ADAPTERS)
    out.update(_from_entry_points())
    return out


def adapter_names() -> list[str]:
    """Known backend names, built-ins first (in their fixed order), then entry-point ones sorted."""
    extra = sorted(set(_from_entry_points()) - set(ADAPTERS))
    return list(ADAPTERS) + extra


def _load(name: str, target: str) -> type:
    from .base import Adapter

    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BridgeError(f"backend {name!r}: cannot import its adapter module {module_name!r}: {e}") from e
    cls = getattr(module, attr, None) if attr else None
    if cls is None:
        matches = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Adapter)
                   and v is not Adapter and getattr(v, "name", None) == name]
        if len(matches) != 1:
            raise BridgeError(f"backend {name!r}: {target} does not define an adapter class named {name!r}")
        cls = matches[0]
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise BridgeError(f"backend {name!r}: {target} is not a bridge Adapter subclass")
    return cls


def get_adapter(name: str) -> "Adapter":
    """The adapter instance for backend ``name`` (imported on first use, then cached)."""
    if name in _loaded:
        return _loaded[name]
    reg = registry()
    if name not in reg:
        raise BridgeError(f"unknown backend {name!r}", hint="known backends: " + ", ".join(adapter_names()))
    adapter = _load(name, reg[name])()
    _loaded[name] = adapter
    return adapter


def available_adapters() -> dict[str, "Adapter"]:
    """Every backend whose adapter module imports (those not written yet are left out)."""
    out = {}
    for name in adapter_names():
        try:
            out[name] = get_adapter(name)
        except BridgeError:
            continue
    return out


__all__ = ["ADAPTERS", "DEFAULT_BACKEND", "ENTRY_POINT_GROUP", "adapter_names", "available_adapters",
           "get_adapter", "registry"]
