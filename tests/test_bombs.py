"""Decompression bombs (issue 11 item 5): a PNG of a few hundred bytes declaring 100,000 x 100,000 pixels is
refused from its header — by import, validate, inspect --render and eval — with the file and the pixel count,
exit 2, no traceback; the limit is configurable (BRIDGE_MAX_IMAGE_PIXELS) and a bad value is named."""
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from bridge import images
from bridge.images import DEFAULT_MAX_PIXELS, ImageError, header

from test_paths import W, H, png, run, write_dataset

SEED = Path(__file__).parent / "fixtures" / "importers" / "seed-steps"


def bomb_png(path: Path, w: int = 100_000, h: int = 100_000) -> Path:
    """A structurally complete PNG (IHDR, one IDAT of a few zlib bytes, IEND) declaring w x h pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000, 9)) + chunk(b"IEND", b""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(autouse=True)
def fresh_limit(monkeypatch):
    monkeypatch.setattr(images, "_LIMIT", [None])
    monkeypatch.delenv("BRIDGE_MAX_IMAGE_PIXELS", raising=False)


def test_header_refuses_a_bomb(tmp_path):
    p = bomb_png(tmp_path / "b.png")
    assert p.stat().st_size < 400
    with pytest.raises(ImageError) as e:
        header(p)
    assert "100000x100000 = 10,000,000,000 pixels, over the limit of 89,478,485" in e.value.message
    assert DEFAULT_MAX_PIXELS == 89_478_485
    # just under the limit passes
    side = int(DEFAULT_MAX_PIXELS ** 0.5)
    assert header(bomb_png(tmp_path / "ok.png", side, side))[1:3] == (side, side)


def test_every_command_refuses_a_bomb(tmp_path, capsys):
    ds = tmp_path / "ds"
    png(ds / "images" / "ok.png")
    bomb_png(ds / "images" / "b.png")
    write_dataset(ds, "images/b.png")
    for argv in (["validate", ds], ["inspect", ds, "--render", tmp_path / "r.png"],
                 ["eval", ds, "--style", "qwen2vl", "--profile", "aitw", "--endpoint", "http://127.0.0.1:9",
                  "--model-name", "m", "--no-progress"]):
        code, out = run(argv, capsys)
        assert code == 2, out
        assert "b.png" in out and "over the limit" in out, out
    assert not (tmp_path / "r.png").exists()


def test_import_refuses_a_bomb_and_writes_nothing(tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(SEED, src)
    bomb_png(src / "7" / "7_2.jpg")  # the importer reads the header, whatever the name says
    code, out = run(["import", "seed-steps", src, tmp_path / "out"], capsys)
    assert code == 2 and "7_2.jpg" in out and "over the limit" in out, out
    assert not (tmp_path / "out").exists()


def test_limit_is_configurable(tmp_path, capsys, monkeypatch):
    ds = write_dataset(tmp_path / "ds", "images/ok.png")
    png(ds / "images" / "ok.png")
    monkeypatch.setenv("BRIDGE_MAX_IMAGE_PIXELS", str(W * H - 1))
    code, out = run(["validate", ds], capsys)
    assert code == 2 and f"{W}x{H} = 3,200 pixels, over the limit of 3,199" in out, out
    monkeypatch.setattr(images, "_LIMIT", [None])
    monkeypatch.setenv("BRIDGE_MAX_IMAGE_PIXELS", "lots")
    code, out = run(["validate", ds], capsys)
    assert code == 2 and "BRIDGE_MAX_IMAGE_PIXELS='lots': expected a positive integer" in out, out
