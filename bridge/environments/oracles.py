"""Scripted oracles for MiniWoB++ tasks: they read the DOM (and the task's parsed fields) and act like a user —
a click at a visible point of the target element (its box travels along as the action's ``bbox``), typing into
the focused field, then the submit button. They are stateless: each turn is decided from the current page
(a field's value, whether a box was already ticked), so a lost or repeated turn never derails them.

These are the tasks with an oracle — the ones ``bridge synth --env miniwob`` records and the online eval's
``oracle`` baseline plays. Every oracle is checked online by tests/test_environments.py.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from ..schema import Action
from .miniwob import DomNode

#: CSS named colours used by MiniWoB's colour tasks, RGB in [0, 255] (CSS Color Module Level 3, §4.1/§4.3).
CSS_COLORS = {
    "red": (255, 0, 0), "blue": (0, 0, 255), "olive": (128, 128, 0), "lime": (0, 255, 0), "black": (0, 0, 0),
    "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128), "purple": (128, 0, 128),
    "orange": (255, 165, 0), "yellow": (255, 255, 0), "cyan": (0, 255, 255), "aqua": (0, 255, 255),
    "pink": (255, 192, 203), "magenta": (255, 0, 255), "fuchsia": (255, 0, 255), "green": (0, 128, 0),
    "navy": (0, 0, 128), "teal": (0, 128, 128), "maroon": (128, 0, 0), "silver": (192, 192, 192),
    "brown": (165, 42, 42),
}

SCREEN = (160.0, 210.0)   # MiniWoB's task area (miniwob/constants.py TASK_WIDTH, TASK_HEIGHT)


def _ancestors(node: DomNode, by_ref: dict[int, DomNode]) -> set[int]:
    out, ref = set(), node.parent
    while ref and ref in by_ref and ref not in out:
        out.add(ref)
        ref = by_ref[ref].parent
    return out


def visible_point(target: DomNode, dom: list[DomNode]) -> tuple[float, float]:
    """A point of ``target`` that no later (painted-over) unrelated element covers, nearest its centre — two
    MiniWoB buttons may overlap, and a click at the centre of a covered one hits the other."""
    by_ref = {n.ref: n for n in dom}
    x1, y1 = max(0.0, target.box[0]), max(0.0, target.box[1])
    x2, y2 = min(SCREEN[0], target.box[2]), min(SCREEN[1], target.box[3])
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    mine = {target.ref} | _ancestors(target, by_ref)
    order = [n.ref for n in dom]
    later = [n for n in dom[order.index(target.ref) + 1:]
             if n.ref not in mine and target.ref not in _ancestors(n, by_ref) and n.tag != "t"]
    grid = [(x1 + (x2 - x1) * i / 8, y1 + (y2 - y1) * j / 8) for i in range(1, 8) for j in range(1, 8)]
    for x, y in sorted(grid, key=lambda p: (p[0] - cx) ** 2 + (p[1] - cy) ** 2):
        if not any(n.box[0] <= x <= n.box[2] and n.box[1] <= y <= n.box[3] for n in later):
            return round(x, 1), round(y, 1)
    return round(cx, 1), round(cy, 1)


def click(target: DomNode, dom: list[DomNode]) -> Action:
    x1, y1 = max(0.0, target.box[0]), max(0.0, target.box[1])
    x2, y2 = min(SCREEN[0], target.box[2]), min(SCREEN[1], target.box[3])
    return Action(type="click", point=visible_point(target, dom), bbox=(x1, y1, x2, y2))


def _find(dom: Iterable[DomNode], pred: Callable[[DomNode], bool]) -> Optional[DomNode]:
    return next((n for n in dom if pred(n)), None)


def _fill(dom: list[DomNode], field: DomNode, text: str) -> Optional[Action]:
    """Click ``field`` until it has focus, type ``text`` once; None when it already holds ``text``."""
    if field.value == text:
        return None
    if not field.focused:
        return click(field, dom)
    return Action(type="type", text=text)


def _label_of(node: DomNode, dom: list[DomNode]) -> str:
    """The text next to a checkbox / radio button: the text nodes sharing its label."""
    return " ".join(n.text for n in dom if n.parent == node.parent and n.tag == "t").strip()


def _submit(dom: list[DomNode], label: str = "Submit") -> Optional[Action]:
    button = _find(dom, lambda n: n.tag == "button" and n.text.strip().lower() == label.lower())
    return click(button, dom) if button else None


def _click_if(dom: list[DomNode], pred) -> Optional[Action]:
    node = _find(dom, pred)
    return click(node, dom) if node else None


def _color(dom, f):
    rgb = CSS_COLORS.get(f.get("target", "").strip().lower())
    if rgb is None:
        return None
    return _click_if(dom, lambda n: "color" in n.classes.split() and n.tag == "div"
                     and all(abs(a * 255 - b) < 3 for a, b in zip(n.bg[:3], rgb)))


def _dialog_button(dom, f):
    label = f.get("target", "x")
    if label.lower() == "x":
        return _click_if(dom, lambda n: "ui-dialog-titlebar-close" in n.classes.split())
    return _click_if(dom, lambda n: n.tag == "button" and n.text == label)


def _nth_input(dom, f):
    inputs = [n for n in dom if n.tag == "input_text"]
    k = int(f.get("target", "1")) - 1
    return click(inputs[k], dom) if 0 <= k < len(inputs) else None


def _choices(dom, f, kind: str):
    wanted = {v for k, v in f.items() if k.startswith("target")}
    for box in (n for n in dom if n.tag == kind):
        if _label_of(box, dom) in wanted and not box.tampered:
            return click(box, dom)
    return _submit(dom)


def _enter_text(dom, f):
    field = _find(dom, lambda n: n.tag == "input_text")
    return (_fill(dom, field, f.get("target", "")) if field else None) or _submit(dom)


def _enter_password(dom, f):
    for field in (n for n in dom if n.tag == "input_password"):
        act = _fill(dom, field, f.get("target", ""))
        if act:
            return act
    return _submit(dom)


def _login(dom, f):
    for tag, key in (("input_text", "username"), ("input_password", "password")):
        field = _find(dom, lambda n: n.tag == tag)
        act = _fill(dom, field, f.get(key, "")) if field else None
        if act:
            return act
    return _submit(dom, "Login")


#: task -> oracle(dom, fields) -> canonical action (None: the oracle is lost; the episode counts as failed)
ORACLES: dict[str, Callable[[list[DomNode], dict[str, str]], Optional[Action]]] = {
    "click-test": lambda dom, f: _click_if(dom, lambda n: n.tag == "button"),
    "click-test-2": lambda dom, f: _click_if(dom, lambda n: n.tag == "button" and n.text == f.get("target")),
    "click-button": lambda dom, f: _click_if(dom, lambda n: n.tag == "button" and n.text == f.get("target")),
    "click-link": lambda dom, f: _click_if(dom, lambda n: "alink" in n.classes.split() and n.text == f.get("target")),
    "click-color": _color,
    "click-dialog": lambda dom, f: _dialog_button(dom, {"target": "x"}),
    "click-dialog-2": _dialog_button,
    "click-tab": lambda dom, f: _click_if(dom, lambda n: n.tag == "a" and n.text == f"Tab #{f.get('target')}"),
    "click-option": lambda dom, f: _choices(dom, f, "input_radio"),
    "click-checkboxes": lambda dom, f: _choices(dom, f, "input_checkbox"),
    "focus-text": lambda dom, f: _click_if(dom, lambda n: n.tag == "input_text"),
    "focus-text-2": _nth_input,
    "enter-text": _enter_text,
    "enter-password": _enter_password,
    "login-user": _login,
}


def oracle_action(task: str, dom: list[DomNode], fields: dict[str, str]) -> Optional[Action]:
    fn = ORACLES.get(task)
    return fn(dom, fields) if fn else None
