"""Property tests: for every style and every action type it can express, parse(render(action)) recovers
``style.normalize(action)`` within the frame's quantisation (<= Frame.tolerance original pixels = half a model
unit); every action it cannot express raises Unsupported — the refusal tables below are written from the
styles' documentation (docs/styles.md), independently of the implementation."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.schema import ACTION_TYPES, Action
from bridge.styles import STYLES, Unsupported, get_style

SIZES = [(1080, 2400), (270, 540), (1920, 1080), (1440, 3200), (720, 1280), (640, 400), (29, 57), (3840, 2160)]
DIRS = ("up", "down", "left", "right")

# ------------------------------------------------------------------------------------- refusal tables (spec)
QWEN_REFUSED = {"double_click", "right_click", "drag", "select", "answer", "ask_user"}


def refused(style: str, a: Action) -> bool:
    """True when the style's documented action space has no rendering for ``a``."""
    t = a.type
    if style in ("qwen25vl", "qwen2vl", "qwen3vl"):
        return t in QWEN_REFUSED or (t == "status" and a.status not in ("complete", "impossible"))
    if style == "gui-r1":   # GUI-R1's "high" and Android vocabularies (guir1/inference/inference_vllm_android.py)
        if t == "status":
            return a.status not in ("complete", "impossible")
        if t == "key":
            return a.key != "close/delete"
        return t not in ("click", "long_press", "navigate_home", "navigate_back", "enter", "swipe", "scroll",
                         "type", "select", "open_app", "wait")
    if style == "agentcpm":
        if t == "long_press":
            return a.duration_ms is not None and a.duration_ms <= 200
        return t in {"open_app", "key", "double_click", "right_click", "drag", "select", "answer", "ask_user"}
    if style in ("uitars", "compact"):   # compact = UI-TARS's grammar with a one-line prompt
        return t in {"select", "answer", "ask_user"} or (t == "status" and a.status != "complete")
    if style == "seed":
        return t in {"navigate_home", "enter", "key", "double_click", "right_click", "drag", "select", "answer"} or \
            (t == "status" and a.status not in ("complete", "impossible"))
    raise AssertionError(style)


# ------------------------------------------------------------------------------------- strategies
def sizes():
    return st.one_of(st.sampled_from(SIZES),
                     st.tuples(st.integers(28, 4000), st.integers(28, 4000)).filter(
                         lambda s: max(s) / min(s) <= 20))


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
THOUGHT = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd", "Zs"), whitelist_characters=".,;!?'\"-"),
                  min_size=1, max_size=60).map(str.strip).filter(bool)


@st.composite
def action_of(draw, kind: str, w: int, h: int) -> Action:
    def pt():
        return draw(st.floats(0, w)), draw(st.floats(0, h))

    def swipe_vector(with_end: bool):
        d = draw(st.sampled_from(DIRS))
        horizontal = d in ("left", "right")
        size, other = (w, h) if horizontal else (h, w)
        if not with_end:  # leave room in the finger direction (>= 6 % of the screen) for a synthesised end point
            main = draw(st.floats(0.06 * size, size)) if d in ("up", "left") else draw(st.floats(0, 0.94 * size))
            cross = draw(st.floats(0, other))
            p = (main, cross) if horizontal else (cross, main)
            return Action(type="swipe", point=p, direction=d)
        length = draw(st.floats(0.1 * size, 0.9 * size))
        sign = 1 if d in ("right", "down") else -1
        start_main = draw(st.floats(length, size)) if sign < 0 else draw(st.floats(0, size - length))
        start_cross = draw(st.floats(0, other))
        lo, hi = max(0.0, start_cross - length / 3), min(float(other), start_cross + length / 3)
        end_cross = draw(st.floats(lo, hi))
        start, end = (start_main, start_cross), (start_main + sign * length, end_cross)
        if not horizontal:
            start, end = start[::-1], end[::-1]
        return Action(type="swipe", point=start, end_point=end, direction=d)

    if kind in ("click", "long_press", "double_click", "right_click"):
        bbox = None
        if draw(st.booleans()):
            x1, x2 = sorted((draw(st.floats(0, w)), draw(st.floats(0, w))))
            y1, y2 = sorted((draw(st.floats(0, h)), draw(st.floats(0, h))))
            bbox = (x1, y1, x2, y2)
        duration = draw(st.none() | st.integers(0, 60000)) if kind == "long_press" else None
        return Action(type=kind, point=pt(), bbox=bbox, duration_ms=duration)
    if kind == "swipe":
        return swipe_vector(draw(st.booleans()))
    if kind == "scroll":
        a = swipe_vector(False)
        return Action(type="scroll", direction=a.direction, point=a.point if draw(st.booleans()) else None)
    if kind == "drag":
        return Action(type="drag", point=pt(), end_point=pt())
    if kind in ("type", "select", "answer", "ask_user"):
        return Action(type=kind, text=draw(TEXT), point=pt() if kind in ("type", "select") and draw(st.booleans())
                      else None)
    if kind == "key":
        return Action(type="key", key=draw(st.sampled_from(["close/delete", "volume_up", "ctrl c", "menu", "a'b\"c\\"])))
    if kind == "open_app":
        return Action(type="open_app", app=draw(TEXT))
    if kind == "wait":
        return Action(type="wait", duration_ms=draw(st.none() | st.integers(0, 60000)))
    if kind == "status":
        return Action(type="status", status=draw(st.sampled_from(["complete", "impossible", "interrupt",
                                                                   "need_feedback"])),
                      text=draw(st.none() | TEXT))
    return Action(type=kind)


def assert_close(got: Action, want: Action, tol: float) -> None:
    assert got.type == want.type, (got, want)
    for f in ("point", "end_point", "bbox"):
        a, b = getattr(got, f), getattr(want, f)
        assert (a is None) == (b is None), (f, got, want)
        if a is not None:
            err = max(abs(x - y) for x, y in zip(a, b))
            assert err <= tol + 1e-9, f"{f}: {a} vs {b} (error {err} > tolerance {tol})"
    for f in ("direction", "text", "app", "key", "status", "duration_ms"):
        assert getattr(got, f) == getattr(want, f), (f, got, want)


# ------------------------------------------------------------------------------------- the property
@pytest.mark.parametrize("kind", ACTION_TYPES)
@pytest.mark.parametrize("name", list(STYLES))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parse_inverts_render(name, kind, data):
    style = get_style(name)
    w, h = data.draw(sizes(), label="size")
    action = data.draw(action_of(kind, w, h), label="action")
    if refused(name, action):
        with pytest.raises(Unsupported):
            style.render_action(action, w, h)
        with pytest.raises(Unsupported):
            style.normalize(action, w, h)
        return
    thought = data.draw(st.none() | THOUGHT, label="thought")
    text = style.render_action(action, w, h, thought)
    parsed = style.parse_action(text, w, h)
    assert parsed.ok, (text, parsed.error)
    assert_close(parsed.action, style.normalize(action, w, h), style.frame().tolerance(w, h))
    assert parsed.thought == thought
    tol_units = style.frame().tolerance(w, h) / max(w / style.frame().model_size(w, h)[0],
                                                    h / style.frame().model_size(w, h)[1])
    assert tol_units == pytest.approx(0.5)  # the tolerance is half a model unit


@pytest.mark.parametrize("name", list(STYLES))
def test_every_style_expresses_the_basics(name):
    """Guard against a renderer that refuses everything (the property would then pass vacuously)."""
    style = get_style(name)
    basics = [Action(type="click", point=(100, 200)), Action(type="navigate_back"),
              Action(type="type", text="hello"), Action(type="swipe", point=(500, 1200), direction="up"),
              Action(type="status", status="complete")]
    for a in basics:
        assert style.parse_action(style.render_action(a, 1080, 2400), 1080, 2400).ok


def test_direction_only_swipe_at_the_edge_is_refused():
    """A direction-only swipe starting where no room is left cannot get an end point without guessing."""
    a = Action(type="swipe", point=(540, 10), direction="up")
    for name in ("qwen25vl", "seed"):
        with pytest.raises(Unsupported, match="edge"):
            get_style(name).render_action(a, 1080, 2400)
    # styles that carry the direction itself express it fine
    assert get_style("agentcpm").render_action(a, 1080, 2400) == '{"POINT":[500,4],"to":"up"}'


MARKERS = ["</think>", "<think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>", "Action:", "\nAction: x(",
           "Thought:", "\nThought: ", "{", "}", "[", "]", "'", '"', "\\", "```", " ", "\n", "<point>1 2</point>", "')"]


@pytest.mark.parametrize("name", list(STYLES))
@settings(max_examples=150, deadline=None)
@given(text=st.lists(st.sampled_from(MARKERS), min_size=1, max_size=8).map("".join).filter(str.strip),
       thought=st.none() | THOUGHT)
def test_markers_inside_texts_do_not_confuse_the_parser(name, text, thought):
    """Typed text / app names / summaries may contain the very markers the parsers look for."""
    style = get_style(name)
    for action in (Action(type="type", text=text), Action(type="open_app", app=text),
                   Action(type="status", status="complete", text=text)):
        try:
            rendered = style.render_action(action, 1080, 2400, thought)
        except Unsupported:
            continue
        parsed = style.parse_action(rendered, 1080, 2400)
        assert parsed.ok, (rendered, parsed.error)
        assert_close(parsed.action, style.normalize(action, 1080, 2400), 0.5)
        assert parsed.thought == thought
