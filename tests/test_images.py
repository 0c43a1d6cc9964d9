"""bridge.images: sizes from headers (no pixel decoding) and cheap integrity checks, on real files."""
from __future__ import annotations

import io
import os
import struct

import pytest
from PIL import Image

from bridge.images import ImageError, check_image, image_size, probe

W, H = 123, 45


def _save(path, fmt, size=(W, H), **kw):
    Image.new("RGB", size, (200, 30, 30)).save(path, fmt, **kw)
    return path


FORMATS = [("PNG", "png", {}), ("JPEG", "jpg", {}), ("WEBP", "webp", {}), ("WEBP", "webp", {"lossless": True}),
           ("GIF", "gif", {}), ("BMP", "bmp", {})]


@pytest.mark.parametrize("fmt,ext,kw", FORMATS)
def test_size_and_format_from_header(tmp_path, fmt, ext, kw):
    p = _save(tmp_path / f"a.{ext}", fmt, **kw)
    assert image_size(p) == (W, H)
    info = probe(p)
    assert (info.format, info.width, info.height, info.nbytes) == (fmt.lower(), W, H, os.path.getsize(p))
    assert check_image(p) is None


def test_webp_extended_header(tmp_path):
    p = tmp_path / "x.webp"
    Image.new("RGBA", (77, 99), (1, 2, 3, 100)).save(p, "WEBP")  # alpha -> VP8X container
    assert open(p, "rb").read()[12:16] == b"VP8X"
    assert image_size(p) == (77, 99)


def test_progressive_jpeg_and_large_exif_segment(tmp_path):
    # A 20 kB APP segment pushes the frame header past the first read: the parser must seek further.
    exif = Image.Exif()
    exif[0x010E] = "x" * 20000  # ImageDescription
    p = _save(tmp_path / "big.jpg", "JPEG", size=(640, 480), progressive=True, exif=exif.tobytes())
    assert os.path.getsize(p) > 20000
    assert image_size(p) == (640, 480)
    assert check_image(p) is None


def test_top_down_bmp_has_positive_height(tmp_path):
    p = _save(tmp_path / "a.bmp", "BMP")
    data = bytearray(open(p, "rb").read())
    data[22:26] = struct.pack("<i", -H)  # top-down row order
    open(p, "wb").write(bytes(data))
    assert image_size(p) == (W, H)


def test_header_only_no_pixel_decoding(tmp_path):
    # Valid PNG header + IEND but garbage pixel data: PIL fails to decode it, we still report the size.
    good = open(_save(tmp_path / "a.png", "PNG", size=(300, 200)), "rb").read()
    bad = good[:33] + b"\x00\x00\x00\x10IDAT" + b"garbage-garbage!" + b"\x00\x00\x00\x00" + good[-12:]
    p = tmp_path / "bad_pixels.png"
    p.write_bytes(bad)
    with pytest.raises(Exception):
        Image.open(p).load()
    assert image_size(p) == (300, 200)
    assert check_image(p) is None  # cheap checks only look at the container's ends


def test_other_formats_fall_back_to_pil(tmp_path):
    p = _save(tmp_path / "a.tif", "TIFF")
    assert probe(p).format == "tiff"
    assert image_size(p) == (W, H)


@pytest.mark.parametrize("fmt,ext,kw", FORMATS)
def test_truncated_copies_are_detected(tmp_path, fmt, ext, kw):
    # A noisy image so that the compressed data is large and the cut lands inside it.
    import random

    rnd = random.Random(0)
    im = Image.new("RGB", (64, 64))
    im.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(64 * 64)])
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    data = buf.getvalue()
    for keep in (len(data) - 1, len(data) * 2 // 3, 40):
        p = tmp_path / f"t{keep}.{ext}"
        p.write_bytes(data[:keep])
        msg = check_image(p)
        assert msg is not None and msg.startswith(("truncated", "corrupt")), (keep, msg)
        with pytest.raises(ImageError):
            probe(p)


def test_jpeg_cut_inside_scan_reports_missing_eoi(tmp_path):
    p = _save(tmp_path / "a.jpg", "JPEG", size=(400, 300))
    data = p.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) - 100])
    assert check_image(cut) == f"truncated JPEG: no end-of-image marker (FFD9) ({len(data) - 100} bytes)"
    assert image_size(cut) == (400, 300)  # the size alone is still readable


def test_jpeg_trailing_padding_after_eoi_is_fine(tmp_path):
    p = _save(tmp_path / "a.jpg", "JPEG")
    p.write_bytes(p.read_bytes() + b"\x00" * 100)
    assert check_image(p) is None


def test_png_truncation_message(tmp_path):
    p = _save(tmp_path / "a.png", "PNG")
    data = p.read_bytes()
    p.write_bytes(data[:-5])
    assert check_image(p) == f"truncated PNG: does not end with the IEND chunk ({len(data) - 5} bytes)"


def test_missing_empty_directory_and_non_images(tmp_path):
    assert check_image(tmp_path / "nope.png") == "file not found"
    (tmp_path / "empty.png").write_bytes(b"")
    assert check_image(tmp_path / "empty.png") == "empty file"
    (tmp_path / "d.png").mkdir()
    assert check_image(tmp_path / "d.png") == "is a directory, not an image file"
    (tmp_path / "text.png").write_text("hello, I am not a picture\n")
    assert check_image(tmp_path / "text.png") == "not an image (unrecognised format)"
    (tmp_path / "sig.png").write_bytes(b"\x89PNX" + b"\x00" * 40)
    assert check_image(tmp_path / "sig.png") == "not an image (bad PNG signature)"
    (tmp_path / "a.avi").write_bytes(b"RIFF\x10\x00\x00\x00AVI LIST" + b"\x00" * 40)
    assert check_image(tmp_path / "a.avi") == "not an image (a RIFF file that is not WebP)"
    with pytest.raises(ImageError, match="file not found"):
        image_size(tmp_path / "nope.png")


def test_unreadable_file(tmp_path, monkeypatch):
    p = _save(tmp_path / "a.png", "PNG")
    real_open = os.open

    def deny(path, *a, **k):  # chmod 000 does not stop root, so simulate the permission error
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", deny)
    assert check_image(p) == "unreadable: Permission denied"
