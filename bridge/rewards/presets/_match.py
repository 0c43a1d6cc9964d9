"""Linear-time equivalents of the regular expressions the published rewards use.

The originals (e.g. ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>", s, re.DOTALL)`` or
``re.search(r"\\{.*\\[(\\d+),\\s*(\\d+)]\\s*.*\\}", s)``) backtrack quadratically on adversarial completions
(thousands of ``{`` or ``</think>``), which can stall a training step for minutes. Each function here returns
exactly what the original expression returns — property-tested against it in tests/test_rewards_presets.py —
using ``str.find`` scans and anchored matches only.
"""
from __future__ import annotations

import bisect
import re
from typing import Optional

_WS = re.compile(r"\s*")
_PAIR = re.compile(r"\[(\d+),\s*(\d+)]")


def _skip_ws(s: str, i: int) -> int:
    return _WS.match(s, i).end()


def answer_body(s: str) -> Optional[str]:
    """``re.search(r'<answer>(.*?)</answer>', s, re.DOTALL).group(1)`` (None when it does not match)."""
    i = s.find("<answer>")
    if i < 0:
        return None
    j = s.find("</answer>", i + 8)
    return None if j < 0 else s[i + 8:j]


def think_answer_fullmatch(s: str) -> bool:
    """``re.fullmatch(r'<think>.*?</think>\\s*<answer>.*?</answer>', s, re.DOTALL) is not None``."""
    if not s.startswith("<think>") or not s.endswith("</answer>"):
        return False
    last = len(s) - 9            # where the final </answer> starts
    p = s.find("</think>", 7)
    while 0 <= p:
        q = _skip_ws(s, p + 8)
        if s.startswith("<answer>", q) and q + 8 <= last:
            return True
        if q + 8 > last:
            return False
        p = s.find("</think>", p + 1)
    return False


def last_pair_in_braces(s: str) -> Optional[tuple[int, int]]:
    """Groups of ``re.search(r'\\{.*\\[(\\d+),\\s*(\\d+)]\\s*.*\\}', s)`` as ints (None when no match).

    ``.`` stops at newlines, so the ``{`` and the ``[`` share a line; the greedy ``.*`` makes the search return,
    on the first line whose first ``{`` admits a match, the RIGHTMOST ``[d, d]`` after it that is followed by a
    ``}`` reachable through whitespace and then one line (``\\s*.*\\}``)."""
    closes = [m.start() for m in re.finditer(r"}", s)]
    newlines = [m.start() for m in re.finditer(r"\n", s)]
    n = len(s)

    def brace_follows(end: int) -> bool:
        w = _skip_ws(s, end)
        k = bisect.bisect_left(closes, w)
        if k == len(closes):
            return False
        nl = bisect.bisect_left(newlines, w)
        return nl == len(newlines) or closes[k] < newlines[nl]

    line_start = 0
    while line_start <= n:
        line_end = s.find("\n", line_start)
        if line_end < 0:
            line_end = n
        b = s.find("{", line_start, line_end)
        if b >= 0:
            pos = s.rfind("[", b + 1, line_end)
            while pos >= 0:
                m = _PAIR.match(s, pos)
                if m and brace_follows(m.end()):
                    return int(m.group(1)), int(m.group(2))
                pos = s.rfind("[", b + 1, pos)
        line_start = line_end + 1
    return None


def chain_exists(s: str, start: int, *steps) -> bool:
    """Existence form of a DOTALL search made of lazy/greedy ``.*`` gaps between literal or regex items: each
    step is a literal string or a compiled pattern, matched at or after the end of the previous one. Taking the
    earliest occurrence at every step is optimal, because later steps only need to come after earlier ones."""
    pos = start
    for step in steps:
        if isinstance(step, str):
            i = s.find(step, pos)
            if i < 0:
                return False
            pos = i + len(step)
        else:
            m = step.search(s, pos)
            if m is None:
                return False
            pos = m.end()
    return True


def think_answer_then(s: str, *steps) -> bool:
    """``re.search(r'<think>.*?</think>\\s*<answer>' + <steps joined by .*> + '.*?</answer>', s, re.DOTALL)``
    is not None, for steps as in :func:`chain_exists`."""
    t = s.find("<think>")
    if t < 0:
        return False
    p = s.find("</think>", t + 7)
    while p >= 0:
        q = _skip_ws(s, p + 8)
        if s.startswith("<answer>", q):
            return chain_exists(s, q + 8, *steps, "</answer>")
        p = s.find("</think>", p + 1)
    return False
