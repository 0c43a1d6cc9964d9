"""Argument checks shared by several commands (kept light: imported by command bodies only)."""
from __future__ import annotations

from typing import Optional


def check_pixels(min_pixels: Optional[int], max_pixels: Optional[int]) -> None:
    """--min-pixels above --max-pixels is a user error (smart_resize has no grid to land on), said up front."""
    if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
        from ..errors import BridgeError

        raise BridgeError(f"--min-pixels {min_pixels} is larger than --max-pixels {max_pixels}",
                          hint="the processor's smart_resize needs min_pixels <= max_pixels")
