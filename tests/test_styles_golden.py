"""Hand-written goldens: exact target text for one click per style, exact prompt text for one step, the parsers'
tolerance of what models really emit, and the style registry.

Hand computation for a 1080x2400 screenshot (Qwen2.5-VL processor limits 3136 / 12845056, factor 28):
round(2400/28) = round(85.71) = 86 -> 2408; round(1080/28) = round(38.57) = 39 -> 1092; 2408*1092 = 2,629,536 lies
within the limits, so the model sees 1092x2408. A click at (300, 2000) is then (300*1092/1080, 2000*2408/2400)
= (303.33, 2006.67) -> [303, 2007]. In [0,1000]: (300/1080*1000, 2000/2400*1000) = (277.8, 833.3) -> [278, 833].
"""
from __future__ import annotations

import json

import pytest

from bridge.errors import BridgeError
from bridge.frames import Frame
from bridge.schema import Action, Episode, Step
from bridge.styles import STYLES, PromptOptions, Style, available, get_style
from bridge.styles.base import Parsed

W, H = 1080, 2400
CLICK = Action(type="click", point=(300, 2000))


# ------------------------------------------------------------------------------------------ target goldens
def test_qwen25vl_click_golden():
    style = get_style("qwen25vl")
    assert style.frame() == Frame("resized", 28, 3136, 12845056)
    assert style.frame().model_size(W, H) == (1092.0, 2408.0)
    assert style.render_action(CLICK, W, H) == (
        '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [303, 2007]}}\n</tool_call>')
    assert style.render_action(CLICK, W, H, thought="Maps is bottom left.") == (
        '<think>Maps is bottom left.</think>\n<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", '
        '"coordinate": [303, 2007]}}\n</tool_call>')
    back = style.parse_action(style.render_action(CLICK, W, H), W, H).action
    assert back.point == pytest.approx((303 * 1080 / 1092, 2007 * 2400 / 2408))


def test_qwen25vl_uses_the_processor_limits_it_is_given():
    # transformers' class defaults (max 28*28*1280 = 1,003,520): 2,629,536 > max, so beta = sqrt(2,592,000/1,003,520)
    # = 45/28; h = floor(2400/45)*28 = 53*28 = 1484, w = floor(1080/45)*28 = 24*28 = 672 (1080/beta/28 computes as
    # 24.000000000000004 in floats, so no off-by-one-factor here). Click: (300*672/1080, 2000*1484/2400)
    # = (186.67, 1236.67) -> [187, 1237].
    style = get_style("qwen25vl", PromptOptions(min_pixels=3136, max_pixels=1003520))
    assert style.frame().model_size(W, H) == (672.0, 1484.0)
    assert '"coordinate": [187, 1237]' in style.render_action(CLICK, W, H)
    assert "The screen's resolution is 672x1484." in style.messages(_episode(), 0, "/d")[0]["content"][0]["text"]


def test_rel1000_click_goldens():
    for name in ("qwen2vl", "qwen3vl"):
        assert get_style(name).render_action(CLICK, W, H) == (
            '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [278, 833]}}\n'
            '</tool_call>')
    assert get_style("qwen3vl").frame().factor == 32
    assert get_style("agentcpm").render_action(CLICK, W, H) == '{"POINT":[278,833]}'
    assert get_style("agentcpm").render_action(CLICK, W, H, thought="点这里") == '{"thought":"点这里","POINT":[278,833]}'


def test_gui_r1_click_golden():
    style = get_style("gui-r1")
    assert style.render_action(CLICK, W, H) == (
        "<answer>[{'action': 'click', 'point': [303, 2007], 'input_text': 'no input text'}]</answer>")
    assert style.render_action(CLICK, W, H, thought="tap it") == (
        "<think>tap it</think><answer>[{'action': 'click', 'point': [303, 2007], 'input_text': 'no input text'}]"
        "</answer>")
    # scroll: finger swipe up = content scrolls down (GUI-R1's direction is the content's)
    assert style.render_action(Action(type="swipe", point=(540, 1800), direction="up"), W, H) == (
        "<answer>[{'action': 'scroll', 'point': [-100, -100], 'input_text': 'down'}]</answer>")
    # text is a single-quoted Python literal, quotes escaped, never double-quoted
    assert style.render_action(Action(type="type", text="it's"), W, H) == (
        "<answer>[{'action': 'type', 'point': [-100, -100], 'input_text': 'it\\'s'}]</answer>")


def test_uitars_click_golden():
    style = get_style("uitars")
    assert style.frame() == Frame("resized", 28, 100 * 28 * 28, 16384 * 28 * 28)
    assert style.render_action(CLICK, W, H) == "Action: click(point='<point>303 2007</point>')"
    assert style.render_action(CLICK, W, H, thought="Open Maps.") == (
        "Thought: Open Maps.\nAction: click(point='<point>303 2007</point>')")
    # UI-TARS's scroll direction is the side that shows more content: finger up => 'down'
    assert style.render_action(Action(type="swipe", point=(300, 2000), direction="up"), W, H) == (
        "Action: scroll(point='<point>303 2007</point>', direction='down')")
    assert style.render_action(Action(type="type", text="a'b\"c\nd"), W, H) == (
        "Action: type(content='a\\'b\\\"c\\nd')")


def test_seed_click_golden():
    style = get_style("seed")
    # the box, rounded to integer original pixels: 250.4 -> 250, 1950.6 -> 1951, 349.6 -> 350, 2049.4 -> 2049
    a = Action(type="click", point=(300, 2000), bbox=(250.4, 1950.6, 349.6, 2049.4), meta={"description": "点击剑来"})
    assert style.render_action(a, W, H) == (
        '{"action_type": "click", "action_parameter": {"click": "250,1951,350,2049"}, "action_description": "点击剑来"}')
    # without a box: a degenerate box at the point
    assert '"click": "300,2000,300,2000"' in style.render_action(CLICK, W, H)
    # swipe: finger start then end, original pixels
    s = Action(type="swipe", point=(540, 1800), end_point=(540, 600), direction="up")
    assert '"swipe": "540,1800,540,600"' in style.render_action(s, W, H)
    parsed = style.parse_action(style.render_action(a, W, H), W, H)
    assert parsed.action.bbox == (250, 1951, 350, 2049) and parsed.action.point == (300, 2000)
    assert parsed.fields["description"] == "点击剑来"


def test_agentcpm_durations_and_statuses():
    style = get_style("agentcpm")
    assert style.render_action(Action(type="long_press", point=(300, 2000)), W, H) == '{"POINT":[278,833],"duration":1000}'
    assert style.render_action(Action(type="swipe", point=(540, 1200), end_point=(540, 600), direction="up"), W, H) == (
        '{"POINT":[500,500],"to":[500,250]}')
    assert style.render_action(Action(type="scroll", direction="left"), W, H) == '{"POINT":[500,500],"to":"left"}'
    assert style.render_action(Action(type="status", status="complete"), W, H) == '{"STATUS":"finish"}'
    assert style.render_action(Action(type="wait", duration_ms=500), W, H) == '{"duration":500}'
    assert style.parse_action('{"POINT":[278,833],"duration":200}', W, H).action.type == "click"
    assert style.parse_action('{"STATUS":"satisfied"}', W, H).action.status == "complete"


# ------------------------------------------------------------------------------------------ prompt goldens
def _episode() -> Episode:
    return Episode(episode_id="ep1", instruction="Open Maps", steps=[
        Step(index=0, screenshot="images/s0.png", width=W, height=H, low_instruction="Tap the Maps icon",
             action=Action(type="click", point=(300, 2000))),
        Step(index=1, screenshot="images/s1.png", width=W, height=H, thought="The search box is on top.",
             action=Action(type="type", text="coffee")),
    ])


def _texts(messages):
    return [(m["role"], "".join(b["text"] if b["type"] == "text" else f"<IMG {b['image']}>" for b in m["content"]))
            for m in messages]


def test_qwen25vl_prompt_golden():
    msgs = get_style("qwen25vl").messages(_episode(), 1, "/data/ds")
    (r0, system), (r1, user) = _texts(msgs)
    assert (r0, r1) == ("system", "user")
    assert user == ("The user query: Open Maps\nTask progress (You have done the following operation on the current "
                    "device): Step 1: Tap the Maps icon; \n<IMG /data/ds/images/s1.png>")
    assert system.startswith("You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist "
                             "with the user query.\n\nYou are provided with function signatures within <tools></tools> "
                             "XML tags:\n<tools>\n")
    assert system.endswith("</tools>\n\nFor each function call, return a json object with function name and arguments "
                           "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
                           "\"arguments\": <args-json-object>}\n</tool_call>")
    tool = json.loads(system[system.index("<tools>\n") + 8:system.index("\n</tools>")])
    assert tool["function"]["name"] == "mobile_use"
    assert "* The screen's resolution is 1092x2408.\n" in tool["function"]["description"]
    assert tool["function"]["parameters"]["properties"]["action"]["enum"] == [
        "key", "click", "long_press", "swipe", "type", "system_button", "open", "wait", "terminate"]
    # the [0,1000] styles announce a 1000x1000 screen
    assert "The screen's resolution is 1000x1000." in _texts(get_style("qwen3vl").messages(_episode(), 1, "/d"))[0][1]


def test_qwen_prompt_options():
    ep = _episode()
    opts = PromptOptions(history=0, prev_image=True, think=True)
    (_, user), = _texts(get_style("qwen2vl", opts).messages(ep, 1, "/d"))[1:]
    assert user == ("The user query: Open Maps\nTask progress (You have done the following operation on the current "
                    "device): None\nBefore answering, explain your reasoning step-by-step in <think></think> tags, and "
                    "insert them before the <tool_call></tool_call> XML tags.\nPrevious screenshot:\n"
                    "<IMG /d/images/s0.png>\nCurrent screenshot:\n<IMG /d/images/s1.png>")
    (_, user0), = _texts(get_style("qwen2vl").messages(ep, 0, "/d"))[1:]
    assert "\nCurrent step query: Tap the Maps icon\n" in user0
    (_, user0), = _texts(get_style("qwen2vl", PromptOptions(low_instruction=False)).messages(ep, 0, "/d"))[1:]
    assert "Current step query" not in user0


def test_gui_r1_prompt_golden():
    (role, text), = _texts(get_style("gui-r1", PromptOptions(think=True)).messages(_episode(), 1, "/data/ds"))
    assert role == "user"
    assert text == (
        "You are GUI-R1, a reasoning GUI Agent Assistant. In this UI screenshot <IMG /data/ds/images/s1.png>, I want "
        "you to continue executing the command 'Open Maps', with the action history being 'Step 1: Tap the Maps "
        "icon; '.\n"
        "Please provide the action to perform (enumerate from ['complete', 'close/delete', 'press_home', 'click', "
        "'press_back', 'type', 'select', 'scroll', 'enter']), the point where the cursor is moved to (integer) if a "
        "click is performed, and any input text required to complete the action.\n"
        "Output the thinking process in <think> </think> tags, and the final answer in <answer> </answer> tags as "
        "follows:\n"
        "<think> ... </think> <answer>[{'action': enum['complete', 'close/delete', 'press_home', 'click', "
        "'press_back', 'type', 'select', 'scroll', 'enter'], 'point': [x, y], 'input_text': 'no input text "
        "[default]'}]</answer>\n"
        "Note:\n specific input text (no default) is necessary for actions enum['type', 'select', 'scroll'] \n "
        "Example:\n"
        "[{'action': enum['complete', 'close/delete', 'press_home', 'press_back', 'enter'], 'point': [-100, -100], "
        "'input_text': 'no input text'}]\n"
        "[{'action': enum['click'], 'point': [123, 300], 'input_text': 'no input text'}]\n"
        "[{'action': enum['type', 'select'], 'point': [-100, -100], 'input_text': 'shanghai shopping mall'}]\n"
        "[{'action': enum['scroll'], 'point': [-100, -100], 'input_text': enum['up', 'left', 'right', 'down']}]")
    (_, nothink), = _texts(get_style("gui-r1").messages(_episode(), 0, "/d"))
    assert "command 'Open Maps' with the current step instruction 'Tap the Maps icon', with the action history being " \
           "'None'." in nothink
    assert "Output the final answer in <answer> </answer> tags as follows:\n<answer>[{'action'" in nothink


def test_agentcpm_prompt_golden():
    (r0, system), (r1, user) = _texts(get_style("agentcpm", PromptOptions(history=0)).messages(_episode(), 1, "/d"))
    assert user == "<Question>Open Maps</Question>\n当前屏幕截图：<IMG /d/images/s1.png>"
    assert system.startswith("# Role\n你是一名熟悉安卓系统触屏GUI操作的智能体，将根据用户的问题，分析当前界面的GUI元素和布局，生成相应的操作。"
                             "\n\n# Task\n针对用户问题，根据输入的当前屏幕截图，输出下一步的操作。\n\n# Rule\n- 以紧凑JSON格式输出\n"
                             "- 输出操作必须遵循Schema约束\n\n# Schema\n{\"type\":\"object\",\"description\":\"执行操作并决定当前任务"
                             "状态\",\"additionalProperties\":false,\"optional\":[\"thought\"],\"properties\":{")
    schema = json.loads(system.split("# Schema\n", 1)[1])
    assert schema["$defs"]["Location"]["items"] == {"type": "integer", "minimum": 0, "maximum": 1000}
    thinking = _texts(get_style("agentcpm", PromptOptions(think=True)).messages(_episode(), 1, "/d"))[0][1]
    assert '"additionalProperties":false,"required":["thought"],' in thinking


def test_uitars_prompt_is_multi_turn():
    ep = _episode()
    msgs = get_style("uitars", PromptOptions(prev_image=True, think=True)).messages(ep, 1, "/d")
    roles = [m["role"] for m in msgs]
    assert roles == ["user", "assistant", "user"]  # prompt + previous screenshot merged, past action, current image
    texts = _texts(msgs)
    assert texts[0][1].startswith("You are a GUI agent. You are given a task and your action history, with "
                                  "screenshots. You need to perform the next action to complete the task. \n"
                                  "## Output Format\n```\nThought: ...\nAction: ...\n```\n## Action Space\n\n")
    assert texts[0][1].endswith("## User Instruction\nOpen Maps\n<IMG /d/images/s0.png>")
    assert texts[1][1] == "Action: click(point='<point>303 2007</point>')"
    assert texts[2][1] == "<IMG /d/images/s1.png>"
    desktop = ep.model_copy(update={"platform": "desktop"})
    assert "left_double(point=" in _texts(get_style("uitars").messages(desktop, 1, "/d"))[0][1]


def test_seed_prompt_golden():
    ep = _episode().model_copy(update={"app": "地图", "meta": {"task_path": {"1": "打开APP"}}})
    (role, text), = _texts(get_style("seed").messages(ep, 1, "/d"))
    assert role == "user"
    body = text[text.index('{"task_content"'):]
    assert body == ('{"task_content": "Open Maps", "task_path": {"1": "打开APP"}, "screen_path1": "<IMG /d/images/s0.png>'
                    '", "screen_path2": "<IMG /d/images/s1.png>", "history_path_all": ["Tap the Maps icon"], '
                    '"app_name": "地图", "action_type_list": ' + json.dumps(
                        {"open_app": "打开应用", "click": "点击", "long_click": "长按", "type": "输入文本", "swipe": "滑动",
                         "task_completed": "任务完成", "task_impossible": "任务无法完成", "inquiry": "询问用户",
                         "wait": "等待", "back": "返回"}, ensure_ascii=False) + "}")
    first = _texts(get_style("seed").messages(ep, 0, "/d"))[0][1]
    assert '"screen_path1": "", "screen_path2": "<IMG /d/images/s0.png>"' in first


# ------------------------------------------------------------------------------------------ tolerant parsing
@pytest.mark.parametrize("name,text", [
    ("qwen25vl", "```\n<tool_call>\n{'name': 'mobile_use', 'arguments': {'action': 'click', 'coordinate': [303, 2007]}}"
                 "\n</tool_call>\n```\nI clicked it."),
    ("qwen25vl", 'reasoning without an opening tag</think>\n<tool_call>\n{"name": "mobile_use", "arguments": '
                 '"{\\"action\\": \\"click\\", \\"coordinate\\": [303, 2007]}"}\n</tool_call>'),
    ("qwen25vl", '  {"action": "CLICK", "coordinate": [303.0, 2007.0]}  '),
    ("qwen25vl", '<tool_call>{"name":"mobile_use","arguments":{"action":"click","coordinate":"(303, 2007)",}}'),
    ("gui-r1", '<think> x </think>\n<answer>[{"action": "click", "point": [303, 2007], "input_text": "no input text"}]'
               '</answer>'),
    ("gui-r1", "<answer>\n  {'action': 'click', 'point': (303,2007), 'input_text': 'no input text'}\n</answer> done"),
    ("gui-r1", "[{'action': 'click', 'point': [303, 2007], 'input_text': 'no input text'}]"),
    ("agentcpm", '```json\n{ "thought" : "x", "POINT" : [278, 833] }\n```'),
    ("agentcpm", "{'POINT': [278, 833]}"),
    ("uitars", "Thought: go\nAction: click(start_box='(303,2007)')"),
    ("uitars", "Action: click(start_box='<|box_start|>(303,2007)<|box_end|>')\n"),
    ("uitars", 'Action: click(point="<point>303 2007</point>")'),
    ("uitars", "Thought: tap\n\nAction:click(point='<point>302 2006 304 2008</point>'"),
    ("seed", '```json\n{"action_type": "click", "action_parameter": {"click": [300, 2000]}, "action_description": ""}'
             '\n```'),
])
def test_parsers_tolerate_real_output(name, text):
    style = get_style(name)
    parsed = style.parse_action(text, W, H)
    assert parsed.ok, parsed.error
    assert parsed.action.type == "click"
    assert parsed.action.point == pytest.approx((300, 2000), abs=style.frame().tolerance(W, H))


@pytest.mark.parametrize("name", list(STYLES))
@pytest.mark.parametrize("text", ["", "   ", "click", "<tool_call></tool_call>", "{}", "[]", "{'action': 'fly'}",
                                  "Action: teleport()", '{"POINT":[1e309,3]}', '{"POINT":["a","b"]}',
                                  "<answer>[{'action': 'click', 'point': [NaN, 1]}]</answer>",
                                  "__import__('os').system('true')", None, 42, b"\xff\xfe"])
def test_parsers_refuse_garbage_without_raising(name, text):
    parsed = get_style(name).parse_action(text, W, H)
    assert isinstance(parsed, Parsed)
    assert not parsed.ok and parsed.error


def test_parser_reports_thoughts():
    assert get_style("uitars").parse_action("Thought: a plan\nAction: press_back()", W, H).thought == "a plan"
    assert get_style("agentcpm").parse_action('{"thought":"t","PRESS":"HOME"}', W, H).thought == "t"
    assert get_style("seed").parse_action('<think>t</think><answer>{"action_type": "back", "action_parameter": '
                                          '{"back": ""}, "action_description": "返回"}</answer>', W, H).thought == "t"


# ------------------------------------------------------------------------------------------ registry
def test_registry_lists_and_loads_every_style():
    assert available()[:7] == ["qwen25vl", "qwen2vl", "qwen3vl", "gui-r1", "agentcpm", "uitars", "seed"]
    for name in STYLES:
        style = get_style(name, PromptOptions(think=True))
        assert isinstance(style, Style) and style.name == name and style.options.think


def test_unknown_style_is_a_user_error():
    with pytest.raises(BridgeError, match="unknown style 'nope'") as e:
        get_style("nope")
    assert "qwen25vl" in e.value.hint
    with pytest.raises(BridgeError, match="cannot load style"):
        get_style("no.such.module:Style")
    with pytest.raises(BridgeError, match="not a bridge.styles.base.Style"):
        get_style("bridge.frames:Frame")


def test_dotted_path_and_entry_point_styles(monkeypatch):
    assert type(get_style("bridge.styles.seed:SeedStyle")).__name__ == "SeedStyle"

    class FakeEP:
        name = "my-style"

        def load(self):
            from bridge.styles.agentcpm import AgentCPMStyle
            return type("MyStyle", (AgentCPMStyle,), {"name": "my-style"})

    import importlib.metadata as md

    monkeypatch.setattr(md, "entry_points", lambda group=None: [FakeEP()] if group == "gui_bridge.styles" else [])
    assert "my-style" in available()
    assert get_style("my-style").render_action(CLICK, W, H) == '{"POINT":[278,833]}'


def test_prefilled_think_without_opening_tag():
    """Chat templates that pre-fill ``<think>`` make models emit only the closing tag."""
    text = 'I compare a < b first.\n</think>\n<tool_call>\n{"name": "mobile_use", "arguments": {"action": "system_button", ' \
           '"button": "Back"}}\n</tool_call>'
    parsed = get_style("qwen25vl").parse_action(text, W, H)
    assert parsed.ok and parsed.thought == "I compare a < b first." and parsed.action.type == "navigate_back"
    # a </think> inside the payload is text, not the end of a thought
    typed = get_style("qwen25vl").render_action(Action(type="type", text="</think>"), W, H)
    assert get_style("qwen25vl").parse_action(typed, W, H).action.text == "</think>"
    answer = get_style("gui-r1").render_action(Action(type="type", text="a</answer>b"), W, H)
    assert get_style("gui-r1").parse_action(answer, W, H).action.text == "a</answer>b"
