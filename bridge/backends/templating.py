"""One Jinja environment for every backend's templates, and the value writers its filters use.

Templates live in the ``templates/`` folder of the backend's own package (``bridge/backends/<name>/templates/``, or
an out-of-tree backend's), loaded with :class:`jinja2.PackageLoader`, so an installed backend ships its own.
Undefined variables are errors (``StrictUndefined``: a missing value is a bug, never a blank), block tags eat
their line (``trim_blocks``/``lstrip_blocks``), and values are written by filters, never quoted by hand:

* ``yaml`` — :func:`yaml_value`, one-line inline YAML that reads back identically;
* ``hydra`` — :func:`hydra_value`, Hydra's override grammar (verl's command line).
"""
from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

import jinja2
import yaml


def yaml_value(value: Any) -> str:
    """One value as single-line inline YAML that reads back identically: strings as JSON strings (valid YAML
    double-quoted scalars, escapes included), floats as PyYAML writes them (``1.0e-05``: YAML 1.1 loaders — PyYAML,
    hence LLaMA-Factory and ms-swift — read JSON's ``1e-05`` as a *string*), containers in flow style."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return yaml.safe_dump(value).removesuffix("\n").removesuffix("\n...").strip()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {yaml_value(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


#: what Hydra's override lexer reads as one plain string (an ID or a path; never a number, bool or interpolation)
_BARE = re.compile(r"^[A-Za-z_/][A-Za-z0-9_/\-.+@%]*$")
_QUOTE_OR_END = re.compile(r"(\\*)('|$)")
_RESERVED = {"true", "false", "null", "none", "nan", "inf", "yes", "no", "on", "off"}


def hydra_value(value: Any) -> str:
    """``value`` in Hydra's override grammar (https://hydra.cc/docs/advanced/override_grammar/basic/):
    bools/null/numbers as literals, lists ``[a,b]``, dicts ``{k:v}``, strings bare only when they are plain
    identifiers or paths, else single-quoted with Hydra's escapes, so a path, a regex or ``${…}`` text never
    becomes a number, a bool or an interpolation by accident."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    s = str(value)
    if _BARE.match(s) and s.lower() not in _RESERVED:
        return s
    # Hydra's quoted strings: a backslash run is literal except before a quote or at the end (doubled there),
    # a quote is \', and ${ would be an interpolation unless written \${
    body = _QUOTE_OR_END.sub(lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), s.replace("${", "\\${"))
    return "'" + body + "'"


@functools.lru_cache(maxsize=None)
def environment(package: str) -> jinja2.Environment:
    """The Jinja environment of ``package``'s ``templates/`` folder (built once per package)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader(package, "templates"), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["yaml"] = yaml_value
    env.filters["hydra"] = hydra_value
    return env


def render(package: str, template: str, /, **ctx: Any) -> str:
    """Render ``templates/<template>`` of ``package`` with ``ctx``."""
    return environment(package).get_template(template).render(**ctx)
