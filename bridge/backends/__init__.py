"""Backend registry: names -> dotted paths, imported only when asked for (docs/backends.md, docs/backends.md).

One backend is one package, ``bridge/backends/<name>/`` for the built-ins, holding everything of it (found relative
to the package, so an out-of-tree backend is just as complete):

    adapter.py         the :class:`~bridge.backends.base.Adapter` subclass (name, methods, capabilities, gaps)
    templates/         its Jinja templates (rendered by :mod:`bridge.backends.templating`)
    requirements.txt   the pinned environment ``bridge env install <name>`` builds
    logs.py            ``parse(run_dir) -> Parsed`` and ``settings(run_dir, record) -> dict`` (its own logs)
    check.py           the in-environment script ``bridge check`` runs (protocol: bridge/backends/check.py)
    launcher.py        code run inside its environment, where it needs one (TRL, VLM-R1)

Third-party packages register a backend through the entry-point group ``gui_bridge.backends`` (the older group
``gui_bridge.adapters`` is still read)::

    [project.entry-points."gui_bridge.backends"]
    mytrainer = "my_pkg.adapter:MyTrainerAdapter"

A name claimed by two different targets is an error (never a silent override). Importing this module imports no
adapter and no trainer; :func:`get_adapter` imports one adapter module, which itself must not import its trainer
(trainer code runs only inside the backend's environment). The pattern is fsspec's ``known_implementations`` and
ibis' backend entry points: https://filesystem-spec.readthedocs.io/en/latest/api.html#fsspec.registry
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from ..errors import BridgeError

if TYPE_CHECKING:
    from .base import Adapter

ENTRY_POINT_GROUP = "gui_bridge.backends"
#: read too, so adapters published for the first registry keep working
LEGACY_ENTRY_POINT_GROUP = "gui_bridge.adapters"

#: built-in backends, in the order ``bridge backends`` lists them (TRL first: the embedded default)
BUILTIN: Mapping[str, str] = MappingProxyType({
    "trl": "bridge.backends.trl.adapter:TrlAdapter",
    "llamafactory": "bridge.backends.llamafactory.adapter:LlamaFactoryAdapter",
    "swift": "bridge.backends.swift.adapter:SwiftAdapter",
    "verl": "bridge.backends.verl.adapter:VerlAdapter",
    "vlmr1": "bridge.backends.vlmr1.adapter:VlmR1Adapter",
})

DEFAULT_BACKEND = "trl"

_entry_points: dict[str, str] | None = None
_loaded: dict[str, "Adapter"] = {}


def _from_entry_points() -> dict[str, str]:
    global _entry_points
    if _entry_points is None:
        found: dict[str, str] = {}
        for group in (ENTRY_POINT_GROUP, LEGACY_ENTRY_POINT_GROUP):
            for ep in entry_points(group=group):
                prior = found.get(ep.name) or BUILTIN.get(ep.name)
                if prior is not None and prior != ep.value:
                    raise BridgeError(f"backend name {ep.name!r} is claimed twice: {prior} and {ep.value}",
                                      hint="uninstall one of the packages providing it")
                found[ep.name] = ep.value
        _entry_points = found
    return _entry_points


def refresh() -> None:
    """Forget cached entry points and adapters (after installing a backend package in-process, and in tests)."""
    global _entry_points
    _entry_points = None
    _loaded.clear()


def registry() -> dict[str, str]:
    """All known backends (built-in + entry points): name -> ``module:Class``."""
    return {**BUILTIN, **_from_entry_points()}


def backend_names() -> list[str]:
    """Known backend names, built-ins first (in their fixed order), then entry-point ones sorted."""
    return list(BUILTIN) + sorted(set(_from_entry_points()) - set(BUILTIN))


def _load(name: str, target: str) -> type:
    # The adapter contract is imported with the first adapter, not with the registry: bridge.recipe validates
    # backend names against this registry, and the contract (bridge.backends.base) is built on bridge.recipe.
    from .base import Adapter

    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BridgeError(f"backend {name!r}: cannot import its adapter module {module_name!r}: {e}") from e
    cls = getattr(module, attr, None) if attr else None
    if cls is None:   # "module" alone: the single Adapter subclass in it with this name
        matches = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Adapter)
                   and v is not Adapter and getattr(v, "name", None) == name]
        if len(matches) != 1:
            raise BridgeError(f"backend {name!r}: {target} does not define an adapter class named {name!r}")
        cls = matches[0]
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise BridgeError(f"backend {name!r}: {target} is not a bridge Adapter subclass")
    if getattr(cls, "name", None) != name:
        raise BridgeError(f"backend {name!r}: {target} declares name {getattr(cls, 'name', None)!r}",
                          hint="the registry name and the adapter's `name` must agree")
    return cls


def get_adapter(name: str) -> "Adapter":
    """The adapter instance for backend ``name`` (imported on first use, then cached)."""
    if name in _loaded:
        return _loaded[name]
    reg = registry()
    if name not in reg:
        raise BridgeError(f"unknown backend {name!r}", hint="known backends: " + ", ".join(backend_names()))
    adapter = _load(name, reg[name])()
    _loaded[name] = adapter
    return adapter


def available_adapters() -> dict[str, "Adapter"]:
    """Every backend whose adapter module imports (a broken third-party one is left out; ``bridge backends``
    shows why)."""
    out = {}
    for name in backend_names():
        try:
            out[name] = get_adapter(name)
        except BridgeError:
            continue
    return out


__all__ = ["BUILTIN", "DEFAULT_BACKEND", "ENTRY_POINT_GROUP", "LEGACY_ENTRY_POINT_GROUP", "available_adapters",
           "backend_names", "get_adapter", "refresh", "registry"]
