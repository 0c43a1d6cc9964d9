"""Semantic checks of canonical data (types are checked by the pydantic models in bridge.schema).

Contract used by importers, ``bridge validate`` and the writers: :func:`check_episode` returns *every*
problem of one episode as located :class:`~bridge.errors.Problem` objects and never raises on bad data.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .errors import Problem
from .schema import Episode


def check_episode(episode: Episode, root: Path, *, file: str, line: Optional[int] = None,
                  check_images: bool = True) -> list[Problem]:
    """All semantic problems of ``episode`` (stored under dataset ``root``): images, coordinates, per-type
    required fields, paths escaping the root. ``file``/``line`` locate the record in messages."""
    return []  # filled in by the validation work (issue 2 §5)
