"""bridge.validate / `bridge validate`: every malformed case is reported, located, with exit code 2.

Each case starts from one valid 3-step episode (100x200 PNG screenshots), breaks one thing, and checks the exact
field path and message of the problem(s) reported.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from bridge.cli import main
from bridge.dataset import DatasetWriter
from bridge.schema import Episode
from bridge.validate import check_episode, path_problem, validate_dataset

W, H = 100, 200


def base_episode(eid: str = "ep1") -> dict:
    return {
        "episode_id": eid, "instruction": "open the cart", "platform": "android", "app": "Shop", "source": "test",
        "steps": [
            {"index": 0, "screenshot": f"images/{eid}/s0.png", "width": W, "height": H,
             "elements": [{"bbox": [10, 10, 90, 30], "text": "Cart"}],
             "action": {"type": "click", "point": [50, 20], "bbox": [10, 10, 90, 30]}},
            {"index": 1, "screenshot": f"images/{eid}/s1.png", "width": W, "height": H,
             "extra_images": [f"images/{eid}/s0.png"],
             "action": {"type": "swipe", "point": [50, 150], "end_point": [50, 50], "direction": "up"}},
            {"index": 2, "screenshot": f"images/{eid}/s2.png", "width": W, "height": H,
             "action": {"type": "status", "status": "complete", "text": "done"}},
        ],
    }


def write_dataset(root: Path, records: list, raw_lines: list[str] | None = None) -> Path:
    """A dataset at root/ds with PNG screenshots for every images/<eid>/sN.png the records mention.
    ``raw_lines`` (already-serialised lines) replace the episodes file after writing, for type errors."""
    src = root / "src"
    src.mkdir(exist_ok=True)
    png = src / "blank.png"
    Image.new("RGB", (W, H), "white").save(png)
    out = root / "ds"
    with DatasetWriter(out, source="test", images="copy") as w:
        for rec in records:
            for st in rec["steps"]:
                for rel in [st["screenshot"], *st.get("extra_images", [])]:
                    if rel.startswith("images/") and ".." not in rel and "nope" not in rel:
                        w.add_image(png, rel[len("images/"):])
            w.write(Episode.model_validate(rec))
    if raw_lines is not None:
        (out / "episodes.jsonl").write_text("".join(line + "\n" for line in raw_lines))
    return out


def problems_of(tmp_path, rec, **kw):
    # The raw line is written as is (json.dumps keeps NaN, which the writer would turn into null).
    ds = write_dataset(tmp_path, [rec], raw_lines=[json.dumps(rec)])
    return validate_dataset(ds, **kw).problems


def where(problems):
    return sorted((p.field, p.message) for p in problems)


def test_valid_dataset_has_no_problems(tmp_path):
    ds = write_dataset(tmp_path, [base_episode("a"), base_episode("b")])
    report = validate_dataset(ds)
    assert report.ok and report.problems == []
    assert (report.episodes, report.steps, report.invalid_records) == (2, 6, 0)


# (name, mutation of the record, expected [(field, message)]) — semantic cases on a pydantic-valid record.
def _set(path, value):
    def mutate(rec):
        obj = rec
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return mutate


def _del(path):
    def mutate(rec):
        obj = rec
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return mutate


A0 = ("steps", 0, "action")
A1 = ("steps", 1, "action")
CASES = [
    ("size_differs_from_header", _set(("steps", 0, "width"), 120),
     [("steps[0].width", "screenshot width in the record differs from the image file")]),
    ("point_outside_image", _set(A0 + ("point",), [150, 20]),
     [("steps[0].action.point", "point outside the image")]),
    ("negative_point", _set(A0 + ("point",), [50, -1]),
     [("steps[0].action.point", "point outside the image")]),
    ("end_point_outside_image", _set(A1 + ("end_point",), [50, 201]),
     [("steps[1].action.end_point", "point outside the image")]),
    ("bbox_outside_image", _set(A0 + ("bbox",), [10, 10, 101, 30]),
     [("steps[0].action.bbox", "box outside the image")]),
    ("x2_lt_x1", _set(A0 + ("bbox",), [90, 10, 10, 30]),
     [("steps[0].action.bbox", "box has x2 < x1")]),
    ("y2_lt_y1", _set(A0 + ("bbox",), [10, 30, 90, 10]),
     [("steps[0].action.bbox", "box has y2 < y1")]),
    ("point_outside_its_box", _set(A0 + ("point",), [50, 60]),
     [("steps[0].action.point", "point lies outside the action's target box")]),
    ("non_finite_coordinate", _set(A0 + ("point",), [float("nan"), 20]),
     [("steps[0].action.point", "coordinate is not a finite number")]),
    ("missing_required_point", _del(A0 + ("point",)),
     [("steps[0].action.point", "click action needs 'point'")]),
    ("missing_required_direction", _del(A1 + ("direction",)),
     [("steps[1].action.direction", "swipe action needs 'direction'")]),
    ("missing_status", _del(("steps", 2, "action", "status")),
     [("steps[2].action.status", "status action needs 'status'")]),
    ("status_on_non_status_action", _set(A0 + ("status",), "complete"),
     [("steps[0].action.status", "'status' is only allowed on status actions")]),
    ("empty_app_for_open_app", _set(("steps", 2, "action"), {"type": "open_app", "app": " "}),
     [("steps[2].action.app", "open_app action needs 'app'")]),
    ("missing_key_for_key", _set(("steps", 2, "action"), {"type": "key"}),
     [("steps[2].action.key", "key action needs 'key'")]),
    ("direction_disagrees_with_swipe", _set(A1 + ("direction",), "down"),
     [("steps[1].action.direction", "direction disagrees with the finger movement point -> end_point "
                                    "(directions use the finger convention)")]),
    ("swipe_does_not_move", _set(A1 + ("end_point",), [50, 150]),
     [("steps[1].action.end_point", "swipe does not move (end_point equals point)")]),
    ("absolute_screenshot_path", _set(("steps", 2, "screenshot"), "/etc/hostname"),
     [("steps[2].screenshot", "absolute path (image paths are relative to the dataset root)")]),
    ("dotdot_screenshot_path", _set(("steps", 2, "screenshot"), "images/../../secret.png"),
     [("steps[2].screenshot", "path escapes the dataset root ('..')")]),
    ("windows_absolute_extra_image", _set(("steps", 1, "extra_images"), ["C:\\shots\\a.png"]),
     [("steps[1].extra_images[0]", "absolute path (image paths are relative to the dataset root)")]),
    ("empty_screenshot_path", _set(("steps", 2, "screenshot"), ""),
     [("steps[2].screenshot", "empty image path")]),
    ("missing_extra_image", _set(("steps", 1, "extra_images"), ["images/ep1/s0.png", "images/nope.png"]),
     [("steps[1].extra_images[1]", "extra image: file not found")]),
    ("element_box_outside_image", _set(("steps", 0, "elements", 0, "bbox"), [10, 190, 90, 210]),
     [("steps[0].elements[0].bbox", "box outside the image")]),
    ("element_box_inverted", _set(("steps", 0, "elements", 0, "bbox"), [90, 10, 10, 30]),
     [("steps[0].elements[0].bbox", "box has x2 < x1")]),
    ("duplicate_step_index", _set(("steps", 1, "index"), 0),
     [("steps[1].index", "step indexes must be 0, 1, 2, … in list order")]),
    ("non_consecutive_step_index", _set(("steps", 2, "index"), 5),
     [("steps[2].index", "step indexes must be 0, 1, 2, … in list order")]),
    ("empty_steps", _set(("steps",), []),
     [("steps", "episode has no steps")]),
]


@pytest.mark.parametrize("name,mutate,expected", CASES, ids=[c[0] for c in CASES])
def test_semantic_case(tmp_path, name, mutate, expected):
    rec = base_episode()
    mutate(rec)
    probs = problems_of(tmp_path, rec)
    assert where(probs) == sorted(expected)
    for p in probs:  # located: file, line, record
        assert p.file.endswith("episodes.jsonl") and p.line == 1 and p.record == "ep1"


def test_expected_and_found_are_reported(tmp_path):
    rec = base_episode()
    rec["steps"][0]["width"] = 120
    rec["steps"][0]["action"]["bbox"] = [90, 10, 10, 30]
    rec["steps"][0]["action"]["point"] = [50, 20]
    probs = {p.field: p for p in problems_of(tmp_path, rec)}
    size = probs["steps[0].width"]
    assert (size.expected, size.found) == ("100 (from images/ep1/s0.png)", 120)
    box = probs["steps[0].action.bbox"]
    assert (box.expected, box.found) == ("x1 <= x2", [90, 10, 10, 30])
    assert str(box).endswith("episodes.jsonl:1 [ep1] steps[0].action.bbox: box has x2 < x1 "
                             "(expected x1 <= x2, found [90.0, 10.0, 10.0, 30.0])")


def test_many_problems_in_one_record_are_all_reported(tmp_path):
    rec = base_episode()
    rec["steps"][0]["action"]["point"] = [500, 20]
    rec["steps"][1]["action"]["direction"] = "left"
    rec["steps"][2]["screenshot"] = "../x.png"
    rec["steps"][2]["index"] = 7
    assert [p.field for p in problems_of(tmp_path, rec)] == [
        "steps[0].action.point", "steps[1].action.direction", "steps[2].index", "steps[2].screenshot"]


# ---------------------------------------------------------------------------------- image files
def test_missing_screenshot(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()])
    (ds / "images/ep1/s2.png").unlink()
    assert where(validate_dataset(ds).problems) == [("steps[2].screenshot", "screenshot: file not found")]


def test_truncated_screenshot_reported_once_per_reference(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()])
    p = ds / "images/ep1/s0.png"
    p.write_bytes(p.read_bytes()[:-20])
    msg = f"truncated PNG: does not end with the IEND chunk ({p.stat().st_size} bytes)"
    assert where(validate_dataset(ds).problems) == [
        ("steps[0].screenshot", "screenshot: " + msg), ("steps[1].extra_images[0]", "extra image: " + msg)]


def test_unreadable_screenshot_not_an_image(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()])
    (ds / "images/ep1/s1.png").write_text("<html>oops</html>")
    probs = validate_dataset(ds).problems
    assert where(probs) == [("steps[1].screenshot", "screenshot: not an image (unrecognised format)")]
    assert probs[0].found == "images/ep1/s1.png"


def test_check_images_false_skips_files_but_not_paths(tmp_path):
    rec = base_episode()
    rec["steps"][2]["screenshot"] = "/abs.png"
    ds = write_dataset(tmp_path, [rec])
    (ds / "images/ep1/s0.png").unlink()
    probs = validate_dataset(ds, check_images=False).problems
    assert where(probs) == [("steps[2].screenshot", "absolute path (image paths are relative to the dataset root)")]


def test_check_episode_api(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()])
    ep = Episode.model_validate(base_episode())
    assert check_episode(ep, ds, file="x.jsonl") == []
    ep.steps[0].action.point = (1000.0, 1.0)
    (p,) = check_episode(ep, ds, file="x.jsonl", line=9)
    assert (p.file, p.line, p.record, p.field) == ("x.jsonl", 9, "ep1", "steps[0].action.point")


def test_path_problem_accepts_plain_relative_paths():
    assert path_problem("images/a/b.png") is None
    assert path_problem("images/..a/b.png") is None  # a name, not a parent reference
    assert path_problem("\\\\server\\share\\a.png").startswith("absolute")


# --------------------------------------------------------------------------- dataset-level cases
def test_duplicate_episode_ids(tmp_path):
    ds = write_dataset(tmp_path, [base_episode("a"), base_episode("b"), base_episode("a")])
    (p,) = validate_dataset(ds).problems
    assert (p.line, p.record, p.field, p.message) == (3, "a", "episode_id", "duplicate episode_id (first used on line 1)")


def test_manifest_counts_must_match(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()])
    m = json.loads((ds / "manifest.json").read_text())
    m["steps"] = 4
    (ds / "manifest.json").write_text(json.dumps(m))
    (p,) = validate_dataset(ds).problems
    assert (p.file, p.field, p.expected, p.found) == (str(ds / "manifest.json"), "steps", "3", 4)


def _typed_case(rec_mutation):
    rec = base_episode()
    rec_mutation(rec)
    return json.dumps(rec)


TYPE_CASES = [
    ("unknown_action_type", lambda r: r["steps"][0]["action"].update(type="tap"),
     "steps[0].action.type", "Input should be 'click', 'long_press', 'double_click', 'right_click', 'swipe', "
                             "'scroll', 'drag', 'type', 'key', 'open_app', 'wait', 'navigate_back', 'navigate_home', "
                             "'enter', 'select', 'answer', 'ask_user' or 'status'"),
    ("wrong_type_width", lambda r: r["steps"][0].update(width="wide"), "steps[0].width",
     "Input should be a valid integer, unable to parse string as an integer"),
    ("wrong_type_point", lambda r: r["steps"][0]["action"].update(point=[1, 2, 3]), "steps[0].action.point",
     "Tuple should have at most 2 items after validation, not 3"),
    ("unknown_field", lambda r: r["steps"][1].update(screen="x"), "steps[1].screen", "unknown field"),
    ("missing_field", lambda r: r.pop("instruction"), "instruction", "missing required field"),
    ("bad_direction_value", lambda r: r["steps"][1]["action"].update(direction="north"),
     "steps[1].action.direction", "Input should be 'up', 'down', 'left' or 'right'"),
]


@pytest.mark.parametrize("name,mutation,field,message", TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_type_errors_come_from_the_model(tmp_path, name, mutation, field, message):
    ds = write_dataset(tmp_path, [base_episode("ok"), base_episode()],
                       raw_lines=[json.dumps(base_episode("ok")), _typed_case(mutation)])
    report = validate_dataset(ds)
    assert (report.episodes, report.invalid_records) == (1, 1)
    (p,) = report.problems
    assert (p.line, p.record, p.field, p.message) == (2, "ep1", field, message)


def test_garbage_lines(tmp_path):
    ds = write_dataset(tmp_path, [base_episode()],
                       raw_lines=[json.dumps(base_episode()), "{not json", "\x00\xff garbage", "[1, 2]"])
    report = validate_dataset(ds)
    got = [(p.line, p.field, p.message) for p in report.problems]
    assert got[:2] == [(2, None, "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
                       (3, None, "not valid JSON: Expecting value at column 1")]
    assert got[2][0] == 4 and report.invalid_records == 3 and report.episodes == 1


def test_max_problems_caps_the_list_not_the_count(tmp_path):
    recs = []
    for i in range(5):
        r = base_episode(f"e{i}")
        r["steps"][0]["action"]["point"] = [-5, -5]
        recs.append(r)
    report = validate_dataset(write_dataset(tmp_path, recs), max_problems=2)
    assert report.problem_count == 5 and len(report.problems) == 2 and not report.ok


# ------------------------------------------------------------------------------------------------ CLI
def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["validate", *map(str, args)])
        raise SystemExit(0)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return exc.value.code, out.out, out.err


def test_cli_valid_exits_0(tmp_path, capsys):
    ds = write_dataset(tmp_path, [base_episode()])
    code, out, _ = run_cli(capsys, ds)
    assert code == 0 and out.strip() == f"OK: {ds}: 1 episodes, 3 steps, no problems"


def test_cli_lists_every_problem_one_per_line_and_exits_2(tmp_path, capsys):
    a, b = base_episode("a"), base_episode("b")
    a["steps"][0]["action"]["bbox"] = [90, 10, 10, 30]
    b["steps"][1]["action"]["end_point"] = [50, 500]
    ds = write_dataset(tmp_path, [a, b])
    (ds / "images/b/s2.png").unlink()
    code, out, err = run_cli(capsys, ds)
    lines = out.strip().splitlines()
    ep = ds / "episodes.jsonl"
    assert code == 2
    assert lines == [
        f"{ep}:1 [a] steps[0].action.bbox: box has x2 < x1 (expected x1 <= x2, found [90.0, 10.0, 10.0, 30.0])",
        f"{ep}:2 [b] steps[1].action.end_point: point outside the image "
        f"(expected 0 <= x <= 100 and 0 <= y <= 200, found [50.0, 500.0])",
        f"{ep}:2 [b] steps[2].screenshot: screenshot: file not found "
        f"(expected a readable, complete image file, found 'images/b/s2.png')",
    ]
    assert "3 problems" in err


def test_cli_json(tmp_path, capsys):
    rec = base_episode()
    rec["steps"][0]["action"]["point"] = [-1, 0]
    code, out, _ = run_cli(capsys, write_dataset(tmp_path, [rec]), "--json")
    data = json.loads(out)
    assert code == 2 and data["ok"] is False and data["problem_count"] == 1
    assert data["problems"][0]["field"] == "steps[0].action.point" and data["problems"][0]["line"] == 1


def test_cli_max_problems(tmp_path, capsys):
    recs = [base_episode(f"e{i}") for i in range(4)]
    for r in recs:
        r["steps"][0]["height"] = 199
    code, out, err = run_cli(capsys, write_dataset(tmp_path, recs), "--max-problems", "1")
    assert code == 2 and len(out.strip().splitlines()) == 1 and "3 more not shown" in err


def test_cli_not_a_dataset(tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path / "missing")
    assert code == 2 and "not a dataset directory" in err
    (tmp_path / "file.txt").write_text("x")
    code, _, err = run_cli(capsys, tmp_path / "file.txt")
    assert code == 2 and "not a dataset directory" in err
    code, _, err = run_cli(capsys, tmp_path)
    assert code == 2 and "no episodes.jsonl" in err
    code, out, _ = run_cli(capsys, tmp_path, "--json")
    assert code == 2 and json.loads(out)["ok"] is False


def test_cli_missing_or_garbage_manifest(tmp_path, capsys):
    ds = write_dataset(tmp_path, [base_episode()])
    (ds / "manifest.json").write_text("\x00garbage")
    code, _, err = run_cli(capsys, ds)
    assert code == 2 and "unreadable manifest" in err
    (ds / "manifest.json").unlink()
    code, _, err = run_cli(capsys, ds)
    assert code == 2 and "missing manifest" in err


def test_cli_garbage_episodes_file(tmp_path, capsys):
    ds = write_dataset(tmp_path, [base_episode()])
    (ds / "episodes.jsonl").write_bytes(bytes(range(256)) * 4)
    code, out, _ = run_cli(capsys, ds)
    assert code == 2 and "not valid JSON" in out


# ------------------------------------------------------------------------- images referenced in place
def ref_dataset(root: Path, n: int = 1) -> Path:
    """``n`` copies of base_episode (ids e0..) whose screenshots live in root/src/<eid>/sN.png, referenced in
    place (manifest image_root = root/src), plus one dataset-held image for e0's extra image."""
    src = root / "src"
    recs = []
    for i in range(n):
        rec = base_episode(f"e{i}")
        for k, st in enumerate(rec["steps"]):
            st["screenshot"] = f"e{i}/s{k}.png"
            st.pop("extra_images", None)
            (src / f"e{i}").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (W, H), "white").save(src / f"e{i}" / f"s{k}.png")
        recs.append(rec)
    Image.new("RGB", (W, H), "white").save(root / "held.png")
    out = root / "ds"
    with DatasetWriter(out, source="test", images="ref", image_root=src) as w:
        recs[0]["steps"][1]["extra_images"] = [w.add_image(root / "held.png", "held.png")]
        assert w.add_image(src / "e0" / "s0.png", "unused") == "e0/s0.png"
        for rec in recs:
            w.write(Episode.model_validate(rec))
    return out


def test_referenced_images_are_checked_under_the_image_root(tmp_path):
    ds = ref_dataset(tmp_path)
    assert validate_dataset(ds).ok
    (tmp_path / "src" / "e0" / "s2.png").unlink()
    (tmp_path / "held.png").unlink()  # the dataset's hard link keeps it readable
    (p,) = validate_dataset(ds).problems
    assert (p.field, p.message, p.found) == ("steps[2].screenshot", "screenshot: file not found", "e0/s2.png")


def test_paths_escaping_the_image_root_are_reported_as_such(tmp_path):
    ds = ref_dataset(tmp_path)
    lines = (ds / "episodes.jsonl").read_text().replace('"e0/s2.png"', '"../outside.png"')
    (ds / "episodes.jsonl").write_text(lines)
    assert where(validate_dataset(ds).problems) == [("steps[2].screenshot", "path escapes the image root ('..')")]


def test_missing_image_root_is_one_problem_and_held_images_are_still_checked(tmp_path):
    ds = ref_dataset(tmp_path)
    (tmp_path / "src").rename(tmp_path / "moved")
    (ds / "images" / "held.png").write_bytes(b"not a png")
    report = validate_dataset(ds)
    assert [(p.file, p.field, p.found) for p in report.problems] == [
        (str(ds / "manifest.json"), "image_root", str(tmp_path / "src")),
        (str(ds / "episodes.jsonl"), "steps[1].extra_images[0]", "images/held.png")]
    assert report.problems[0].message.startswith("image root does not exist")
    assert report.problems[1].message == "extra image: not an image (unrecognised format)"


def test_worker_processes_report_exactly_what_one_process_reports(tmp_path):
    """Past INLINE_BATCHES * BATCH_LINES episodes (or a manifest saying so) validation runs in workers:
    problems, their order, the duplicate and the counts must not change."""
    from bridge.validate import BATCH_LINES, INLINE_BATCHES

    n = INLINE_BATCHES * BATCH_LINES + 30
    ds = ref_dataset(tmp_path, n)
    lines = (ds / "episodes.jsonl").read_text().splitlines()
    lines[5] = lines[5].replace('"point":[50.0,20.0]', '"point":[500.0,20.0]')
    lines[n - 3] = "{broken"
    lines[n - 1] = lines[n - 1].replace(f'"e{n - 1}"', '"e7"')
    (ds / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "src" / f"e{n - 10}" / "s1.png").unlink()
    one, two = validate_dataset(ds, jobs=1).to_dict(), validate_dataset(ds, jobs=2).to_dict()
    assert one == two
    assert [(p["line"], p.get("field"), p["message"]) for p in one["problems"]] == [
        (6, "steps[0].action.point", "point outside the image"),
        (n - 9, "steps[1].screenshot", "screenshot: file not found"),
        (n - 2, None, "not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        (n, "episode_id", "duplicate episode_id (first used on line 8)")]
    assert (one["episodes"], one["steps"], one["invalid_records"]) == (n - 1, 3 * (n - 1), 1)


def test_cli_validate_jobs_option(tmp_path, capsys):
    ds = ref_dataset(tmp_path)
    code, out, _ = run_cli(capsys, ds, "--jobs", "2")
    assert code == 0 and out.strip() == f"OK: {ds}: 1 episodes, 3 steps, no problems"
