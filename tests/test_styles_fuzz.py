"""Fuzz: every style's parser on 100k random and adversarial strings (fragment soups, mutated real outputs of
every style, truncated JSON, huge numbers, nested quotes, Python code, multi-megabyte outputs, NaN) never raises,
never executes anything and stays fast; a successful parse always yields a valid canonical action."""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.schema import Action
from bridge.styles import STYLES, get_style
from bridge.styles.base import Parsed

W, H = 1080, 2400
N = 100_000

FRAGMENTS = [
    "<tool_call>", "</tool_call>", "{", "}", "[", "]", "(", ")", '"', "'", ":", ",", " ", "\n", "\\", "\\'", '\\"',
    '"action"', "'action'", '"click"', "'click'", '"coordinate"', '"coordinate2"', "[303, 2007]", "[1e309, 5]",
    "1e309", "-1e309", "NaN", "Infinity", "-", "0x1F", "1_000", "9" * 60, "<think>", "</think>", "<answer>",
    "</answer>", "'point'", "'input_text'", "'no input text'", "'scroll'", "'up'", "Action:", "Thought:",
    "click(point='<point>", "</point>", "')", "<|box_start|>(1,2)<|box_end|>", "start_box='(", "POINT", '"to"',
    '"up"', '"duration"', '"TYPE"', '"PRESS"', '"STATUS"', '"finish"', '"action_type"', '"action_parameter"',
    '"inquiry"', '"1,2,3,4"', "__import__('os').system('touch /tmp/gui_bridge_pwned')", "exec(", "eval(", "lambda",
    "ñ", "😀", "\ud800", "\x00", "\x7f", "```json", "```", '"name": "mobile_use"', '"arguments"', "scroll(",
    "direction='", "type(content='", "finished(", "hotkey(key='", "True", "None", "null", "\\u0041", "\\x41", "\\uZZ",
]


def _valid_outputs() -> list[str]:
    """Real renders of many actions in every style (with and without thoughts): seeds for mutation."""
    acts = [Action(type="click", point=(300, 2000)), Action(type="long_press", point=(5, 7), duration_ms=1500),
            Action(type="swipe", point=(540, 1800), end_point=(540, 600), direction="up"),
            Action(type="scroll", direction="left"), Action(type="type", text="it's \"quoted\"\n\\ 中文"),
            Action(type="open_app", app="Maps"), Action(type="navigate_back"), Action(type="enter"),
            Action(type="wait", duration_ms=500), Action(type="status", status="complete", text="done"),
            Action(type="key", key="close/delete"), Action(type="drag", point=(1, 2), end_point=(3, 4)),
            Action(type="ask_user", text="which?"), Action(type="click", point=(10, 10), bbox=(0, 0, 20, 20))]
    out = []
    for name in STYLES:
        style = get_style(name)
        for a in acts:
            for thought in (None, "a 'plan' with \"quotes\""):
                try:
                    out.append(style.render_action(a, W, H, thought))
                except Exception:
                    pass
    return out


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        i = rng.randrange(len(text) + 1)
        if op == 0:
            text = text[:i]                                     # truncated output
        elif op == 1:
            text = text[:i] + text[i + 1:]                      # dropped character
        elif op == 2:
            text = text[:i] + rng.choice(FRAGMENTS) + text[i:]  # injected fragment
        elif op == 3:
            text = text[:i] + text[i:i + rng.randint(1, 20)] * rng.randint(2, 5) + text[i:]  # stutter
        elif op == 4:
            text = text.replace("'", '"') if rng.random() < 0.5 else text.replace('"', "'")  # swapped quotes
        else:
            text = text[:i] + str(rng.choice([10 ** 30, -7, 0.5, 1e308, 2 ** 63])) + text[i:]
    return text


def corpus(n: int = N, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    valid = _valid_outputs()
    out = []
    for k in range(n):
        if k % 5 < 3:
            out.append("".join(rng.choices(FRAGMENTS, k=rng.randint(0, 30))))
        else:
            out.append(_mutate(rng, rng.choice(valid)))
    return out


def _check(p: Parsed) -> None:
    assert isinstance(p, Parsed)
    if p.ok:
        assert p.error is None
        a = p.action
        assert isinstance(a, Action)
        for f in (a.point, a.end_point, a.bbox):
            assert f is None or all(math.isfinite(v) for v in f)
        Action.model_validate(a.compact())  # a parse result is always a valid canonical action
    else:
        assert isinstance(p.error, str) and p.error


@pytest.fixture(scope="module")
def strings() -> list[str]:
    return corpus()


@pytest.mark.parametrize("name", list(STYLES))
def test_parser_survives_100k_strings(name, strings):
    style = get_style(name)
    start, ok = time.perf_counter(), 0
    for text in strings:
        p = style.parse_action(text, W, H)
        _check(p)
        ok += p.ok
    elapsed = time.perf_counter() - start
    assert len(strings) >= 100_000
    assert 0 < ok < len(strings)  # mutations of real output sometimes still parse; soups mostly do not
    assert elapsed < 20, f"{name}: {elapsed:.1f} s for {len(strings)} strings"
    assert not Path("/tmp/gui_bridge_pwned").exists()


M = 2_000_000
ADVERSARIAL = {
    "open brackets": "[" * M, "open braces": "{" * M, "quotes": '"' * M, "single quotes": "'" * M,
    "backslashes": "\\" * M, "tags": "<tool_call>" * 200_000, "nested objects": '{"a":' * 400_000,
    "think opens": "<think>" * 300_000, "think closes": "</think>" * 300_000, "action markers": "xAction:" * 250_000,
    "unterminated call": "Action: click(" + "'" * M, "escaped quotes": "Action: type(content='" + "\\'" * M,
    "10**100000": '{"POINT":[' + "9" * 100_000 + ",1]}", "many numbers": "[" + "1," * M + "]",
    "6 MB string": '{"TYPE":"' + "a" * (3 * M) + '"}', "answer opens": "<answer>" * 250_000,
    "padding": "x" * (4 * M), "over the cap": "y" * 9_000_000, "points": "<point>" * 300_000, "commas": "," * M,
    "parens": "Action: click(" + "(" * M, "fences": "```" * 600_000, "deep list answer": "<answer>" + "[" * M,
}


@pytest.mark.parametrize("name", list(STYLES))
def test_adversarial_inputs_are_bounded(name):
    style = get_style(name)
    good = style.render_action(Action(type="navigate_back"), W, H) if name != "agentcpm" else '{"PRESS":"BACK"}'
    for label, text in ADVERSARIAL.items():
        for variant in (text, good + text, text + good):
            start = time.perf_counter()
            p = style.parse_action(variant, W, H)
            elapsed = time.perf_counter() - start
            _check(p)
            assert elapsed < 2.0, f"{name} on {label!r}: {elapsed:.2f} s"
    # a good answer after megabytes of reasoning is still found (within the size cap)
    assert style.parse_action("x" * (2 * M) + "\n" + good, W, H).ok


@pytest.mark.parametrize("name", list(STYLES))
def test_huge_and_non_finite_numbers_are_refused(name):
    style = get_style(name)
    click = style.render_action(Action(type="click", point=(300, 2000)), W, H)
    for bad in ("1e309", "-1e309", "NaN", "Infinity", "9" * 5000, "1" * 41, "10**5000"):
        for good in ("303", "278", "300"):
            if good in click:
                p = style.parse_action(click.replace(good, bad, 1), W, H)
                _check(p)
                assert not p.ok, (name, bad, p)


@pytest.mark.parametrize("name", list(STYLES))
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_hypothesis_text(name, text):
    _check(get_style(name).parse_action(text, W, H))


def test_styles_never_evaluate_text():
    """Static guard: no eval/exec/literal_eval/compile anywhere in the styles package."""
    import bridge.styles as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        for word in ("eval(", "exec(", "literal_eval", "compile(", "__import__", "pickle"):
            assert word not in source, f"{path.name} uses {word}"
