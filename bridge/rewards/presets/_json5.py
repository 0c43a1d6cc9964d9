"""A small, safe JSON5 reader (https://spec.json5.org) — what AgentCPM-GUI's reward parses actions with
(``json5.loads(s, allow_duplicate_keys=False)``), without adding the dependency.

Supported: ``//`` and ``/* */`` comments, single- or double-quoted strings with JSON5 escapes and line
continuations, identifier keys, trailing commas, hexadecimal / leading-or-trailing-dot / signed numbers,
``Infinity`` and ``NaN``. Duplicate keys are an error. Integers come back as ``int``, other numbers as ``float``.
Nesting is bounded (an error, never a RecursionError leaking out).
"""
from __future__ import annotations

import re
import unicodedata

MAX_DEPTH = 200


class JSON5Error(ValueError):
    pass


_WS_CHARS = "\t\n\v\f\r \u00a0\u2028\u2029\ufeff"
_NUM = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|Infinity|NaN|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_IDENT = re.compile(r"[A-Za-z_$\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_ESC = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "0": "\0"}


class _Reader:
    def __init__(self, s: str):
        self.s, self.i = s, 0

    def fail(self, msg: str):
        raise JSON5Error(f"{msg} at offset {self.i}")

    def ws(self) -> None:
        s, n = self.s, len(self.s)
        while self.i < n:
            c = s[self.i]
            if c in _WS_CHARS or (c > "\x7f" and unicodedata.category(c) == "Zs"):
                self.i += 1
            elif s.startswith("//", self.i):
                j = min((k for k in (s.find("\n", self.i), s.find("\r", self.i), s.find("\u2028", self.i),
                                     s.find("\u2029", self.i)) if k >= 0), default=n)
                self.i = j
            elif s.startswith("/*", self.i):
                j = s.find("*/", self.i + 2)
                if j < 0:
                    self.fail("unterminated comment")
                self.i = j + 2
            else:
                return

    def value(self, depth: int):
        if depth > MAX_DEPTH:
            self.fail("nesting too deep")
        self.ws()
        if self.i >= len(self.s):
            self.fail("unexpected end")
        c = self.s[self.i]
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c in "\"'":
            return self.string()
        for word, val in (("true", True), ("false", False), ("null", None)):
            if self.s.startswith(word, self.i) and not _IDENT.match(self.s, self.i + len(word)):
                self.i += len(word)
                return val
        m = _NUM.match(self.s, self.i)
        if m and not _IDENT.match(self.s, m.end()):
            self.i = m.end()
            return _number(m.group())
        self.fail(f"unexpected character {c!r}")

    def obj(self, depth: int) -> dict:
        self.i += 1
        out: dict = {}
        while True:
            self.ws()
            if self.s.startswith("}", self.i):
                self.i += 1
                return out
            if self.i < len(self.s) and self.s[self.i] in "\"'":
                key = self.string()
            else:
                m = _IDENT.match(self.s, self.i)
                if not m:
                    self.fail("expected a key")
                key, self.i = m.group(), m.end()
            self.ws()
            if not self.s.startswith(":", self.i):
                self.fail("expected ':'")
            self.i += 1
            val = self.value(depth + 1)
            if key in out:
                self.fail(f"duplicate key {key!r}")
            out[key] = val
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("}", self.i):
                self.i += 1
                return out
            else:
                self.fail("expected ',' or '}'")

    def arr(self, depth: int) -> list:
        self.i += 1
        out: list = []
        while True:
            self.ws()
            if self.s.startswith("]", self.i):
                self.i += 1
                return out
            out.append(self.value(depth + 1))
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif self.s.startswith("]", self.i):
                self.i += 1
                return out
            else:
                self.fail("expected ',' or ']'")

    def string(self) -> str:
        s, q = self.s, self.s[self.i]
        self.i += 1
        out = []
        while True:
            if self.i >= len(s):
                self.fail("unterminated string")
            c = s[self.i]
            if c == q:
                self.i += 1
                return "".join(out)
            if c in "\n\r":
                self.fail("newline in string")
            if c != "\\":
                out.append(c)
                self.i += 1
                continue
            self.i += 1
            if self.i >= len(s):
                self.fail("unterminated string")
            e = s[self.i]
            if e in _ESC:
                if e == "0" and self.i + 1 < len(s) and s[self.i + 1].isdigit():
                    self.fail("octal escape")
                out.append(_ESC[e])
                self.i += 1
            elif e in "xu":
                k = 2 if e == "x" else 4
                h = s[self.i + 1:self.i + 1 + k]
                if len(h) != k or any(ch not in "0123456789abcdefABCDEF" for ch in h):
                    self.fail("bad escape")
                out.append(chr(int(h, 16)))
                self.i += 1 + k
            elif e == "\r":
                self.i += 2 if s.startswith("\r\n", self.i) else 1
            elif e in "\n\u2028\u2029":
                self.i += 1
            elif e.isdigit():
                self.fail("digit escape")
            else:
                out.append(e)
                self.i += 1


def _number(text: str):
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "Infinity":
        return sign * float("inf")
    if body == "NaN":
        return float("nan")
    if body[:2] in ("0x", "0X"):
        return sign * int(body, 16)
    if any(c in body for c in ".eE"):
        return sign * float(body)
    if len(body) > 1 and body.startswith("0"):
        raise JSON5Error(f"leading zero in {text!r}")
    return sign * int(body)


def loads(s: str):
    """Parse one JSON5 value (surrounding whitespace/comments allowed); JSON5Error on anything else."""
    r = _Reader(s)
    v = r.value(0)
    r.ws()
    if r.i != len(s):
        r.fail("extra data")
    return v
