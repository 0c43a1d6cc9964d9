"""GUI-R1, AgentCPM-GUI, AndroidControl, GUI-Odyssey and AITW importers: recovered values (hand-computed from
tests/fixtures/importers/build_fixtures.py) and located errors for malformed source records."""
from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bridge import open_dataset
from bridge.errors import BridgeError
from bridge.importers import import_dataset

FIX = Path(__file__).parent / "fixtures" / "importers"


def imported(tmp_path_factory, fmt: str, src=None) -> dict:
    out = tmp_path_factory.mktemp(fmt) / "ds"
    report = import_dataset(fmt, src or FIX / fmt, out)
    assert report.rejected == 0
    ds = open_dataset(out)
    eps = {e.episode_id: e for e in ds}
    for e in eps.values():  # every image resolves: referenced in the source (default --images ref) or placed
        for s in e.steps:
            with Image.open(ds.image_path(s.screenshot)) as im:
                assert im.size == (s.width, s.height)
    return eps


def failing(fmt: str, src, tmp_path) -> BridgeError:
    out = tmp_path / "out"
    with pytest.raises(BridgeError) as info:
        import_dataset(fmt, src, out)
    assert not out.exists()
    return info.value


# --------------------------------------------------------------------------------------------------- gui-r1

@pytest.fixture(scope="module")
def r1(tmp_path_factory):
    return imported(tmp_path_factory, "gui-r1")


def test_gui_r1_click_box_and_centre_in_original_pixels(r1):
    ep = r1["train-0"]
    (s,) = ep.steps
    assert ep.instruction == "Open the first search result" and (s.width, s.height) == (400, 800)
    assert s.action.type == "click"
    assert s.action.bbox == pytest.approx((40.0, 160.0, 200.0, 240.0))  # [0.1, 0.2, 0.5, 0.3] x (400, 800)
    assert s.action.point == pytest.approx((120.0, 200.0))
    assert ep.meta == {"task_type": "high", "success_rate": 0.5}
    point_only = r1["train-1"].steps[0].action
    assert point_only.point == pytest.approx((100.0, 600.0)) and point_only.bbox is None
    assert r1["train-1"].steps[0].meta == {"history": "step 1: click search"}


def test_gui_r1_type_scroll_status_back(r1):
    t = r1["train-2"].steps[0].action
    assert (t.type, t.text, t.point) == ("type", "hello world", None)
    assert t.meta["gt_bbox"] == [-100.0, -100.0]  # placeholder kept, not dropped
    sc = r1["train-3"].steps[0].action
    assert (sc.type, sc.direction) == ("scroll", "up")  # content "down" = finger up
    assert sc.meta["source_direction"] == "down" and sc.meta["direction_convention"] == "content"
    assert (r1["train-4"].steps[0].action.type, r1["train-4"].steps[0].action.status) == ("status", "complete")
    assert r1["train-5"].steps[0].action.type == "navigate_back"


def test_gui_r1_embedded_bytes_are_written_and_paths_linked(r1):
    assert r1["train-0"].steps[0].screenshot == "images/train/0.png"
    assert r1["train-5"].steps[0].screenshot == "images/images/r5.png"  # path column, relative to the parquet


def _parquet(path: Path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    Image.new("RGB", (100, 200), "white").save(buf, "PNG")
    for r in rows:
        r.setdefault("image", {"bytes": buf.getvalue(), "path": None})
        r.setdefault("instruction", "tap it")
        r.setdefault("gt_input_text", "no input text")
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_gui_r1_malformed_rows_are_located(tmp_path):
    src = tmp_path / "bad.parquet"
    _parquet(src, [{"gt_action": "click", "gt_bbox": [0.5, 0.5]},
                   {"gt_action": "click", "gt_bbox": [120.0, 300.0]},  # pixels, not [0, 1]
                   {"gt_action": "fly", "gt_bbox": [0.5, 0.5]}])
    err = failing("gui-r1", src, tmp_path)
    got = [(p.record, p.field, p.found) for p in err.problems]
    assert got == [("row 1", "gt_bbox", [120.0, 300.0]), ("row 2", "gt_action", "fly")]
    assert all(p.file == str(src) for p in err.problems)
    assert "normalised to [0, 1]" in err.problems[0].expected
    report = import_dataset("gui-r1", src, tmp_path / "ok", skip_invalid=True)
    assert (report.episodes, report.rejected) == (1, 2)
    ep = next(iter(open_dataset(tmp_path / "ok")))
    assert ep.steps[0].action.point == pytest.approx((50.0, 100.0))


# -------------------------------------------------------------------------------------------------- agentcpm

@pytest.fixture(scope="module")
def cpm(tmp_path_factory):
    return imported(tmp_path_factory, "agentcpm")


def test_agentcpm_point_from_0_1000_and_thought(cpm):
    ep = cpm["cpm-click"]
    (s,) = ep.steps
    assert ep.instruction == "打开设置" and (s.width, s.height) == (500, 1000)
    assert (s.action.type, s.action.point) == ("click", (250.0, 250.0))  # [500, 250] of 500x1000
    assert s.thought == "设置图标在左上方"


def test_agentcpm_long_press_swipes_type_press(cpm):
    lp = cpm["cpm-long"].steps[0].action
    assert (lp.type, lp.point, lp.duration_ms) == ("long_press", (100.0, 300.0), 1000)
    sw = cpm["cpm-swipe-dir"].steps[0].action
    assert (sw.type, sw.point, sw.end_point, sw.direction) == ("swipe", (250.0, 800.0), None, "up")
    to = cpm["cpm-swipe-to"].steps[0].action
    assert (to.point, to.end_point, to.direction) == ((250.0, 800.0), (250.0, 200.0), "up")
    assert (cpm["cpm-type"].steps[0].action.type, cpm["cpm-type"].steps[0].action.text) == ("type", "咖啡")
    assert cpm["cpm-back"].steps[0].action.type == "navigate_back"
    wait = cpm["cpm-wait"].steps[0].action
    assert (wait.type, wait.duration_ms) == ("wait", 3000)


def test_agentcpm_status_and_history_image_and_rft_box(cpm):
    fin = cpm["cpm-finish"].steps[0].action
    assert (fin.type, fin.status, fin.meta) == ("status", "complete", {"source_status": "finish"})
    assert cpm["cpm-impossible"].steps[0].action.status == "impossible"
    h = cpm["cpm-history"].steps[0]
    assert h.screenshot == "images/images/s3.png" and h.extra_images == ["images/images/s2.png"]
    assert h.action.point == (450.0, 950.0)
    rft = cpm["cpm-rft"].steps[0].action
    assert rft.bbox == (100.0, 200.0, 400.0, 300.0) and rft.point == (250.0, 250.0)


def test_agentcpm_malformed_action_located_by_line(tmp_path):
    src = tmp_path / "sft.json"
    shutil.copytree(FIX / "agentcpm" / "images", tmp_path / "images")
    good = {"id": "a", "image": "images/s0.png",
            "conversations": [{"role": "user", "content": "<Question>打开设置</Question>\n<image>"},
                              {"role": "assistant", "content": '{"POINT":[500,250]}'}]}
    bad = json.loads(json.dumps(good))
    bad["id"] = "b"
    bad["conversations"][1]["content"] = '{"POINT":[500,1250]}'
    worse = json.loads(json.dumps(good))
    worse["id"] = "c"
    worse["conversations"][1]["content"] = '{"CLICK":[1,2]}'
    src.write_text("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in (good, bad, worse)) + "\n]\n",
                   encoding="utf-8")
    err = failing("agentcpm", src, tmp_path)
    got = [(p.line, p.record, p.field, p.found) for p in err.problems]
    assert got == [(3, "b", "conversations[1].content.POINT", [500, 1250]),
                   (4, "c", "conversations[1].content", ["CLICK"])]
    assert err.problems[0].expected == "[x, y] integers in [0, 1000]"


# -------------------------------------------------------------------------------------------- androidcontrol

@pytest.fixture(scope="module")
def ac(tmp_path_factory):
    return imported(tmp_path_factory, "androidcontrol")


def test_androidcontrol_actions_and_content_scroll_flipped(ac):
    ep = ac["1001"]
    assert ep.instruction == "Open Settings and turn on the dark theme" and len(ep.steps) == 4
    a0, a1, a2, a3 = (s.action for s in ep.steps)
    assert (a0.type, a0.app) == ("open_app", "Settings")
    assert (a1.type, a1.direction) == ("scroll", "up")  # content scrolls down = finger moves up
    assert a1.meta["source_direction"] == "down"
    assert (a2.type, a2.point) == ("click", (135.0, 170.0))
    assert (a3.type, a3.status) == ("status", "complete") and ep.steps[3].meta == {"synthetic": True}
    assert ep.steps[1].low_instruction == "Scroll down to find Display"
    assert ep.steps[3].low_instruction is None


def test_androidcontrol_type_input_text_and_elements(ac):
    steps = ac["1002"].steps
    t = steps[0].action
    assert (t.type, t.point, t.text, t.meta["source_action"]) == ("type", (100.0, 60.0), "coffee shops", "type")
    assert (steps[1].action.type, steps[1].action.point) == ("long_press", (50.0, 300.0))
    assert [s.action.type for s in steps[2:]] == ["navigate_back", "type", "navigate_home", "wait", "status"]
    assert steps[3].action.text == "near me"
    els = ac["1001"].steps[1].elements  # the FrameLayout (no text, not clickable) is skipped
    assert [(e.text, e.bbox, e.clickable) for e in els] == [("Display", (20.0, 100.0, 250.0, 140.0), True),
                                                            ("Dark theme", (20.0, 150.0, 250.0, 190.0), True)]
    assert els[0].resource_id == "com.android.settings:id/title" and els[1].role == "android.widget.Switch"


def test_androidcontrol_malformed_episode_located(tmp_path):
    shutil.copytree(FIX / "androidcontrol" / "screenshots", tmp_path / "screenshots")
    lines = (FIX / "androidcontrol" / "episodes.jsonl").read_text(encoding="utf-8").splitlines()
    ep = json.loads(lines[0])
    ep["actions"] = ep["actions"][:2]  # one action short
    ep2 = json.loads(lines[1])
    ep2["actions"][0] = {"action_type": "scroll", "direction": "sideways"}
    ep2["screenshot_widths"][1] = 1080
    src = tmp_path / "episodes.jsonl"
    src.write_text(json.dumps(ep) + "\n" + json.dumps(ep2) + "\n", encoding="utf-8")
    err = failing("androidcontrol", src, tmp_path)
    got = [(p.line, p.record, p.field) for p in err.problems]
    assert got == [(1, "1001", "actions"), (1, "1001", "step_instructions"),
                   (2, "1002", "actions[0].direction"), (2, "1002", "screenshot_widths[1]")]
    assert err.problems[0].expected == "len(screenshots) - 1 = 3 actions" and err.problems[0].found == 2
    assert err.problems[3].expected.startswith("270x600") and err.problems[3].found == "1080x600"


# ---------------------------------------------------------------------------------------------- gui-odyssey

@pytest.fixture(scope="module")
def ody(tmp_path_factory):
    return imported(tmp_path_factory, "gui-odyssey")


def test_gui_odyssey_actions_from_0_1000(ody):
    ep = ody["8214517938"]
    assert ep.instruction.startswith("Utilize DuckDuckGo") and ep.app is None
    assert ep.meta["apps"] == ["DuckDuckGo", "TickTick"] and ep.meta["device_info"]["w"] == 1080
    a = [s.action for s in ep.steps]
    assert (a[0].type, a[0].point) == ("click", (135.0, 180.0))  # [500, 300] of 270x600
    assert (a[1].type, a[1].point) == ("long_press", (54.0, 60.0))
    assert (a[2].type, a[2].point, a[2].end_point, a[2].direction) == ("swipe", (135.0, 480.0), (135.0, 120.0), "up")
    assert a[2].meta["ps"].startswith("[[500, 800]")
    assert (a[3].type, a[3].text) == ("type", "New York Fashion Week")
    assert [x.type for x in a[4:7]] == ["navigate_home", "navigate_back", "key"] and a[6].key == "recent"
    assert (a[7].status, a[7].text) == ("complete", "reminder created in TickTick")


def test_gui_odyssey_screenshots_referenced_under_the_source_root(tmp_path):
    out = tmp_path / "ds"
    import_dataset("gui-odyssey", FIX / "gui-odyssey", out)
    ds = open_dataset(out)
    assert ds.image_root == (FIX / "gui-odyssey").absolute()
    shots = {s.screenshot for e in ds for s in e.steps}
    assert shots and all(p.startswith("screenshots/") for p in shots)
    assert list((out / "images").iterdir()) == []


def test_gui_odyssey_documented_names_and_impossible(ody):
    ep = ody["5550001"]
    assert ep.app == "Threads"
    assert [s.action.type for s in ep.steps] == ["type", "navigate_home", "status"]
    last = ep.steps[2].action
    assert (last.status, last.text) == ("impossible", "the app requires a login")


def test_gui_odyssey_malformed_step_located(tmp_path):
    shutil.copytree(FIX / "gui-odyssey", tmp_path / "src")
    ann = tmp_path / "src" / "annotations" / "8214517938.json"
    ep = json.loads(ann.read_text(encoding="utf-8"))
    ep["steps"][2]["info"] = [[500, 800]]
    ep["steps"][4]["info"] = "KEY_VOLUME"
    ann.write_text(json.dumps(ep), encoding="utf-8")
    err = failing("gui-odyssey", tmp_path / "src", tmp_path)
    assert [(p.file, p.record, p.field) for p in err.problems] == [(str(ann), "8214517938", "steps[2].info"),
                                                                  (str(ann), "8214517938", "steps[4].info")]


# ------------------------------------------------------------------------------------------------------ aitw

@pytest.fixture(scope="module")
def aitw(tmp_path_factory):
    return imported(tmp_path_factory, "aitw")


def test_aitw_tap_swipe_type_and_buttons(aitw):
    ep = aitw["16150593985172894737"]
    assert ep.instruction == "Look up the best rated coffee maker on Lowe's"
    assert ep.meta == {"android_api_level": 30, "device_type": "pixel_5", "episode_length": 5}
    a = [s.action for s in ep.steps]
    assert (a[0].type, a[0].point) == ("click", (150.0, 60.0))  # (y, x) = (0.1, 0.5) of 300x600
    assert (a[1].type, a[1].text) == ("type", "best coffee maker")
    assert a[2].type == "enter"
    assert (a[3].type, a[3].point, a[3].end_point, a[3].direction) == ("swipe", (150.0, 480.0), (156.0, 120.0), "up")
    assert (a[4].type, a[4].status) == ("status", "complete")
    assert [s.meta["step_id"] for s in ep.steps] == [0, 1, 2, 3, 4]


def test_aitw_ui_annotations_become_elements(aitw):
    els = aitw["16150593985172894737"].steps[0].elements
    assert [(e.bbox, e.text, e.role) for e in els] == [
        (pytest.approx((30.0, 48.0, 270.0, 78.0)), "Search", "TEXT"),  # (y .08, x .1, h .05, w .8)
        (pytest.approx((60.0, 300.0, 150.0, 360.0)), None, "ICON_CART")]


def test_aitw_encoded_images_and_other_buttons(aitw):
    ep = aitw["9876543210"]
    assert [s.action.type for s in ep.steps] == ["navigate_back", "navigate_home", "status"]
    assert ep.steps[2].action.status == "impossible"
    assert ep.steps[0].screenshot == "images/9876543210_0.png"


def _aitw_step(eid, sid, length, kind, touch=(-1.0, -1.0), lift=(-1.0, -1.0), **kw):
    buf = io.BytesIO()
    Image.new("RGB", (100, 100), "white").save(buf, "PNG")
    return {"episode_id": eid, "step_id": sid, "episode_length": length, "goal_info": "g",
            "image/encoded": base64.b64encode(buf.getvalue()).decode(), "image/width": 100, "image/height": 100,
            "results/action_type": kind, "results/yx_touch": list(touch), "results/yx_lift": list(lift), **kw}


def test_aitw_tap_threshold_and_step_order(tmp_path):
    src = tmp_path / "s.jsonl"
    rows = [_aitw_step("e", 1, 3, 4, (0.5, 0.5), (0.5, 0.55)),  # 0.05 apart: swipe right
            _aitw_step("e", 0, 3, 4, (0.5, 0.5), (0.53, 0.5)),  # 0.03 apart: tap
            _aitw_step("e", 2, 3, 10)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_dataset("aitw", src, tmp_path / "out")
    (ep,) = open_dataset(tmp_path / "out")
    a = [s.action for s in ep.steps]
    assert (a[0].type, a[0].point, a[0].meta) == ("click", (50.0, 50.0), {"lift_point": [50.0, 53.0]})
    assert (a[1].type, a[1].direction) == ("swipe", "right") and a[1].end_point == pytest.approx((55.0, 50.0))
    assert a[2].status == "complete"


def test_aitw_incomplete_episode_and_bad_step_located(tmp_path):
    src = tmp_path / "s.jsonl"
    rows = [_aitw_step("e", 0, 3, 4, (0.5, 0.5), (0.5, 0.5)), _aitw_step("e", 1, 3, 3),  # TYPE without text
            _aitw_step("f", 0, 1, 9)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    err = failing("aitw", src, tmp_path)
    got = [(p.record, p.line, p.field) for p in err.problems]
    assert got == [("f", 3, "results/action_type"), ("e", 1, "episode_length")]
    assert err.problems[1].message == "episode is incomplete" and err.problems[1].found == 2
    rows[1]["results/type_action"] = ""
    rows.insert(2, _aitw_step("e", 2, 3, 10))
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    err = failing("aitw", src, tmp_path)
    assert [(p.record, p.line, p.field) for p in err.problems][0] == ("e", 2, "results/type_action")


# ------------------------------------------------------------------------------------ garbage never crashes

_JUNK = [None, 0, -5, 1e309, "", "abc", [], [1], [[1, 2]], {}, {"a": 1}, True, "1,2,3,4", [0.5, 0.5, 0.5, 0.5],
         "KEY_HOME", 10 ** 30]


def _mutate(obj, rnd):
    """Replace one random value (at any depth) of a JSON document with junk."""
    paths = []

    def walk(o, p):
        paths.append(p)
        for k, v in (o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()):
            walk(v, p + [k])

    walk(obj, [])
    if len(paths) == 1:
        return rnd.choice(_JUNK)
    path = rnd.choice(paths[1:])
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = rnd.choice(_JUNK)
    return obj


@pytest.mark.parametrize("fmt", ["seed-steps", "agentcpm", "androidcontrol", "gui-odyssey", "aitw"])
def test_mutated_sources_give_located_problems_not_tracebacks(fmt, tmp_path):
    import random

    rnd = random.Random(fmt)
    for i in range(12):
        src = tmp_path / f"src{i}"
        shutil.copytree(FIX / fmt, src)
        f = rnd.choice(sorted(p for p in src.rglob("*") if p.suffix in (".json", ".jsonl")))
        if f.suffix == ".jsonl":
            lines = f.read_text(encoding="utf-8").splitlines()
            k = rnd.randrange(len(lines))
            lines[k] = json.dumps(_mutate(json.loads(lines[k]), rnd))
            f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            f.write_text(json.dumps(_mutate(json.loads(f.read_text(encoding="utf-8")), rnd)), encoding="utf-8")
        try:
            import_dataset(fmt, src, tmp_path / f"out{i}", skip_invalid=True)
        except BridgeError as e:  # allowed: a located user error (e.g. nothing left to import)
            assert str(e)
        rejects = tmp_path / f"out{i}" / "rejects.jsonl"
        if rejects.exists():
            for line in rejects.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                assert rec["problems"] and all(p["file"] and p["message"] for p in rec["problems"])
