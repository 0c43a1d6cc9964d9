"""The bad-input corpus (issue 11, "Done when"): malformed datasets, recipes, import sources, prediction files,
CLI arguments and misbehaving endpoints, each run through the real CLI. Every case must exit 2 with a located
message (the file and line / field, or the option, or the endpoint named), print no traceback, and leave nothing
partial behind (no output directory, no ``*.partial-*`` temporaries)."""
import json
import shutil
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from bridge.cli import main

W, H = 40, 80
SEED = Path(__file__).parent / "fixtures" / "importers"


# ----------------------------------------------------------------------------------------------- builders
def png(path: Path, size=(W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 90, 200)).save(path)
    return path


def step(i=0, **action):
    return {"index": i, "screenshot": "images/a.png", "width": W, "height": H,
            "action": action or {"type": "click", "point": [10.0, 20.0], "bbox": [0.0, 0.0, 20.0, 40.0]}}


def episode(eid="e0", steps=None):
    return {"episode_id": eid, "instruction": "tap the button", "steps": steps or [step()]}


def dataset(root: Path, lines=None, manifest=None, raw: bytes = None) -> Path:
    """A dataset whose episodes file holds ``lines`` (dicts are dumped, str/bytes written raw)."""
    png(root / "images" / "a.png")
    lines = [episode()] if lines is None else lines
    if raw is None:
        raw = b"".join((json.dumps(x).encode() if isinstance(x, dict) else x if isinstance(x, bytes)
                        else x.encode()) + b"\n" for x in lines)
    (root / "episodes.jsonl").write_bytes(raw)
    n = sum(1 for x in lines if isinstance(x, dict))
    m = {"format": "gui-bridge/dataset", "version": 1, "episodes": n,
         "steps": sum(len(x["steps"]) for x in lines if isinstance(x, dict))}
    if manifest is not None:
        m = manifest(m) if callable(manifest) else manifest
    (root / "manifest.json").write_text(m if isinstance(m, str) else json.dumps(m))
    return root


def bomb(path: Path) -> Path:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------ dataset cases
def _a(**kw):
    return [episode(steps=[step(**kw)])]


RECORD_CASES = {  # episodes-file content -> the located message `bridge validate` must print
    "point-outside": (_a(type="click", point=[99.0, 20.0]), r"episodes.jsonl:1 [e0] steps[0].action.point: point outside"),
    "point-negative": (_a(type="click", point=[-1.0, 2.0]), "steps[0].action.point: point outside"),
    "point-not-in-box": (_a(type="click", point=[30.0, 70.0], bbox=[0.0, 0.0, 5.0, 5.0]),
                         "point lies outside the action's target box"),
    "box-inverted": (_a(type="click", point=[1.0, 1.0], bbox=[20.0, 0.0, 0.0, 40.0]), "box has x2 < x1"),
    "box-outside": (_a(type="click", point=[1.0, 1.0], bbox=[0.0, 0.0, 50.0, 40.0]), "box outside the image"),
    "click-no-point": (_a(type="click"), "click action needs 'point'"),
    "type-no-text": (_a(type="type"), "type action needs 'text'"),
    "open-app-empty": (_a(type="open_app", app="  "), "open_app action needs 'app'"),
    "key-no-key": (_a(type="key"), "key action needs 'key'"),
    "status-on-click": (_a(type="click", point=[1.0, 1.0], status="complete"), "'status' is only allowed"),
    "status-missing": (_a(type="status"), "status action needs 'status'"),
    "swipe-no-direction": (_a(type="swipe", point=[1.0, 1.0]), "swipe action needs 'direction'"),
    "swipe-no-move": (_a(type="swipe", point=[5.0, 5.0], end_point=[5.0, 5.0], direction="up"), "does not move"),
    "swipe-wrong-direction": (_a(type="swipe", point=[5.0, 70.0], end_point=[5.0, 5.0], direction="down"),
                              "direction disagrees"),
    "drag-no-end": (_a(type="drag", point=[1.0, 1.0]), "drag action needs 'end_point'"),
    "unknown-type": (_a(type="teleport"), "steps[0].action.type: Input should be"),
    "unknown-direction": (_a(type="scroll", direction="sideways"), "steps[0].action.direction: Input should be 'up'"),
    "negative-duration": (_a(type="long_press", point=[1.0, 1.0], duration_ms=-5), "duration_ms"),
    "no-steps": ([episode(steps=[])] if False else [{"episode_id": "e0", "instruction": "x", "steps": []}],
                 "episode has no steps"),
    "index-gap": ([episode(steps=[step(0), step(2)])], "steps[1].index: step indexes must be 0, 1, 2"),
    "width-mismatch": ([episode(steps=[{**step(), "width": 41}])], "steps[0].width: screenshot width in the record"),
    "zero-height": ([episode(steps=[{**step(), "height": 0}])], "steps[0].height: Input should be greater than 0"),
    "missing-screenshot": ([episode(steps=[{**step(), "screenshot": "images/gone.png"}])], "file not found"),
    "dotdot-screenshot": ([episode(steps=[{**step(), "screenshot": "../a.png"}])], "path escapes the dataset root"),
    "absolute-screenshot": ([episode(steps=[{**step(), "screenshot": "/etc/passwd"}])], "absolute path"),
    "empty-screenshot": ([episode(steps=[{**step(), "screenshot": ""}])], "empty image path"),
    "windows-path": ([episode(steps=[{**step(), "screenshot": "C:\\x.png"}])], "absolute path"),
    "extra-dotdot": ([episode(steps=[{**step(), "extra_images": ["../../x.png"]}])], "extra_images[0]"),
    "duplicate-id": ([episode("e0"), episode("e0")], "episodes.jsonl:2 [e0] episode_id: duplicate episode_id"),
    "unknown-field": ([{**episode(), "colour": "red"}], "colour: unknown field"),
    "wrong-type-id": ([{**episode(), "episode_id": 7}], "episode_id: Input should be a valid string"),
    "empty-id": ([{**episode(), "episode_id": ""}], "episode_id"),
    "missing-instruction": ([{k: v for k, v in episode().items() if k != "instruction"}],
                            "instruction: missing required field"),
    "bad-platform": ([{**episode(), "platform": "fridge"}], "platform"),
    "element-box": ([episode(steps=[{**step(), "elements": [{"bbox": [5.0, 5.0, 1.0, 1.0]}]}])],
                    "steps[0].elements[0].bbox: box has x2 < x1"),
    "not-json": (["{not json"], "episodes.jsonl:1: not valid JSON: Expecting property name"),
    "not-object": (["[1, 2]"], "episodes.jsonl:1"),
    "bom": ([b"\xef\xbb\xbf" + json.dumps(episode()).encode()], "episodes.jsonl:1 [e0]: starts with a UTF-8 byte-order mark"),
    "latin1": ([json.dumps(episode()).replace("tap", "t\u00e9p").encode("latin-1")],
               "episodes.jsonl:1: not UTF-8 text: byte 0xe9 at column"),
    "huge-int": (['{"episode_id": "e0", "instruction": "x", "steps": [], "meta": {"n": ' + "9" * 5000 + "}}"],
                 "episodes.jsonl:1: integer with 5000 digits"),
    "deep": (['{"episode_id": ' + "[" * 100000 + "]" * 100000 + "}"], "episodes.jsonl:1: nested more than 200"),
    "nan-point": (['{"episode_id": "e0", "instruction": "x", "steps": [{"index": 0, "screenshot": "images/a.png", '
                   '"width": 40, "height": 80, "action": {"type": "click", "point": [NaN, 1]}}]}'],
                  "coordinate is not a finite number"),
}


def _manifest_cases():
    return {
        "manifest-counts": (lambda m: {**m, "episodes": 5}, "manifest.json episodes: manifest count of episodes"),
        "manifest-unknown": (lambda m: {**m, "colour": 1}, "manifest.json colour: unknown field"),
        "manifest-not-json": ("{", "manifest.json: unreadable manifest"),
        "manifest-newer": (lambda m: {**m, "version": 99}, "dataset format version 99 is newer"),
        "manifest-relative-root": (lambda m: {**m, "version": 2, "image_root": "rel"},
                                   "manifest.json image_root: image_root must be an absolute path"),
        "manifest-fs-root": (lambda m: {**m, "version": 2, "image_root": "/"},
                             "manifest.json image_root: image_root is a file-system root"),
        "manifest-format": (lambda m: {**m, "format": "other"}, "manifest.json format"),
    }


def _image_cases(root: Path):
    """File-level image faults (the dataset built first, then an image replaced)."""
    return {
        "truncated-png": (lambda: (root / "images" / "a.png").write_bytes((root / "images" / "a.png").read_bytes()[:60]),
                          "truncated PNG"),
        "text-as-png": (lambda: (root / "images" / "a.png").write_text("API_KEY=1"), "not an image"),
        "empty-png": (lambda: (root / "images" / "a.png").write_bytes(b""), "empty file"),
        "bomb-png": (lambda: bomb(root / "images" / "a.png"), "over the limit of 89,478,485"),
        "dir-as-png": (lambda: ((root / "images" / "a.png").unlink(), (root / "images" / "a.png").mkdir()),
                       "is a directory"),
        "symlink-out": (lambda: ((root / "images" / "a.png").unlink(),
                                 (root / "images" / "a.png").symlink_to(png(root.parent / "outside.png"))),
                        "symlink resolves outside the dataset"),
        "symlink-loop": (lambda: ((root / "images" / "a.png").unlink(),
                                  (root / "images" / "a.png").symlink_to(root / "images" / "a.png")),
                         "too many levels of symbolic links"),
    }


IMAGE_CASES = ["truncated-png", "text-as-png", "empty-png", "bomb-png", "dir-as-png", "symlink-out", "symlink-loop"]


# ------------------------------------------------------------------------------------------------ running
def run(argv, capsys):
    code = 0
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    text = out.err + out.out
    assert "Traceback" not in text, text
    return code, text


def assert_refused(argv, expect, capsys, tmp_path, produced=()):
    code, text = run(argv, capsys)
    assert code == 2, f"exit {code}: {text}"
    for e in ([expect] if isinstance(expect, str) else expect):
        assert e in text, f"{e!r} not in:\n{text}"
    for p in produced:   # nothing partial
        assert not Path(p).exists(), p
    assert not [p for p in tmp_path.rglob("*") if ".partial-" in p.name or ".old-" in p.name]


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_bad_record_validate(case, tmp_path, capsys):
    lines, expect = RECORD_CASES[case]
    ds = dataset(tmp_path / "ds", lines)
    assert_refused(["validate", ds], expect, capsys, tmp_path)


@pytest.mark.parametrize("case", sorted(set(RECORD_CASES) - {"not-json", "not-object", "bom", "latin1", "huge-int",
                                                              "deep"}))
def test_bad_record_convert(case, tmp_path, capsys):
    """What `validate` refuses, `convert` refuses too, with the same located problem and nothing exported (issue 11
    item 2: a point outside the image had become a clamped target while the ground truth kept the original)."""
    lines, expect = RECORD_CASES[case]
    ds = dataset(tmp_path / "ds", lines)
    expect = expect.split(" [", 1)[1] if " [" in expect else expect   # the record, not the line (one read per file)
    assert_refused(["convert", ds, "--backend", "trl", "--style", "qwen2vl", "--out", tmp_path / "out"], expect,
                   capsys, tmp_path, produced=[tmp_path / "out"])


PARSE_FAILURES = ["not-json", "not-object", "bom", "latin1", "huge-int", "deep", "unknown-field", "wrong-type-id",
                  "unknown-type", "missing-instruction"]


@pytest.mark.parametrize("command", ["stats", "convert", "eval", "rewards-score", "inspect-render"])
@pytest.mark.parametrize("case", PARSE_FAILURES)
def test_unreadable_record_every_command(case, command, tmp_path, capsys):
    """A record that does not parse stops every consumer with its location (no silently dropped sample)."""
    lines, expect = RECORD_CASES[case]
    ds = dataset(tmp_path / "ds", [episode("ok")] + lines)
    preds = tmp_path / "p.jsonl"
    preds.write_text('{"id": "ok/0", "completion": "x"}\n')
    argv = {"stats": ["stats", ds],
            "convert": ["convert", ds, "--backend", "trl", "--style", "qwen2vl", "--out", tmp_path / "out"],
            "eval": ["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--predictions", preds],
            "rewards-score": ["rewards", "score", ds, preds, "--preset", "format", "--style", "qwen2vl"],
            "inspect-render": ["inspect", ds, "--episode", "nope", "--render", tmp_path / "r.png"]}[command]
    expect_here = "episodes.jsonl:2" if command != "inspect-render" else "no episode with id 'nope'"
    assert_refused(argv, expect_here, capsys, tmp_path, produced=[tmp_path / "out", tmp_path / "r.png"])


@pytest.mark.parametrize("case", sorted(_manifest_cases()))
def test_bad_manifest(case, tmp_path, capsys):
    manifest, expect = _manifest_cases()[case]
    ds = dataset(tmp_path / "ds", manifest=manifest)
    assert_refused(["validate", ds], expect, capsys, tmp_path)


@pytest.mark.parametrize("command", ["validate", "inspect-render", "eval-endpoint", "convert"])
@pytest.mark.parametrize("case", IMAGE_CASES)
def test_bad_image(case, command, tmp_path, capsys):
    ds = dataset(tmp_path / "ds")
    fault, expect = _image_cases(ds)[case]
    fault()
    argv = {"validate": ["validate", ds], "inspect-render": ["inspect", ds, "--render", tmp_path / "r.png"],
            "eval-endpoint": ["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint",
                              "http://127.0.0.1:9", "--model-name", "m", "--no-progress"],
            "convert": ["convert", ds, "--backend", "trl", "--style", "qwen2vl", "--out", tmp_path / "out"]}[command]
    assert_refused(argv, [expect, "a.png"], capsys, tmp_path, produced=[tmp_path / "r.png", tmp_path / "out"])


# ------------------------------------------------------------------------------------------------ recipes
BASE_RECIPE = {"name": "r", "model": "tiny:qwen2_5_vl", "data": {"train": "ds", "style": "gui-r1"}, "method": "grpo",
               "grpo": {"rewards": [{"preset": "gui-r1"}]}}


def _recipe(**changes):
    r = json.loads(json.dumps(BASE_RECIPE))
    for path, value in changes.items():
        node = r
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return r


def _reward(entry):
    return _recipe(grpo__rewards=[entry])


RECIPE_CASES = {
    "unknown-top-key": (_recipe(colour="red"), "colour: unknown field"),
    "unknown-data-key": (_recipe(data__colour=1), "data.colour: unknown field"),
    "bad-method": (_recipe(method="dpo"), "method"),
    "unknown-style": (_recipe(data__style="qwen9"), "data.style: unknown style"),
    "negative-history": (_recipe(data__history=-1), "data.history"),
    "zero-min-pixels": (_recipe(data__min_pixels=0), "data.min_pixels"),
    "min-over-max": (_recipe(data__min_pixels=5000, data__max_pixels=10), "min_pixels (5000) is larger"),
    "no-model": ({k: v for k, v in BASE_RECIPE.items() if k != "model"}, "model: missing required field"),
    "grpo-with-sft": (_recipe(method="sft"), "grpo: a 'grpo' section is only used with method: grpo"),
    "empty-rewards": (_recipe(grpo__rewards=[]), "grpo.rewards"),
    "unknown-reward": (_reward({"name": "nope"}), "grpo.rewards[0].name: unknown reward 'nope'"),
    "preset-and-name": (_reward({"name": "format", "preset": "gui-r1"}), "grpo.rewards[0]"),
    "generic-as-preset": (_reward({"preset": "format"}), "is a generic reward, not a preset"),
    "bad-weight": (_reward({"name": "format", "weight": "heavy"}), "grpo.rewards[0].weight"),
    "unknown-option": (_reward({"name": "format", "options": {"colour": 1}}), "grpo.rewards[0].options.colour"),
    "preset-format-mismatch": (_reward({"preset": "agentcpm"}),
                               "grpo.rewards[0].preset: agentcpm reads completions in the agentcpm format"),
    "preset-format-mismatch-g1": (_reward({"preset": "gui-g1"}), "gui-g1 reads completions in the qwen25vl format"),
}
for _name, _opts in {"distance": {"radius": -3}, "distance ": {"decay": "cubic"}, "iou": {"convention": "x"},
                     "text_match": {"mode": "fuzzy"}, "action_match": {"f1": 2}, "gaussian_point": {"alpha": 0},
                     "gaussian_plane": {"alpha": -1}, "point_in_box": {"fallback_radius": "far"},
                     "format": {"think": "yes"}, "text_f1": {"require_type": 1}, "action_type": {"style": "nope"},
                     "llm-judge": {"timeout": 0}, "llm-judge ": {"retries": -1}, "swipe_direction": {"style": 3}}.items():
    _key = next(iter(_opts))
    RECIPE_CASES[f"option-{_name.strip()}-{_key}"] = (_reward({"name": _name.strip(), "options": _opts}),
                                                     f"grpo.rewards[0].options.{_key}: {_name.strip()} option {_key}")


RAW_RECIPES = {
    "yaml-syntax": (b"name: [unclosed\n", "not valid YAML"),
    "not-mapping": (b"- a\n- b\n", "a recipe must be a YAML mapping"),
    "latin1": ("name: caf\u00e9\nmodel: tiny:qwen2_vl\n".encode("latin-1"), "recipe.yaml:1: not UTF-8 text"),
    "alias-bomb": (("a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))).encode(),
        "YAML aliases expand to more than 100,000 values"),
    "self-alias": (b"name: &a [1, *a]\n", "a YAML alias refers to a node containing itself"),
    "deep": (b"name: " + b"[" * 30000 + b"]" * 30000 + b"\n", "YAML nested too deeply"),
    "empty": (b"", "a recipe must be a YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(RECIPE_CASES) + [f"raw-{k}" for k in sorted(RAW_RECIPES)])
def test_bad_recipe(case, tmp_path, capsys):
    p = tmp_path / "recipe.yaml"
    if case.startswith("raw-"):
        raw, expect = RAW_RECIPES[case[4:]]
        p.write_bytes(raw)
    else:
        recipe, expect = RECIPE_CASES[case]
        p.write_text(json.dumps(recipe))   # JSON is YAML
    assert_refused(["run", p, "--dry-run"], [expect, "recipe.yaml"], capsys, tmp_path, produced=[tmp_path / "runs"])


# ------------------------------------------------------------------------------------------------ sources
def _seed(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SEED / "seed-steps", src)
    return src


def _step_file(src, change):
    p = src / "7" / "step_1.json"
    data = json.loads(p.read_text())
    change(data)
    p.write_text(json.dumps(data, ensure_ascii=False))


SOURCE_CASES = {
    "seed-bad-json": (lambda s: (s / "7" / "step_1.json").write_text("{"), "7/step_1.json"),
    "seed-latin1": (lambda s: (s / "7" / "step_1.json").write_bytes('{"input": "caf\u00e9"}'.encode("latin-1")),
                    "7/step_1.json"),
    "seed-deep": (lambda s: (s / "7" / "step_1.json").write_text("[" * 100000 + "]" * 100000), "7/step_1.json"),
    "seed-unknown-action": (lambda s: _step_file(s, lambda d: d["output"].update(action_type="teleport")),
                            "output.action_type"),
    "seed-box-3": (lambda s: _step_file(s, lambda d: d["output"].update(action_parameter={"click": "1,2,3"})),
                   "output.action_parameter"),
    "seed-box-outside": (lambda s: _step_file(s, lambda d: d["output"].update(action_parameter={"click": "0,0,99999,5"})),
                         "7/step_1.json"),
    "seed-no-output": (lambda s: _step_file(s, lambda d: d.pop("output")), "output"),
    "seed-missing-shot": (lambda s: (s / "7" / "7_1.jpg").unlink(), "7_1.jpg"),
    "seed-bomb-shot": (lambda s: bomb(s / "7" / "7_1.jpg"), "over the limit"),
    "seed-text-shot": (lambda s: (s / "7" / "7_1.jpg").write_text("secret"), "7_1.jpg"),
    "seed-loop-folder": (lambda s: (s / "55").symlink_to(s / "55"), "55"),
    "seed-loop-shot": (lambda s: ((s / "7" / "7_1.jpg").unlink(), (s / "7" / "7_1.jpg").symlink_to(s / "7" / "7_1.jpg")),
                       "7_1.jpg"),
    "seed-empty-folder": (lambda s: (s / "9").mkdir(), "episode folder has no step files"),
    "seed-dotdot-shot": (lambda s: _step_file(s, lambda d: d["input"].update(screen_path2="../../x.jpg")),
                         "screen_path2"),
}


@pytest.mark.parametrize("case", sorted(SOURCE_CASES))
def test_bad_source(case, tmp_path, capsys):
    src = _seed(tmp_path)
    fault, expect = SOURCE_CASES[case]
    fault(src)
    out = tmp_path / "out"
    assert_refused(["import", "seed-steps", src, out], expect, capsys, tmp_path, produced=[out])


@pytest.mark.parametrize("fmt, name, content, expect", [
    ("agentcpm", "sft.json", "[{", "sft.json"),
    ("agentcpm", "sft.json", '[{"id": 1}]', "sft.json"),
    ("aitw", "steps.jsonl", "{nope\n", "steps.jsonl:1"),
    ("aitw", "steps.jsonl", '{"episode_id": 1}\n', "steps.jsonl:1"),
    ("androidcontrol", "episodes.jsonl", "\xff\n", "episodes.jsonl:1"),
    ("androidcontrol", "episodes.jsonl", '{"episode_id": []}\n', "episodes.jsonl:1"),
    ("gui-odyssey", "annotations/x.json", "{", "x.json"),
    ("gui-r1", "train.parquet", "not parquet", "train.parquet"),
])
def test_bad_source_other_formats(fmt, name, content, expect, tmp_path, capsys):
    src = tmp_path / "src"
    (src / name).parent.mkdir(parents=True, exist_ok=True)
    (src / name).write_text(content, encoding="latin-1")
    out = tmp_path / "out"
    assert_refused(["import", fmt, src, out], expect, capsys, tmp_path, produced=[out])


# -------------------------------------------------------------------------------------------- predictions
PREDICTION_CASES = {
    "not-json": ("{nope\n", "p.jsonl:1: not valid JSON"),
    "not-object": ("[1]\n", "p.jsonl:1: not a JSON object"),
    "no-id": ('{"completion": "x"}\n', "p.jsonl:1 id: missing required field"),
    "id-int": ('{"id": 3, "completion": "x"}\n', "p.jsonl:1 id: wrong type"),
    "completion-null": ('{"id": "e0/0", "completion": null}\n', "completion: wrong type"),
    "duplicate": ('{"id": "e0/0", "completion": "x"}\n{"id": "e0/0", "completion": "y"}\n',
                  "p.jsonl:2 [e0/0] id: duplicate id"),
    "deep": ('{"id": ' + "[" * 100000 + "]" * 100000 + "}\n", "p.jsonl:1: nested more than 200"),
    "huge-int": ('{"id": "e0/0", "completion": "x", "n": ' + "1" * 5000 + "}\n", "p.jsonl:1: integer with 5000"),
    "latin1": ('{"id": "e0/0", "completion": "caf\u00e9"}\n', "p.jsonl:1: not UTF-8 text"),
    "unknown-id": ('{"id": "zz/0", "completion": "x"}\n', "no such step"),
}


@pytest.mark.parametrize("command", ["eval", "rewards-score"])
@pytest.mark.parametrize("case", sorted(PREDICTION_CASES))
def test_bad_predictions(case, command, tmp_path, capsys):
    if command == "eval" and case == "unknown-id":
        pytest.skip("eval counts unexpected ids in its report (tests/test_eval.py); rewards score refuses them")
    text, expect = PREDICTION_CASES[case]
    ds = dataset(tmp_path / "ds")
    p = tmp_path / "p.jsonl"
    p.write_bytes(text.encode("latin-1") if case == "latin1" else text.encode())
    argv = (["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--predictions", p] if command == "eval"
            else ["rewards", "score", ds, p, "--preset", "format", "--style", "qwen2vl"])
    assert_refused(argv, expect, capsys, tmp_path)


# ---------------------------------------------------------------------------------------------- CLI args
def _args(tmp):
    ds = tmp / "ds"
    conv = ["convert", ds, "--backend", "trl", "--style", "qwen2vl", "--out", tmp / "out"]
    ev = ["eval", ds, "--style", "qwen2vl", "--profile", "aitw"]
    return {
        "convert-limit-neg": (conv + ["--limit", "-1"], "--limit"),
        "convert-limit-zero": (conv + ["--limit", "0"], "--limit"),
        "convert-history-neg": (conv + ["--history", "-1"], "--history"),
        "convert-min-pixels-zero": (conv + ["--min-pixels", "0"], "--min-pixels"),
        "convert-min-over-max": (conv + ["--min-pixels", "5000", "--max-pixels", "100"],
                                 "--min-pixels 5000 is larger than --max-pixels 100"),
        "convert-unknown-style": (conv[:5] + ["qwen9", "--out", tmp / "out"], "qwen9"),
        "convert-unknown-backend": (["convert", ds, "--backend", "nope", "--style", "qwen2vl", "--out", tmp / "out"],
                                    "nope"),
        "convert-not-a-dataset": (["convert", tmp, "--backend", "trl", "--style", "qwen2vl", "--out", tmp / "out"],
                                  "no episodes.jsonl"),
        "eval-no-source": (ev, "give exactly one of --predictions, --model or --endpoint"),
        "eval-two-sources": (ev + ["--predictions", tmp / "p", "--endpoint", "http://x"], "got --predictions, --endpoint"),
        "eval-history-neg": (ev + ["--predictions", tmp / "p", "--history", "-1"], "--history"),
        "eval-min-over-max": (ev + ["--endpoint", "http://127.0.0.1:9", "--min-pixels", "9", "--max-pixels", "4"],
                              "--min-pixels 9 is larger than --max-pixels 4"),
        "eval-timeout-zero": (ev + ["--endpoint", "http://x", "--timeout", "0"], "--timeout"),
        "eval-unknown-profile": (["eval", ds, "--style", "qwen2vl", "--profile", "nope", "--predictions", "p"],
                                 "--profile"),
        "eval-per-step-no-json": (ev + ["--predictions", tmp / "p", "--per-step"], "--per-step only applies with --json"),
        "eval-save-missing-dir": (ev + ["--endpoint", "http://x", "--save-predictions", tmp / "no" / "p.jsonl"],
                                  "does not exist"),
        "eval-unknown-style": (["eval", ds, "--style", "qwen9", "--profile", "aitw", "--predictions", tmp / "p"],
                               "qwen9"),
        "score-both": (["rewards", "score", ds, tmp / "p", "--preset", "format", "--spec", "[]", "--style", "qwen2vl"],
                       "not both"),
        "score-neither": (["rewards", "score", ds, tmp / "p", "--style", "qwen2vl"], "not both and not neither"),
        "score-bad-spec": (["rewards", "score", ds, tmp / "p", "--spec", '[{"name": "distance", "options": '
                            '{"radius": -3}}]', "--style", "qwen2vl"], "--spec [0].options.radius"),
        "score-min-over-max": (["rewards", "score", ds, tmp / "p", "--preset", "format", "--style", "qwen2vl",
                                "--min-pixels", "9", "--max-pixels", "4"], "--min-pixels 9 is larger"),
        "inspect-step-neg": (["inspect", ds, "--step", "-1"], "--step"),
        "inspect-no-step": (["inspect", ds, "--episode", "e0", "--step", "9"], "there is no step 9"),
        "synth-zero": (["synth", tmp / "s", "--episodes", "0"], "--episodes"),
        "import-unknown-format": (["import", "nope", tmp, tmp / "out"], "nope"),
        "import-missing-src": (["import", "seed-steps", tmp / "none", tmp / "out"], "none"),
        "validate-missing": (["validate", tmp / "none"], "none"),
        "stats-file": (["stats", tmp / "p"], "not a dataset directory"),
    }


@pytest.mark.parametrize("case", sorted(_args(Path("/x"))))
def test_bad_cli_args(case, tmp_path, capsys):
    dataset(tmp_path / "ds")
    (tmp_path / "p").write_text('{"id": "e0/0", "completion": "x"}\n')
    argv, expect = _args(tmp_path)[case]
    assert_refused(argv, expect, capsys, tmp_path, produced=[tmp_path / "out", tmp_path / "s"])


# ---------------------------------------------------------------------------------------------- endpoints
class Bad:
    """An OpenAI-compatible server misbehaving in one way (``mode``) on POST; GET /v1/models answers."""

    def __init__(self, mode):
        self.mode = mode
        bad = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, body: bytes, ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, b'{"data": [{"id": "m"}]}')

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                m = bad.mode
                if m == "close":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = {"404": (404, b'{"error": "no"}'), "400": (400, b"bad"), "500": (500, b"boom"),
                        "html": (200, b"<html>hi</html>"), "empty": (200, b""),
                        "deep": (200, b'{"choices": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
                        "no-choices": (200, b'{"choices": []}'), "null-content": (
                            200, b'{"choices": [{"message": {"content": null}}]}'),
                        "list": (200, b"[1, 2, 3]"), "latin1": (200, '{"x": "caf\u00e9"}'.encode("latin-1")),
                        "huge-int": (200, b'{"choices": ' + b"9" * 5000 + b"}"),
                        "429": (429, b"slow down")}[m]
                self._send(*body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


ENDPOINT_MODES = ["404", "400", "500", "429", "html", "empty", "deep", "no-choices", "null-content", "list",
                  "latin1", "huge-int", "close"]


@pytest.mark.parametrize("mode", ENDPOINT_MODES)
def test_misbehaving_endpoint(mode, tmp_path, capsys):
    ds = dataset(tmp_path / "ds")
    server = Bad(mode)
    try:
        assert_refused(["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint", server.url,
                        "--model-name", "m", "--retries", "1", "--timeout", "2", "--no-progress",
                        "--save-predictions", tmp_path / "saved.jsonl"],
                       [server.url, "all 1 requests failed"], capsys, tmp_path, produced=[tmp_path / "saved.jsonl"])
    finally:
        server.close()


def test_unreachable_endpoint(tmp_path, capsys):
    ds = dataset(tmp_path / "ds")
    assert_refused(["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint", "http://127.0.0.1:9",
                    "--model-name", "m", "--no-progress"], "cannot reach the endpoint", capsys, tmp_path)


def test_corpus_size():
    n = (len(RECORD_CASES) + len(PARSE_FAILURES) * 5 + len(_manifest_cases()) + len(IMAGE_CASES) * 3
         + len(RECIPE_CASES) + len(RAW_RECIPES) + len(SOURCE_CASES) + 8 + len(PREDICTION_CASES) * 2
         + len(_args(Path("/x"))) + len(ENDPOINT_MODES) + 1)
    assert n >= 150, n
