"""Importer driver, CLI and the seed per-step JSON importer (values hand-computed from
tests/fixtures/importers/build_fixtures.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bridge import open_dataset
from bridge.schema import Episode
from bridge.validate import validate_dataset
from bridge.cli import main
from bridge.errors import BridgeError
from bridge.importers import IMPORTERS, get_importer, import_dataset
from bridge.importers.base import iter_json_values

FIX = Path(__file__).parent / "fixtures" / "importers"
SEED = FIX / "seed-steps"


def run_cli(args, capsys):
    """Run ``bridge ARGS`` in-process; returns (exit code, stdout, stderr)."""
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def episodes(path) -> dict:
    return {e.episode_id: e for e in open_dataset(path)}


@pytest.fixture(scope="module")
def seed_ds(tmp_path_factory):
    """The seed fixture imported with the default --images ref (screenshots referenced in SEED)."""
    out = tmp_path_factory.mktemp("seed") / "ds"
    report = import_dataset("seed-steps", SEED, out)
    assert (report.episodes, report.steps, report.rejected) == (2, 13, 0)
    return out


@pytest.fixture(scope="module")
def seed_link_ds(tmp_path_factory):
    """The seed fixture imported self-contained (--images link): screenshots hard-linked into images/."""
    out = tmp_path_factory.mktemp("seed-link") / "ds"
    report = import_dataset("seed-steps", SEED, out, images="link")
    assert (report.episodes, report.steps, report.rejected) == (2, 13, 0)
    return out


def broken_seed(tmp_path: Path) -> Path:
    """A copy of the seed fixture with a malformed long_click box in 43688/step_5.json."""
    src = tmp_path / "src"
    shutil.copytree(SEED, src)
    step = src / "43688" / "step_5.json"
    data = json.loads(step.read_text(encoding="utf-8"))
    data["output"]["action_parameter"]["long_click"] = "20,280,abc"
    step.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return src


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name))


# ------------------------------------------------------------------------------------------------ registry

def test_registry_lists_source_and_trainer_formats_and_rejects_unknown():
    assert set(IMPORTERS) == {"seed-steps", "gui-r1", "agentcpm", "androidcontrol", "gui-odyssey", "aitw",
                              "trl", "llamafactory", "swift", "verl", "vlmr1"}
    for name in IMPORTERS:
        imp = get_importer(name)
        assert imp.name == name and imp.layout and callable(imp.records)
    with pytest.raises(BridgeError, match="unknown import format 'rico'"):
        get_importer("rico")


def test_import_help_lists_formats(capsys):
    code, out, _ = run_cli(["import", "--help"], capsys)
    assert code == 0
    for name in IMPORTERS:
        assert name in out
    assert "--skip-invalid" in out and "--images" in out


# ------------------------------------------------------------------------------------------------ seed-steps

def test_seed_episodes_goal_app_and_plan(seed_ds):
    eps = episodes(seed_ds)
    assert list(eps) == ["7", "43688"]  # numeric folder order
    ep = eps["43688"]
    assert ep.instruction == "在淘宝搜索蓝牙耳机并加入购物车【前置条件：字体调至最大】"
    assert ep.app == "淘宝" and ep.platform == "android" and ep.source == "seed-steps"
    assert ep.meta["task_path"]["3"] == "输入蓝牙耳机" and len(ep.meta["task_path"]) == 11
    assert ep.meta["action_type_list"]["inquiry"] == "询问"
    assert eps["7"].app == "美团"


def test_seed_steps_ordered_numerically(seed_ds):
    ep = episodes(seed_ds)["43688"]
    assert [s.meta["source_step"] for s in ep.steps] == list(range(1, 12))  # step_2 before step_10
    assert [s.index for s in ep.steps] == list(range(11))
    assert ep.steps[1].screenshot == "43688/43688_2.jpg"  # relative to the image root, SEED
    assert ep.steps[9].screenshot == "43688/43688_10.jpg"
    assert ep.steps[9].action.type == "swipe"  # step_10 is the right swipe


def test_seed_ref_mode_references_images_in_place(seed_ds):
    ds = open_dataset(seed_ds)
    manifest = json.loads((seed_ds / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["image_root"] == str(SEED.absolute()) and manifest["version"] == 2
    assert ds.image_root == SEED.absolute()
    assert ds.image_path("43688/43688_2.jpg") == SEED.absolute() / "43688" / "43688_2.jpg"
    assert list((seed_ds / "images").iterdir()) == []  # nothing linked or copied


def test_seed_link_mode_places_images_flat_in_the_dataset(seed_ds, seed_link_ds):
    ds = open_dataset(seed_link_ds)
    manifest = json.loads((seed_link_ds / "manifest.json").read_text(encoding="utf-8"))
    assert "image_root" not in manifest and manifest["version"] == 1 and ds.image_root is None
    ep = episodes(seed_link_ds)["43688"]
    assert ep.steps[1].screenshot == "images/43688-43688_2.jpg"
    assert ep.steps[1].extra_images == ["images/43688-43688_1.jpg"]
    assert ds.image_path(ep.steps[1].screenshot) == (seed_link_ds / "images" / "43688-43688_2.jpg").absolute()
    shot = seed_link_ds / ep.steps[1].screenshot
    assert shot.stat().st_ino == (SEED / "43688" / "43688_2.jpg").stat().st_ino  # a hard link, not a copy
    assert len(list((seed_link_ds / "images").iterdir())) == 13
    # both modes hold the same episodes apart from the image paths
    ref = episodes(seed_ds)["43688"]
    strip = {"screenshot", "extra_images"}
    assert [s.model_dump(exclude=strip) for s in ref.steps] == [s.model_dump(exclude=strip) for s in ep.steps]
    assert ref.model_dump(exclude={"steps"}) == ep.model_dump(exclude={"steps"})


def test_seed_click_box_and_centre(seed_ds):
    s = episodes(seed_ds)["43688"].steps[1]
    assert s.action.type == "click"
    assert s.action.bbox == (24.0, 120.0, 336.0, 160.0)
    assert s.action.point == (180.0, 140.0)
    assert (s.width, s.height) == (360, 800)
    assert s.low_instruction == "点击搜索框"
    lp = episodes(seed_ds)["43688"].steps[4].action
    assert lp.type == "long_press" and lp.bbox == (20.0, 280.0, 340.0, 420.0) and lp.point == (180.0, 350.0)


def test_seed_swipes_keep_start_end_and_finger_direction(seed_ds):
    steps = episodes(seed_ds)["43688"].steps
    up, right = steps[3].action, steps[9].action
    assert (up.type, up.point, up.end_point, up.direction) == ("swipe", (180.0, 600.0), (180.0, 200.0), "up")
    assert (right.point, right.end_point, right.direction) == ((60.0, 400.0), (300.0, 420.0), "right")


def test_seed_text_app_wait_back(seed_ds):
    steps = episodes(seed_ds)["43688"].steps
    assert (steps[0].action.type, steps[0].action.app) == ("open_app", "淘宝")
    assert (steps[2].action.type, steps[2].action.text) == ("type", "蓝牙耳机")
    assert steps[5].action.type == "wait"
    assert steps[6].action.type == "navigate_back"


def test_seed_inquiry_becomes_ask_user_with_candidates(seed_ds):
    a = episodes(seed_ds)["43688"].steps[7].action
    assert a.type == "ask_user" and a.text == "您想要哪种颜色？"
    assert a.meta == {"candidates": ["黑色", "白色"], "answer_index": 1,
                      "pic_describe": "商品详情页显示黑色和白色两个选项"}


def test_seed_status_complete_and_impossible_with_text(seed_ds):
    eps = episodes(seed_ds)
    done = eps["43688"].steps[10].action
    assert (done.type, done.status, done.text) == ("status", "complete", "已将蓝牙耳机加入购物车")
    no = eps["7"].steps[1].action
    assert (no.type, no.status, no.text) == ("status", "impossible", "应用未安装，无法完成")


def test_seed_previous_screenshot_is_extra_image_and_history_kept(seed_ds):
    steps = episodes(seed_ds)["43688"].steps
    assert steps[0].extra_images == []  # screen_path1 is empty on the first step
    assert steps[1].extra_images == ["43688/43688_1.jpg"]
    assert steps[10].extra_images == ["43688/43688_10.jpg"]
    assert steps[2].meta["history"] == ["打开淘宝", "点击搜索框"]
    ds = open_dataset(seed_ds)
    for s in steps:  # every referenced image resolves to the source file
        assert ds.image_path(s.screenshot).is_file()
        assert all(ds.image_path(p).is_file() for p in s.extra_images)


def test_seed_dataset_passes_validate(seed_ds, seed_link_ds, capsys):
    for ds in (seed_ds, seed_link_ds):
        code, out, _ = run_cli(["validate", str(ds)], capsys)
        assert code == 0, out


def test_seed_single_episode_folder(tmp_path):
    report = import_dataset("seed-steps", SEED / "7", tmp_path / "one")
    assert (report.episodes, report.steps) == (1, 2)
    assert list(episodes(tmp_path / "one")) == ["7"]


# ----------------------------------------------------------------------------------- errors and --skip-invalid

def test_malformed_record_is_located_and_nothing_is_written(tmp_path, capsys):
    src = broken_seed(tmp_path)
    (src / "7" / "step_1.json").write_text('{"input": {"task_content": "x"', encoding="utf-8")  # truncated JSON
    out = tmp_path / "out"
    code, stdout, err = run_cli(["import", "seed-steps", str(src), str(out)], capsys)
    assert code == 2
    assert "Traceback" not in err
    # every problem is listed, each located: file, record, field, expected vs found
    assert f"{src / '43688' / 'step_5.json'} [43688] output.action_parameter.long_click: malformed coordinates" in err
    assert "expected \"x1,y1,x2,y2\" (4 numbers, screenshot pixels), found '20,280,abc'" in err
    assert f"{src / '7' / 'step_1.json'}:1 [7]: not valid JSON" in err
    assert "2 invalid source record(s)" in err
    assert not out.exists() and leftovers(out) == []


def test_skip_invalid_writes_good_episodes_and_rejects_report(tmp_path, capsys):
    src, out = broken_seed(tmp_path), tmp_path / "out"
    code, stdout, err = run_cli(["import", "seed-steps", str(src), str(out), "--skip-invalid"], capsys)
    assert code == 0
    assert "imported 1 episode(s), 2 step(s)" in stdout
    assert "rejected 1 source record(s) (1 problem(s))" in err
    assert list(episodes(out)) == ["7"]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rejects) == 1 and rejects[0]["record"] == "43688"
    (p,) = rejects[0]["problems"]
    assert p["file"].endswith("43688/step_5.json") and p["field"] == "output.action_parameter.long_click"
    assert p["found"] == "20,280,abc"
    assert list((out / "images").iterdir()) == []  # --images ref: nothing placed
    link = tmp_path / "link"
    code, _, _ = run_cli(["import", "seed-steps", str(src), str(link), "--skip-invalid", "--images", "link"], capsys)
    assert code == 0
    # no image of the rejected episode was placed
    assert sorted(q.name for q in (link / "images").iterdir()) == ["7-7_1.jpg", "7-7_2.jpg"]


def test_canonical_check_problem_points_at_the_source_step(tmp_path, capsys):
    """A box outside the screenshot is caught by bridge.validate's checks and reported at the step file."""
    src = tmp_path / "src"
    shutil.copytree(SEED / "7", src / "7")
    step = src / "7" / "step_1.json"
    data = json.loads(step.read_text(encoding="utf-8"))
    data["output"]["action_parameter"]["click"] = "40,500,9999,560"
    step.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    code, _, err = run_cli(["import", "seed-steps", str(src), str(tmp_path / "out")], capsys)
    assert code == 2
    assert f"{step} [7] steps[0].action.bbox: box outside the image" in err


def test_bad_inquiry_and_missing_screenshot_are_located(tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(SEED / "43688", src / "43688")
    s8 = src / "43688" / "step_8.json"
    data = json.loads(s8.read_text(encoding="utf-8"))
    data["output"]["action_parameter"]["inquiry"] = "{Question: 哪个?"
    s8.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (src / "43688" / "43688_3.jpg").unlink()
    code, _, err = run_cli(["import", "seed-steps", str(src), str(tmp_path / "out")], capsys)
    assert code == 2
    assert f"{s8} [43688] output.action_parameter.inquiry: malformed inquiry" in err
    # reported once, where it is first named (step_3's current screenshot; step_4 names it as previous)
    assert (f"{src / '43688' / 'step_3.json'} [43688] input.screen_path2: screenshot file not found "
            f"(expected a readable image file, found '") in err
    assert "2 problem(s)" in err


def test_overwrite_failure_keeps_existing_output(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old", encoding="utf-8")
    code, _, err = run_cli(["import", "seed-steps", str(SEED), str(out)], capsys)
    assert code == 2 and "already exists" in err
    code, _, err = run_cli(["import", "seed-steps", str(broken_seed(tmp_path)), str(out), "--overwrite"], capsys)
    assert code == 2
    assert (out / "keep.txt").read_text(encoding="utf-8") == "old" and leftovers(out) == ["out"]
    code, _, _ = run_cli(["import", "seed-steps", str(SEED), str(out), "--overwrite", "--split", "train",
                          "--images", "copy"], capsys)
    assert code == 0 and not (out / "keep.txt").exists()
    eps = episodes(out)
    assert {e.split for e in eps.values()} == {"train"}
    shot = out / eps["7"].steps[0].screenshot
    assert not shot.is_symlink() and shot.stat().st_nlink == 1  # a real copy


def test_empty_source_is_an_error(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    code, _, err = run_cli(["import", "seed-steps", str(tmp_path / "src"), str(tmp_path / "out")], capsys)
    assert code == 2 and "no seed-steps records found" in err
    assert not (tmp_path / "out").exists()


def test_worker_processes_give_the_same_dataset_as_one_process(tmp_path):
    """Past INLINE_RECORDS records the driver converts in worker processes; output and order must not change."""
    from bridge.importers.base import INLINE_RECORDS

    src = tmp_path / "src"
    n = INLINE_RECORDS + 40
    for i in range(n):
        shutil.copytree(SEED / "7", src / str(1000 + i))
    bad = src / str(1000 + n - 3) / "step_2.json"  # one bad record handled by a worker
    text = bad.read_text(encoding="utf-8").replace('"action_type": "task_impossible"', '"action_type": "teleport"')
    bad.write_text(text, encoding="utf-8")
    one = import_dataset("seed-steps", src, tmp_path / "one", jobs=1, skip_invalid=True)
    two = import_dataset("seed-steps", src, tmp_path / "two", jobs=2, skip_invalid=True)
    assert (one.episodes, one.steps, one.rejected) == (two.episodes, two.steps, two.rejected) == (n - 1, 2 * n - 2, 1)
    assert (tmp_path / "one" / "episodes.jsonl").read_bytes() == (tmp_path / "two" / "episodes.jsonl").read_bytes()
    (reject,) = [json.loads(x) for x in (tmp_path / "two" / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert reject["record"] == str(1000 + n - 3) and reject["problems"][0]["file"] == str(bad)
    assert sorted(p.name for p in (tmp_path / "two" / "images").iterdir()) == sorted(
        p.name for p in (tmp_path / "one" / "images").iterdir())


def test_canonical_seed_lines_equal_the_model_serialisation(tmp_path):
    """seed-steps writes its validated dicts directly (rec.canonical): the bytes must be exactly what
    Episode.to_json_bytes() gives — field order, floats, no empty meta — for every action kind, unknown keys,
    NaN in meta (null, like the model) and the --split / --platform paths (which go through the model)."""
    src = tmp_path / "src"
    shutil.copytree(SEED, src)
    step = src / "7" / "step_1.json"
    data = json.loads(step.read_text(encoding="utf-8"))
    data["input"]["device"] = {"dpi": float("nan"), "name": "p"}
    data["output"]["confidence"] = 0.5
    step.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")  # json writes NaN as a literal
    for out, opts in (("plain", {}), ("split", {"split": "train"}), ("platform", {"platform": "ios"}),
                      ("link", {"images": "link"})):
        import_dataset("seed-steps", src, tmp_path / out, **opts)
        lines = (tmp_path / out / "episodes.jsonl").read_bytes().splitlines()
        assert len(lines) == 2
        for line in lines:
            assert Episode.model_validate_json(line).to_json_bytes() == line
    ep = episodes(tmp_path / "plain")["7"]
    assert ep.steps[0].meta["device"] == {"dpi": None, "name": "p"} and ep.steps[0].action.meta == {"confidence": 0.5}
    assert {e.split for e in episodes(tmp_path / "split").values()} == {"train"}
    assert {e.platform for e in episodes(tmp_path / "platform").values()} == {"ios"}


def test_single_episode_folder_named_images_is_placed_not_referenced(tmp_path):
    """'images/...' names the dataset's own images, so a source folder called images cannot be referenced."""
    shutil.copytree(SEED / "7", tmp_path / "images")
    import_dataset("seed-steps", tmp_path / "images", tmp_path / "out")
    ep = episodes(tmp_path / "out")["images"]
    assert [s.screenshot for s in ep.steps] == ["images/images-7_1.jpg", "images/images-7_2.jpg"]
    assert "image_root" not in json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert validate_dataset(tmp_path / "out").ok


def test_loads_is_json_loads():
    from bridge.importers.base import loads

    for text in ['{"a": 1, "a": 2}', "1e400", '"\\ud800"', "\ufeff{\"a\": 1}", "[1.0000000000000002, 5e-324, -0.0]",
                 '{"n": NaN, "big": 123456789012345678901234567890}', '"\u00e9\u4e2d"']:
        data = text.encode("utf-8")
        expected = json.loads(data)
        got = loads(data)
        assert json.dumps(got) == json.dumps(expected) and type(got) is type(expected), text
    for bad in (b'{"a": 1', b"[1,]", b"\xff\xfe{", b""):
        with pytest.raises(ValueError) as mine:
            loads(bad)
        with pytest.raises(ValueError) as theirs:
            json.loads(bad)
        assert type(mine.value) is type(theirs.value) and str(mine.value) == str(theirs.value)


# ------------------------------------------------------------------------------------------ streaming JSON

def test_json_array_streaming_across_chunk_boundaries(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('[\n {"a": 1,\n  "b": "x]y"},\n\n {"a": 2}\n,{"a": [3, {"c": "}"}]}\n]\n', encoding="utf-8")
    for chunk in (3, 7, 1 << 20):
        got = list(iter_json_values(str(path), chunk_size=chunk))
        assert got == [(2, {"a": 1, "b": "x]y"}, None), (5, {"a": 2}, None), (6, {"a": [3, {"c": "}"}]}, None)]
    path.write_text('[{"a": 1},\n {"a": 2,,}]', encoding="utf-8")
    got = list(iter_json_values(str(path), chunk_size=4))
    assert got[0] == (1, {"a": 1}, None)
    assert got[1][0] == 2 and got[1][1] is None and got[1][2].startswith("not valid JSON")
    path.write_text('{"a": 1}', encoding="utf-8")
    assert list(iter_json_values(str(path))) == [(1, {"a": 1}, None)]
