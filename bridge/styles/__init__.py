"""Styles: how a model sees a step and speaks an action (docs/styles.md). See :mod:`bridge.styles.base`.

Built-in styles are registered by dotted path and imported only when asked for; third parties add styles
through the ``gui_bridge.styles`` entry-point group (``name = "package.module:StyleClass"``), or pass a dotted
path ``"package.module:StyleClass"`` directly as the style name.
"""
from __future__ import annotations

import importlib
from .base import Parsed, PromptOptions, Style, Unsupported

ENTRY_POINT_GROUP = "gui_bridge.styles"

#: Built-in styles: name → "module:Class" (imported lazily).
STYLES: dict[str, str] = {
    "qwen25vl": "bridge.styles.qwen:Qwen25VLStyle",
    "qwen2vl": "bridge.styles.qwen:Qwen2VLStyle",
    "qwen3vl": "bridge.styles.qwen:Qwen3VLStyle",
    "gui-r1": "bridge.styles.guir1:GuiR1Style",
    "agentcpm": "bridge.styles.agentcpm:AgentCPMStyle",
    "uitars": "bridge.styles.uitars:UITarsStyle",
    "seed": "bridge.styles.seed:SeedStyle",
    "compact": "bridge.styles.compact:CompactStyle",
}


def _entry_points() -> dict[str, object]:
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # a broken third-party distribution must not break the built-ins
        return {}
    return {ep.name: ep for ep in eps}


def available() -> list[str]:
    """Names of every known style: built-ins first, then entry points."""
    extra = sorted(n for n in _entry_points() if n not in STYLES)
    return list(STYLES) + extra


available_styles = available  # the name bridge.recipe looks for when validating ``data.style``


def _load(target: str):
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def style_class(name: str) -> type[Style]:
    """The :class:`Style` subclass registered as ``name`` (or given as ``"module:Class"``)."""
    from ..errors import BridgeError

    try:
        if name in STYLES:
            cls = _load(STYLES[name])
        elif name in (eps := _entry_points()):
            cls = eps[name].load()
        elif ":" in name:
            cls = _load(name)
        else:
            raise BridgeError(f"unknown style {name!r}", hint="known styles: " + ", ".join(available()))
    except BridgeError:
        raise
    except Exception as e:  # ImportError, AttributeError, errors inside a plug-in's module
        raise BridgeError(f"cannot load style {name!r}: {type(e).__name__}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, Style)):
        raise BridgeError(f"style {name!r} is {cls!r}, not a bridge.styles.base.Style subclass")
    return cls


def get_style(name: str, options: PromptOptions = PromptOptions()) -> Style:
    """An instance of the style ``name`` configured with ``options``."""
    return style_class(name)(options)


__all__ = ["STYLES", "ENTRY_POINT_GROUP", "Parsed", "PromptOptions", "Style", "Unsupported", "available",
           "available_styles", "get_style", "style_class"]
