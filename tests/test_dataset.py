"""bridge.dataset: images referenced in place (manifest image_root), the one image resolver and its consumers,
the writer's image modes and line format, manifest versions, and ordered_map (the worker pool of imports and
validation)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from bridge.dataset import DatasetWriter, open_dataset, ordered_map, reference_path, resolve_image
from bridge.errors import BridgeError, Problem
from bridge.schema import Action, Element, Episode, Step

W, H = 60, 120


def png(path: Path, size=(W, H)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (10, 200, 30)).save(path)
    return path


def one_step(eid: str, shot: str, extra=(), **action) -> Episode:
    return Episode(episode_id=eid, instruction="go", steps=[
        Step(index=0, screenshot=shot, width=W, height=H, extra_images=list(extra),
             action=Action(**(action or {"type": "click", "point": (30, 60)})))])


@pytest.fixture()
def src(tmp_path) -> Path:
    """A source tree: src/a/s0.png, src/a/s1.png, src/images/x.png (an 'images' folder), outside/o.png."""
    for rel in ("src/a/s0.png", "src/a/s1.png", "src/images/x.png", "outside/o.png"):
        png(tmp_path / rel)
    return tmp_path / "src"


# ----------------------------------------------------------------------------------------- ref mode writer

def test_ref_writer_references_inside_and_places_the_rest(src, tmp_path):
    out = tmp_path / "ds"
    with DatasetWriter(out, source="t", images="ref", image_root=src) as w:
        inside = w.add_image(src / "a" / "s0.png", "a-s0.png")
        under_images = w.add_image(src / "images" / "x.png", "x.png")  # would collide with the dataset's images/
        outside = w.add_image(tmp_path / "outside" / "o.png", "o.png")
        w.write(one_step("e1", inside, extra=[under_images, outside]))
    assert (inside, under_images, outside) == ("a/s0.png", "images/x.png", "images/o.png")
    assert sorted(p.name for p in (out / "images").iterdir()) == ["o.png", "x.png"]  # only those two placed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["image_root"] == str(src.absolute()) and manifest["version"] == 2
    assert (manifest["episodes"], manifest["steps"]) == (1, 1)
    ds = open_dataset(out)
    assert ds.image_root == src.absolute()
    assert ds.image_path("a/s0.png") == src.absolute() / "a" / "s0.png"
    assert ds.image_path("images/x.png") == (out / "images" / "x.png").absolute()  # the dataset's own copy
    resolve = ds.image_resolver()
    assert resolve("a/s1.png") == str(src.absolute() / "a" / "s1.png")
    assert resolve("images/o.png") == str((out / "images" / "o.png").absolute())


def test_self_contained_writer_is_format_version_1(src, tmp_path):
    out = tmp_path / "ds"
    with DatasetWriter(out, images="link") as w:
        rel = w.add_image(src / "a" / "s0.png", "a/s0.png")
        assert w.add_image(src / "a" / "s0.png", "a/s0.png") == rel  # placed once; no error the second time
        w.write(one_step("e1", rel))
    manifest = json.loads((out / "manifest.json").read_text())
    assert "image_root" not in manifest and manifest["version"] == 1  # older releases read it too
    ds = open_dataset(out)
    assert ds.image_root is None and ds.image_path(rel) == (out / "images" / "a" / "s0.png").absolute()
    assert (out / rel).stat().st_ino == (src / "a" / "s0.png").stat().st_ino


@pytest.mark.parametrize("mode", ["copy", "symlink"])
def test_copy_and_symlink_modes_place_each_rel_once(src, tmp_path, mode):
    out = tmp_path / mode
    with DatasetWriter(out, images=mode) as w:
        for _ in range(2):
            rel = w.add_image(src / "a" / "s0.png", "deep/er/s0.png")
        w.write(one_step("e1", rel))
    placed = out / "images" / "deep" / "er" / "s0.png"
    assert placed.is_symlink() == (mode == "symlink") and placed.read_bytes() == (src / "a" / "s0.png").read_bytes()


def test_ref_mode_without_image_root_links(src, tmp_path):
    out = tmp_path / "ds"
    with DatasetWriter(out, images="ref") as w:
        rel = w.add_image(src / "a" / "s0.png", "s0.png")
        w.write(one_step("e1", rel))
    assert rel == "images/s0.png" and "image_root" not in json.loads((out / "manifest.json").read_text())


def test_note_reference_records_one_root(tmp_path):
    w = DatasetWriter(tmp_path / "ds")
    w.note_reference(tmp_path / "a")
    w.note_reference(tmp_path / "a")
    with pytest.raises(BridgeError, match="one image root"):
        w.note_reference(tmp_path / "b")


def test_reference_path_rules(tmp_path):
    root = str(tmp_path / "r")
    assert reference_path(root, tmp_path / "r" / "x" / "y.png") == "x/y.png"
    assert reference_path(root, tmp_path / "r" / "images" / "y.png") is None  # reserved for the dataset
    assert reference_path(root, tmp_path / "r" / "images") is None
    assert reference_path(root, tmp_path / "r" / "imagesX" / "y.png") == "imagesX/y.png"
    assert reference_path(root, tmp_path / "other.png") is None
    assert reference_path(root, tmp_path / "r") is None
    assert resolve_image("/d", None, "a/b.png") == "/d/a/b.png"
    assert resolve_image("/d", "/src", "a/b.png") == "/src/a/b.png"
    assert resolve_image("/d", "/src", "images/b.png") == "/d/images/b.png"


# ------------------------------------------------------------------------------------------------ manifest

def _dataset_with_manifest(tmp_path, manifest: dict) -> Path:
    ds = tmp_path / "ds"
    ds.mkdir(parents=True)
    (ds / "episodes.jsonl").write_text("")
    (ds / "manifest.json").write_text(json.dumps(manifest))
    return ds


def test_manifest_versions_and_image_root_rules(tmp_path):
    base = {"format": "gui-bridge/dataset", "version": 1}
    assert open_dataset(_dataset_with_manifest(tmp_path / "v1", base)).image_root is None
    ok = _dataset_with_manifest(tmp_path / "v2", {**base, "version": 2, "image_root": str(tmp_path)})
    assert open_dataset(ok).image_root == tmp_path
    with pytest.raises(BridgeError, match="format version 3 is newer"):
        open_dataset(_dataset_with_manifest(tmp_path / "v3", {**base, "version": 3}))
    with pytest.raises(BridgeError, match="invalid manifest") as info:
        open_dataset(_dataset_with_manifest(tmp_path / "rel", {**base, "version": 2, "image_root": "raw/src"}))
    (p,) = info.value.problems
    assert (p.field, p.message, p.found) == ("image_root", "image_root must be an absolute path", "raw/src")


# ------------------------------------------------------------------------------------------------ line form

def test_to_json_line_omits_empty_defaults_and_readers_accept_both(tmp_path):
    ep = Episode(episode_id="e", instruction="i", steps=[
        Step(index=0, screenshot="s.png", width=W, height=H, action=Action(type="wait")),
        Step(index=1, screenshot="s.png", width=W, height=H, extra_images=["p.png"], meta={"k": 1},
             elements=[Element(bbox=(0, 0, 1, 1)), Element(bbox=(1, 1, 2, 2), meta={"m": 2})],
             action=Action(type="click", point=(5, 6), meta={"a": None}))])
    line = ep.to_json_line()
    assert line == (
        '{"episode_id":"e","instruction":"i","platform":"android","source":"unknown","steps":['
        '{"index":0,"screenshot":"s.png","width":60,"height":120,"action":{"type":"wait"}},'
        '{"index":1,"screenshot":"s.png","width":60,"height":120,"extra_images":["p.png"],'
        '"elements":[{"bbox":[0.0,0.0,1.0,1.0]},{"bbox":[1.0,1.0,2.0,2.0],"meta":{"m":2}}],'
        '"action":{"type":"click","point":[5.0,6.0],"meta":{"a":null}},"meta":{"k":1}}]}')
    assert ep.to_json_bytes() == line.encode()
    assert Episode.model_validate_json(line) == ep
    verbose = ep.model_dump_json()  # the older, explicit form with "meta":{} and "extra_images":[]
    assert '"meta":{}' in verbose and '"extra_images":[]' in verbose
    out = tmp_path / "ds"
    with DatasetWriter(out) as w:
        w.write_line(verbose, 2)      # str lines are accepted too
        w.write_line(line.replace('"e"', '"f"', 1).encode(), 2)
    assert [e.episode_id for e in open_dataset(out)] == ["e", "f"]
    assert [e.model_dump() for e in open_dataset(out)][0] == ep.model_dump()


# -------------------------------------------------------------------------------------- resolver consumers

@pytest.fixture()
def ref_dataset(src, tmp_path) -> Path:
    out = tmp_path / "ds"
    with DatasetWriter(out, source="t", images="ref", image_root=src) as w:
        s0, s1 = w.add_image(src / "a" / "s0.png", "s0.png"), w.add_image(src / "a" / "s1.png", "s1.png")
        w.write(Episode(episode_id="e1", instruction="open it", steps=[
            Step(index=0, screenshot=s0, width=W, height=H,
                 action=Action(type="click", point=(30, 60), bbox=(20, 50, 40, 70))),
            Step(index=1, screenshot=s1, width=W, height=H, extra_images=[s0],
                 action=Action(type="type", text="hi"))]))
    return out


def test_samples_and_render_resolve_referenced_images(ref_dataset, src, tmp_path, capsys):
    from bridge.cli import main
    from bridge.samples import build_samples

    samples = list(build_samples(ref_dataset, "qwen2vl"))
    assert samples[0].images == [str(src.absolute() / "a" / "s0.png")]
    assert str(src.absolute() / "a" / "s1.png") in samples[1].images
    out = tmp_path / "step.png"
    try:
        main(["inspect", str(ref_dataset), "--episode", "e1", "--step", "0", "--render", str(out)])
    except SystemExit as e:
        assert e.code in (0, None)
    with Image.open(out) as im:
        assert im.width == W  # drawn on the referenced screenshot
    capsys.readouterr()


def test_check_episode_accepts_a_dataset_as_root(ref_dataset, src):
    from bridge.validate import check_episode

    ds = open_dataset(ref_dataset)
    (ep,) = list(ds)
    assert check_episode(ep, ds, file="x") == []
    (src / "a" / "s1.png").unlink()
    (p,) = check_episode(ep, ds, file="x", line=1)
    assert (p.field, p.message, p.found) == ("steps[1].screenshot", "screenshot: file not found", "a/s1.png")


# ------------------------------------------------------------------------------------------------ ordered_map

def _square(x: int) -> int:
    return x * x


def _fail_on_7(x: int) -> int:
    if x == 7:
        raise BridgeError("seven", [Problem("f", "bad seven", line=7)])
    return x


def _slow(x: int) -> int:
    time.sleep(0.001)
    return x


@pytest.mark.parametrize("jobs,inline,chunksize", [(1, 0, 1), (2, 0, 1), (2, 5, 3), (3, 0, 8)])
def test_ordered_map_keeps_order(jobs, inline, chunksize):
    assert list(ordered_map(_square, range(50), jobs, inline=inline, chunksize=chunksize)) == [
        x * x for x in range(50)]


def test_ordered_map_reraises_worker_errors_with_their_problems():
    with pytest.raises(BridgeError) as info:
        list(ordered_map(_fail_on_7, range(20), 2, chunksize=2))
    assert info.value.message == "seven" and info.value.problems[0].message == "bad seven"


def test_ordered_map_reraises_source_errors_in_order():
    def items():
        yield from range(5)
        raise BridgeError("source broke")

    got = []
    with pytest.raises(BridgeError, match="source broke"):
        for x in ordered_map(_square, items(), 2):
            got.append(x)
    assert got == [0, 1, 4, 9, 16]  # everything before the error arrived first


def test_ordered_map_bounded_window_and_early_stop_leave_no_workers():
    pulled = []

    def items():
        for i in range(10_000):
            pulled.append(i)
            yield i

    it = ordered_map(_slow, items(), 2, chunksize=4, window=16)
    first = [next(it) for _ in range(10)]
    time.sleep(0.2)  # let the sender fill the window
    assert first == list(range(10))
    assert len(pulled) <= 10 + 16 + 2 * 4  # consumed + window (+ one batch being assembled per worker)
    it.close()  # the consumer stops early: workers are stopped, nothing hangs
    children = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == os.getpid()] \
        if os.path.isdir("/proc") else []
    assert children == []


def _ppid(pid: str) -> int:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1
