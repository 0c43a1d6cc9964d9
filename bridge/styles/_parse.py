"""Safe, bounded parsing helpers shared by the styles' parsers.

Model text is never executed: :func:`parse_literal` is a small hand-written parser for the JSON / Python-literal
subset models emit (objects, lists, tuples, strings in either quote, numbers, true/false/null/None). Every scan
is linear and bounded — a window of at most ``MAX_WINDOW`` characters, nesting depth ``MAX_DEPTH``, numbers
of at most ``MAX_NUMBER_LEN`` characters — so multi-megabyte or adversarial outputs cost milliseconds.
Marker searches use ``str.find`` (linear, in C); regular expressions only run on short, bounded slices.
"""
from __future__ import annotations

import math
from typing import Any, Optional

MAX_WINDOW = 65536      # characters of one literal we are willing to scan
MAX_DEPTH = 32          # nesting of objects/lists
MAX_NUMBER_LEN = 40     # characters of one number (10**5000 is refused, not converted)
MAX_COORD = 1e7         # a model coordinate beyond this is garbage, not a point

_WS = " \t\r\n"
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", "'": "'",
                   '"': '"', "0": "\0", "\n": ""}
_WORDS = {"true": True, "True": True, "false": False, "False": False, "null": None, "None": None}
_NUM_CHARS = frozenset("+-0123456789.eE_")


class ParseError(ValueError):
    """Model text that does not parse; always caught by the styles and turned into ``Parsed.error``."""


def parse_literal(text: str, start: int = 0, limit: int = MAX_WINDOW) -> tuple[Any, int]:
    """Parse one JSON or Python literal starting at ``text[start]`` (after blanks).

    Returns ``(value, end)``; tuples become lists; raises :class:`ParseError` on anything else, including a
    literal longer than ``limit`` characters, NaN/Infinity and overlong numbers.
    """
    p = _Parser(text, start, min(len(text), start + limit))
    value = p.value(0)
    return value, p.i


class _Parser:
    __slots__ = ("s", "i", "n")

    def __init__(self, s: str, i: int, n: int):
        self.s, self.i, self.n = s, i, n

    def _ws(self) -> None:
        s, i, n = self.s, self.i, self.n
        while i < n and s[i] in _WS:
            i += 1
        self.i = i

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ParseError("nested too deeply")
        self._ws()
        if self.i >= self.n:
            raise ParseError("unexpected end of text")
        c = self.s[self.i]
        if c == "{":
            return self._object(depth)
        if c == "[" or c == "(":
            return self._sequence(depth, "]" if c == "[" else ")")
        if c == '"' or c == "'":
            return self._string(c)
        if c in _NUM_CHARS:
            return self._number()
        j = self.i
        while j < self.n and j - self.i < 6 and self.s[j].isalpha():
            j += 1
        word = self.s[self.i:j]
        if word in _WORDS:
            self.i = j
            return _WORDS[word]
        raise ParseError(f"unexpected character {c!r}")

    def _object(self, depth: int) -> dict:
        out: dict = {}
        self.i += 1
        while True:
            self._ws()
            if self.i >= self.n:
                raise ParseError("unterminated object")
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                return out
            if c == '"' or c == "'":
                key = self._string(c)
            else:  # tolerate bare keys ({action: 'click'})
                j = self.i
                while j < self.n and (self.s[j].isalnum() or self.s[j] == "_") and j - self.i < 64:
                    j += 1
                if j == self.i:
                    raise ParseError(f"expected a key, found {c!r}")
                key, self.i = self.s[self.i:j], j
            self._ws()
            if self.i >= self.n or self.s[self.i] != ":":
                raise ParseError("expected ':' after a key")
            self.i += 1
            out[key] = self.value(depth + 1)
            self._ws()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
            elif self.i < self.n and self.s[self.i] == "}":
                continue
            else:
                raise ParseError("expected ',' or '}' in an object")

    def _sequence(self, depth: int, close: str) -> list:
        out: list = []
        self.i += 1
        while True:
            self._ws()
            if self.i >= self.n:
                raise ParseError("unterminated list")
            if self.s[self.i] == close:
                self.i += 1
                return out
            out.append(self.value(depth + 1))
            self._ws()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
            elif self.i < self.n and self.s[self.i] == close:
                continue
            else:
                raise ParseError(f"expected ',' or '{close}' in a list")

    def _string(self, quote: str) -> str:
        s, n = self.s, self.n
        i = self.i + 1
        parts: list[str] = []
        while True:
            q = s.find(quote, i, n)
            if q < 0:
                raise ParseError("unterminated string")
            b = s.find("\\", i, q)
            if b < 0:
                parts.append(s[i:q])
                self.i = q + 1
                return _fix_surrogates("".join(parts))
            parts.append(s[i:b])
            i = self._escape(b, parts)

    def _escape(self, b: int, parts: list[str]) -> int:
        """Decode the escape at ``s[b] == '\\'``; returns the index after it."""
        s, n = self.s, self.n
        if b + 1 >= n:
            raise ParseError("unterminated escape")
        c = s[b + 1]
        if c in _SIMPLE_ESCAPES:
            parts.append(_SIMPLE_ESCAPES[c])
            return b + 2
        width = {"x": 2, "u": 4, "U": 8}.get(c)
        if width:
            digits = s[b + 2:b + 2 + width]
            if len(digits) == width and all(d in "0123456789abcdefABCDEF" for d in digits):
                code = int(digits, 16)
                if code <= 0x10FFFF:
                    parts.append(chr(code))
                    return b + 2 + width
            raise ParseError("bad escape")
        parts.append("\\" + c)  # unknown escape: keep both characters, as Python does
        return b + 2

    def _number(self) -> float | int:
        s, i, n = self.s, self.i, self.n
        j = i
        while j < n and s[j] in _NUM_CHARS and j - i <= MAX_NUMBER_LEN:
            j += 1
        if j - i > MAX_NUMBER_LEN:
            raise ParseError("number too long")
        raw = s[i:j].replace("_", "")
        self.i = j
        try:
            if all(ch in "+-0123456789" for ch in raw):
                return int(raw)
            value = float(raw)
        except ValueError:
            raise ParseError(f"bad number {raw!r}") from None
        if not math.isfinite(value):
            raise ParseError("number out of range")
        return value


def _fix_surrogates(text: str) -> str:
    """Combine \\ud83d\\ude00 pairs and replace lone surrogates (they cannot be written as UTF-8)."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# ----------------------------------------------------------------------------------------------- helpers

def find_literal(text: str, openers: str, start: int = 0, end: Optional[int] = None) -> Optional[int]:
    """Index of the first character of ``openers`` in ``text[start:end]`` (or None)."""
    end = len(text) if end is None else end
    best = -1
    for ch in openers:
        k = text.find(ch, start, end)
        if k >= 0 and (best < 0 or k < best):
            best = k
    return best if best >= 0 else None


def first_literal(text: str, openers: str = "{[", start: int = 0, end: Optional[int] = None,
                  tries: int = 8) -> Any:
    """Parse the first literal opening with one of ``openers`` in ``text[start:end]`` (the literal itself may
    run past ``end``: a closing tag inside one of its strings must not cut it); if one fails to parse, try the
    next opener (at most ``tries`` times). Raises :class:`ParseError` if none parses."""
    pos = start
    error: Optional[ParseError] = None
    for _ in range(tries):
        k = find_literal(text, openers, pos, end)
        if k is None:
            break
        try:
            return parse_literal(text, k)[0]
        except ParseError as e:
            error = error or e
            pos = k + 1
    raise error or ParseError("no JSON object found")


def split_think(text: str, payload: str = "{[") -> tuple[Optional[str], str]:
    """``(thought, rest)``: the content of a leading ``<think>…</think>`` and the text after it.

    A closing ``</think>`` without the opening tag (templates that pre-fill ``<think>``) counts only when it
    comes before the payload (the first character of ``payload``, or the style's wrapper tag), so that a
    ``</think>`` typed inside the action's own text is never mistaken for the end of a thought.
    Returns ``(None, text)`` when there is no thought."""
    body = text.lstrip()
    if body.startswith("<think>"):
        begin = len(text) - len(body) + len("<think>")
        close = text.find("</think>", begin)
        if close < 0:
            return None, text
        return text[begin:close].strip(), text[close + len("</think>"):]
    close = text.find("</think>")
    if close < 0:
        return None, text
    first_payload = find_literal(text, payload, 0, close)
    if first_payload is not None:
        return None, text
    return text[:close].strip(), text[close + len("</think>"):]


def after_tag(text: str, tag: str, payload: str) -> int:
    """Where to look for the payload: just after ``tag`` when it precedes the first payload character (a tag
    typed inside the payload's own strings does not count), else the start of ``text``."""
    t = text.find(tag)
    if t < 0:
        return 0
    p = find_literal(text, payload, 0, t)
    return t + len(tag) if p is None else 0


def strip_fences(text: str) -> str:
    """Drop Markdown code fences (```json … ```) around model output; inner text is returned untouched."""
    t = text.strip()
    if t.startswith("```"):
        nl = t.find("\n")
        t = t[nl + 1:] if nl >= 0 else t[3:]
        if t.rstrip().endswith("```"):
            t = t.rstrip()[:-3]
    return t


def number(value: Any) -> Optional[float]:
    """A finite, sane number from a parsed value (numbers or numeric strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        v = value.strip()
        if not v or len(v) > MAX_NUMBER_LEN:
            return None
        try:
            value = float(v)
        except ValueError:
            return None
    if isinstance(value, int):
        if abs(value) > MAX_COORD:  # int → float overflow is impossible below this bound
            return None
        return float(value)
    if isinstance(value, float) and math.isfinite(value) and abs(value) <= MAX_COORD:
        return value
    return None


def numbers_in(text: str, limit: int = 256) -> list[float]:
    """All numbers in a short string such as ``'<point>12 34</point>'``, ``'(12,34)'`` or ``'12,34,56,78'``."""
    out: list[float] = []
    s = text[:limit]
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c.isdigit() or (c in "-." and i + 1 < n and s[i + 1].isdigit()):
            j = i + 1
            while j < n and (s[j].isdigit() or s[j] == "."):
                j += 1
            v = number(s[i:j])
            if v is not None:
                out.append(v)
            i = j
        else:
            i += 1
    return out


def point(value: Any) -> Optional[tuple[float, float]]:
    """A model point from ``[x, y]``, ``[x1, y1, x2, y2]`` (box → centre) or a string holding 2 or 4 numbers."""
    if isinstance(value, str):
        nums = numbers_in(value)
    elif isinstance(value, (list, tuple)):
        nums = [number(v) for v in value[:5]]
        if any(v is None for v in nums):
            return None
    else:
        return None
    if len(nums) == 2:
        return nums[0], nums[1]
    if len(nums) == 4:
        return (nums[0] + nums[2]) / 2.0, (nums[1] + nums[3]) / 2.0
    return None
