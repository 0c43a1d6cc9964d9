"""Text comparisons used by the published step-matching rules (docs/eval.md)."""
from __future__ import annotations


def substring_match(pred: str, gt: str, lower: bool = True) -> bool:
    """Qwen2.5-VL / AgentCPM rule: stripped (and lower-cased) strings, either one contained in the other.
    Note that an empty prediction is contained in every ground truth (as in the published code)."""
    p, g = pred.strip(), gt.strip()
    if lower:
        p, g = p.lower(), g.lower()
    return p in g or g in p


def token_f1(pred: str, gt: str, single_token_substring: bool = True) -> float:
    """GUI-R1 ``calculate_f1_score`` (the one definition metrics and rewards share): square brackets removed,
    lower-cased, whitespace tokens as SETS; two single tokens where one contains the other score 1 (unless
    ``single_token_substring`` is off); otherwise set precision/recall F1."""
    p = set(pred.replace("[", "").replace("]", "").lower().split())
    g = set(gt.replace("[", "").replace("]", "").lower().split())
    if single_token_substring and len(p) == 1 and len(g) == 1:
        (a,), (b,) = p, g
        if a in b or b in a:
            return 1.0
    common = len(p & g)
    precision = common / len(p) if p else 0.0
    recall = common / len(g) if g else 0.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert/delete/substitute, unit costs); O(len(a)·len(b)) time, O(min) memory."""
    if len(a) > len(b):
        a, b = b, a
    row = list(range(len(a) + 1))
    for j, cb in enumerate(b, 1):
        prev, row[0] = row[0], j
        for i, ca in enumerate(a, 1):
            cur = row[i]
            row[i] = prev if ca == cb else 1 + min(prev, row[i], row[i - 1])
            prev = cur
    return row[-1]


def anls(pred: str, gt: str) -> float:
    """Normalised Levenshtein similarity 1 - dist / max(len) (GUI-Odyssey; two empty strings score 1)."""
    n = max(len(pred), len(gt))
    return 1.0 if n == 0 else 1.0 - levenshtein(pred, gt) / n


def odyssey_text_match(pred: str, gt: str, threshold: float = 0.5) -> bool:
    """GUI-Odyssey TYPE rule: stripped (case-sensitive) substring either way, or ANLS >= ``threshold``."""
    p, g = pred.strip(), gt.strip()
    return p in g or g in p or anls(p, g) >= threshold
