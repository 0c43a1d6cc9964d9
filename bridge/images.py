"""Image sizes and integrity from file headers, without decoding pixels.

PNG, JPEG, WebP, GIF and BMP are parsed by hand with a few raw reads (``os.read``/``os.pread``): the size comes from
the header, and truncation is detected from the container's own end marker or declared length — PNG must end
with its IEND chunk, JPEG with the EOI marker (FFD9) after the scan start, GIF with its trailer byte, WebP/BMP
must be at least as long as their header says. Other formats fall back to PIL's lazy ``Image.open`` (header
only; no truncation check for them).

This is what importers, ``bridge validate`` and ``bridge stats`` use: reading a screenshot's size costs a few
microseconds instead of a decode.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Optional, Union

from .errors import BridgeError

PathLike = Union[str, os.PathLike]

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_HEAD = 4096          # first read: covers every header we parse except JPEGs with large EXIF/ICC segments
_JPEG_TAIL = 4096     # EOI may be followed by padding or vendor trailers; look for it this far from the end
# Start-of-frame markers carrying the image size (not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_NO_LENGTH = frozenset({0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8})


#: Default most pixels (width x height) an image header may declare: PIL's own decompression-bomb threshold
#: (``PIL.Image.MAX_IMAGE_PIXELS`` = 1024 * 1024 * 1024 // 4 // 3), ~10x an 8K screen. A 100,000 x 100,000 PNG
#: of a few hundred bytes declares 10^10 and would need 30 GB to decode. Set ``BRIDGE_MAX_IMAGE_PIXELS``.
DEFAULT_MAX_PIXELS = 1024 * 1024 * 1024 // 4 // 3
MAX_PIXELS_ENV = "BRIDGE_MAX_IMAGE_PIXELS"


def max_pixels() -> int:
    """The pixel limit in force: ``$BRIDGE_MAX_IMAGE_PIXELS`` (a positive integer) or :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.strip().replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise BridgeError(f"{MAX_PIXELS_ENV}={raw!r}: expected a positive integer (pixels, e.g. 89478485)")
    return value


class ImageError(BridgeError):
    """An image file that is missing, unreadable, not an image, or truncated (``str(e)`` says which)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header says: ``format`` (png/jpeg/webp/gif/bmp or PIL's name), size in pixels, file bytes."""

    format: str
    width: int
    height: int
    nbytes: int


def probe(path: PathLike, check_truncation: bool = True, *, dir_fd: Optional[int] = None) -> ImageInfo:
    """Read an image's format and size from its header (and, by default, check it is not truncated).

    Raises :class:`ImageError` with a one-line reason for a missing, unreadable, non-image or truncated file.
    ``dir_fd``: resolve a relative ``path`` against this open directory (``openat``: cheaper in loops).
    """
    return ImageInfo(*header(path, check_truncation, dir_fd=dir_fd))


def header(path: PathLike, check_truncation: bool = True, *, dir_fd: Optional[int] = None
           ) -> tuple[str, int, int, int]:
    """:func:`probe` as a plain ``(format, width, height, nbytes)`` tuple — the form hot loops use (importers,
    ``bridge validate``): one ``open``, one read of the first bytes, one ``lseek`` for the size, one read of
    the last bytes for the truncation check, ``close``."""
    try:
        fd = os.open(path, os.O_RDONLY) if dir_fd is None else os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("is a directory, not an image file") from None
    except OSError as e:
        raise ImageError(f"unreadable: {e.strerror or e}") from None
    try:
        try:
            head = os.read(fd, _HEAD)
            # A short first read holds the whole file; otherwise one lseek gives the size (cheaper than fstat).
            nbytes = len(head) if len(head) < _HEAD else os.lseek(fd, 0, os.SEEK_END)
        except IsADirectoryError:  # Linux opens directories read-only; reading them fails
            raise ImageError("is a directory, not an image file") from None
        except OSError as e:  # e.g. EISDIR on some systems, I/O errors
            raise ImageError(f"unreadable: {e.strerror or e}") from None
        if not head:
            raise ImageError("empty file")
        parser = _PARSERS.get(head[:2])
        if parser is None:
            return _probe_pil(fd, nbytes)
        fmt, w, h = parser(fd, head, nbytes, check_truncation)
        if w <= 0 or h <= 0:
            raise ImageError(f"{fmt} header declares an empty image ({w}x{h})")
        if w * h > (_LIMIT[0] or _limit()):
            _too_large(fmt, w, h)
        return fmt, w, h, nbytes
    finally:
        os.close(fd)


def image_size(path: PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image from its header, without decoding pixels (raises :class:`ImageError`)."""
    _, w, h, _ = header(path, check_truncation=False)
    return w, h


def check_image(path: PathLike) -> Optional[str]:
    """``None`` if ``path`` is a readable, complete image; otherwise a short reason ("file not found",
    "truncated PNG: ...", "not an image ..."). Cheap: header and tail reads only."""
    try:
        header(path)
    except ImageError as e:
        return e.message
    return None


# --------------------------------------------------------------------------------------------- parsers
def _need(head: bytes, n: int, fmt: str) -> None:
    if len(head) < n:
        raise ImageError(f"truncated {fmt}: header cut short ({len(head)} bytes)")


def _tail(fd: int, head: bytes, nbytes: int, n: int) -> bytes:
    if len(head) == nbytes:  # the first read holds the whole file
        return head[-n:]
    return os.pread(fd, n, max(0, nbytes - n))


def _png(fd: int, head: bytes, nbytes: int, check: bool):
    if not head.startswith(_PNG_SIG):
        raise ImageError("not an image (bad PNG signature)")
    _need(head, 24, "PNG")
    if head[12:16] != b"IHDR":
        raise ImageError("corrupt PNG: first chunk is not IHDR")
    w, h = struct.unpack(">II", head[16:24])
    if check and _tail(fd, head, nbytes, 12) != _PNG_IEND:
        raise ImageError(f"truncated PNG: does not end with the IEND chunk ({nbytes} bytes)")
    return "png", w, h


def _jpeg(fd: int, head: bytes, nbytes: int, check: bool):
    # Walk the marker segments up to the start of scan (SOS); buf holds file bytes [base, base + end).
    buf, base, pos, size = head, 0, 2, None
    end = len(buf)
    no_length, sof = _JPEG_NO_LENGTH, _JPEG_SOF
    while True:
        i = pos - base
        if i + 4 > end and base + end < nbytes:  # segment header beyond what we hold: read on
            buf, base, i = os.pread(fd, 65536, pos), pos, 0
            end = len(buf)
        if i + 2 > end:
            raise ImageError(f"truncated JPEG: file ends inside the header ({nbytes} bytes)")
        if buf[i] != 0xFF:
            raise ImageError(f"corrupt JPEG: expected a marker at byte {pos}")
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in no_length:
            pos += 2
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan (entropy-coded data follows) / early end
            break
        if i + 4 > end:
            raise ImageError(f"truncated JPEG: file ends inside the header ({nbytes} bytes)")
        if marker in sof:
            if i + 9 > end:
                buf, base, i = os.pread(fd, 65536, pos), pos, 0
                end = len(buf)
                if i + 9 > end:
                    raise ImageError(f"truncated JPEG: file ends inside the frame header ({nbytes} bytes)")
            h, w = struct.unpack_from(">HH", buf, i + 5)
            size = (w, h)
            if not check:
                return "jpeg", w, h
        pos += 2 + ((buf[i + 2] << 8) | buf[i + 3])
    if size is None:
        raise ImageError("corrupt JPEG: no frame header (SOF) before the image data")
    if check:
        # Inside entropy-coded data every 0xFF is stuffed (FF00), so FFD9 after the scan start is the real EOI.
        # Usually it is the last two bytes: look there first, then in a wider window (padding, trailers).
        found = False
        for window in (64, _JPEG_TAIL):
            tail_start = max(pos, nbytes - window)
            tail = head[tail_start:] if len(head) == nbytes else os.pread(fd, nbytes - tail_start, tail_start)
            if b"\xff\xd9" in tail:
                found = True
                break
        if not found:
            raise ImageError(f"truncated JPEG: no end-of-image marker (FFD9) ({nbytes} bytes)")
    return "jpeg", size[0], size[1]


def _gif(fd: int, head: bytes, nbytes: int, check: bool):
    if head[:6] not in (b"GIF87a", b"GIF89a"):
        raise ImageError("not an image (bad GIF signature)")
    _need(head, 10, "GIF")
    w, h = struct.unpack("<HH", head[6:10])
    if check and _tail(fd, head, nbytes, 1) != b"\x3b":
        raise ImageError(f"truncated GIF: does not end with the trailer byte 0x3B ({nbytes} bytes)")
    return "gif", w, h


def _bmp(fd: int, head: bytes, nbytes: int, check: bool):
    _need(head, 26, "BMP")
    declared, = struct.unpack("<I", head[2:6])
    offset, = struct.unpack("<I", head[10:14])
    dib, = struct.unpack("<I", head[14:18])
    if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        w, h = struct.unpack("<HH", head[18:22])
    elif dib >= 40:
        w, h = struct.unpack("<ii", head[18:26])
    else:
        raise ImageError(f"not an image (unknown BMP header size {dib})")
    if check and (offset > nbytes or (declared and nbytes < declared)):
        raise ImageError(f"truncated BMP: header declares {declared or offset} bytes, file has {nbytes}")
    return "bmp", w, abs(h)  # negative height = top-down rows


def _riff(fd: int, head: bytes, nbytes: int, check: bool):
    if head[8:12] != b"WEBP":
        raise ImageError("not an image (a RIFF file that is not WebP)")
    _need(head, 30, "WebP")
    riff_size, = struct.unpack("<I", head[4:8])
    chunk = head[12:16]
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
    elif chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ImageError("corrupt WebP: bad VP8 start code")
        w, h = (v & 0x3FFF for v in struct.unpack("<HH", head[26:30]))
    elif chunk == b"VP8L":
        if head[20] != 0x2F:
            raise ImageError("corrupt WebP: bad VP8L signature")
        bits, = struct.unpack("<I", head[21:25])
        w, h = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise ImageError(f"corrupt WebP: unknown first chunk {chunk!r}")
    if check and nbytes < riff_size + 8:
        raise ImageError(f"truncated WebP: header declares {riff_size + 8} bytes, file has {nbytes}")
    return "webp", w, h


def _probe_pil(fd: int, nbytes: int) -> tuple[str, int, int, int]:
    from PIL import Image, UnidentifiedImageError

    os.lseek(fd, 0, os.SEEK_SET)
    try:
        with open(fd, "rb", closefd=False) as fh, Image.open(fh) as im:  # lazy: reads the header only
            w, h = im.size
            fmt = (im.format or "unknown").lower()
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"unreadable image: {e}") from None
    if w <= 0 or h <= 0:
        raise ImageError(f"{fmt} header declares an empty image ({w}x{h})")
    if w * h > (_LIMIT[0] or _limit()):
        _too_large(fmt, w, h)
    return fmt, w, h, nbytes


def _limit() -> int:
    _LIMIT[0] = max_pixels()
    return _LIMIT[0]


def _too_large(fmt: str, w: int, h: int) -> None:
    raise ImageError(f"{fmt} header declares {w}x{h} = {w * h:,} pixels, over the limit of {_LIMIT[0]:,} "
                     f"(a decompression bomb? raise {MAX_PIXELS_ENV} if the image is real)")


_LIMIT: list = [None]  # max_pixels(), read from the environment on the first header of the process

_PARSERS = {b"\x89P": _png, b"\xff\xd8": _jpeg, b"GI": _gif, b"BM": _bmp, b"RI": _riff}
