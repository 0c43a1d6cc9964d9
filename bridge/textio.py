"""Precise messages for text that is not what it should be: a file that is not UTF-8 (with the byte offset and
line), a byte-order mark, an integer too large for JSON readers, nesting too deep, YAML aliases that expand
exponentially ("billion laughs") or refer to themselves. Used by the readers of recipes, episodes lines and
prediction files so that "not valid JSON" says *what* is wrong."""
from __future__ import annotations

import json
import re
from typing import Any, Optional

from .errors import BridgeError, Problem

BOM = b"\xef\xbb\xbf"
#: Most nested containers a JSON record may have (a 100k-deep line crashed json.loads with RecursionError).
MAX_DEPTH = 200
#: Most nodes a YAML document may expand to through its aliases (a recipe has a few hundred).
MAX_YAML_NODES = 100_000
_BIG_INT = re.compile(rb"(?<![\w.\"])-?\d{4301,}")  # Python's int limit for str -> int (sys.int_info)


def utf8_problem(raw: bytes) -> Optional[tuple[str, int]]:
    """``(message, 1-based line)`` when ``raw`` is not UTF-8 (or starts with a BOM), else None."""
    if raw.startswith(BOM):
        return "starts with a UTF-8 byte-order mark (BOM); save the file as UTF-8 without BOM", 1
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        return (f"not UTF-8 text: byte 0x{raw[e.start]:02x} at offset {e.start} cannot be decoded ({e.reason}); "
                f"save the file as UTF-8"), line
    return None


def decode_utf8(raw: bytes, file: str, *, bom_ok: bool = True) -> str:
    """``raw`` as text, or a located :class:`BridgeError` saying it is not UTF-8. A leading BOM is dropped when
    ``bom_ok`` (editors on Windows add it)."""
    if bom_ok and raw.startswith(BOM):
        raw = raw[len(BOM):]
    why = utf8_problem(raw)
    if why:
        raise BridgeError(f"{file}: cannot read the file", [Problem(file, why[0], line=why[1])])
    return raw.decode("utf-8")


def depth_exceeds(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when the JSON text ``raw`` nests containers deeper than ``limit`` (brackets inside strings
    are skipped). Linear, no recursion."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth, in_str, esc = 0, False, False
    for b in raw:
        if in_str:
            if esc:
                esc = False
            elif b == 0x5C:  # backslash
                esc = True
            elif b == 0x22:
                in_str = False
        elif b == 0x22:
            in_str = True
        elif b in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif b in (0x5D, 0x7D):
            depth -= 1
    return False


def json_text_problem(raw: bytes) -> str:
    """What is wrong with a line/file that failed to parse as JSON: BOM, not UTF-8, nesting too deep, an integer
    too large, or the parser's own message (with the column)."""
    if raw.startswith(BOM):
        return "starts with a UTF-8 byte-order mark (BOM), not valid JSON: save as UTF-8 without BOM"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not UTF-8 text: byte 0x{raw[e.start]:02x} at column {e.start + 1} cannot be decoded ({e.reason})"
    if depth_exceeds(raw):
        return f"nested more than {MAX_DEPTH} levels deep"
    m = _BIG_INT.search(raw)
    if m:
        return f"integer with {len(m.group().lstrip(b'-'))} digits at column {m.start() + 1}: too large to read"
    try:
        json.loads(raw)
    except json.JSONDecodeError as e:
        return f"not valid JSON: {e.msg} at column {e.colno}"
    except (ValueError, RecursionError) as e:
        return f"not valid JSON: {e}"
    return "not valid JSON"


def safe_json_loads(raw: bytes) -> Any:
    """``json.loads`` that raises ``ValueError`` with :func:`json_text_problem`'s message instead of crashing on
    deep nesting (RecursionError) or huge integers."""
    if depth_exceeds(raw):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ValueError(json_text_problem(raw)) from None


def yaml_alias_problem(text: str) -> Optional[tuple[str, int]]:
    """``(message, line)`` when the YAML ``text`` uses aliases that expand to more than :data:`MAX_YAML_NODES`
    nodes or refer to themselves; None otherwise (or when it does not compose: the loader reports that).
    Linear in the document: sizes are memoised per node."""
    import yaml

    if "*" not in text:
        return None

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    except RecursionError:
        return "YAML nested too deeply to read", 1
    if root is None:
        return None
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # iterative post-order walk (a deep document must not hit the recursion limit)
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            children = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else node.value
            total = 1 + sum(sizes[id(c)] for c in children)
            sizes[key] = total
            if total > MAX_YAML_NODES:
                return (f"YAML aliases expand to more than {MAX_YAML_NODES:,} values (an alias bomb?)",
                        node.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        if key in active:
            return "a YAML alias refers to a node containing itself", node.start_mark.line + 1
        active.add(key)
        stack.append((node, True))
        children = [c for kv in node.value for c in kv] if isinstance(node, yaml.MappingNode) else node.value
        for c in children:
            if id(c) in active:
                return "a YAML alias refers to a node containing itself", c.start_mark.line + 1
            if id(c) not in sizes:
                stack.append((c, False))
    return None
