"""Importers: real source formats → the canonical dataset (``bridge import FORMAT SRC OUT``).

One module per format; each exposes ``records(src, ctx)`` yielding :class:`~bridge.importers.base.SourceRecord`
and a ``LAYOUT`` string describing exactly which source layout it accepts. The registry below is plain data so
that listing formats (``bridge import --help``) imports nothing heavy; :func:`get_importer` loads one lazily.

Python API::

    from bridge.importers import import_dataset
    report = import_dataset("seed-steps", "raw/", "data/mine", skip_invalid=True)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import BridgeError

#: format name → (module under bridge.importers, one-line description)
IMPORTERS: dict[str, tuple[str, str]] = {
    "seed-steps": ("seed_steps", "per-step JSON 'ui-doctor' layout: ROOT/<episode>/step_N.json + screenshots"),
    "gui-r1": ("gui_r1", "GUI-R1 parquet (image bytes, instruction, gt_action, gt_bbox in [0,1])"),
    "agentcpm": ("agentcpm", "AgentCPM-GUI SFT/RFT JSON or JSONL (compact JSON actions, [0,1000])"),
    "androidcontrol": ("androidcontrol", "AndroidControl episodes exported from TFRecord to JSON/JSONL"),
    "gui-odyssey": ("gui_odyssey", "GUI-Odyssey annotations/<episode>.json + screenshots/"),
    "aitw": ("aitw", "Android in the Wild per-step records exported from TFRecord to JSON/JSONL"),
    # trainer datasets back to canonical (module#format: one module reads all five; needs the targets' style)
    "trl": ("trainer_formats#trl", "a TRL dataset (prompt/completion/images JSONL), read back with its style"),
    "llamafactory": ("trainer_formats#llamafactory", "a LLaMA-Factory ShareGPT dataset, read back with its style"),
    "swift": ("trainer_formats#swift", "an ms-swift messages dataset, read back with its style"),
    "verl": ("trainer_formats#verl", "a verl parquet dataset, read back with its style"),
    "vlmr1": ("trainer_formats#vlmr1", "a VLM-R1 JSONL dataset, read back with its style"),
}


@dataclass(frozen=True)
class Importer:
    """A loaded importer: ``records(src, ctx)`` yields one SourceRecord per source record."""

    name: str
    description: str
    layout: str
    records: Callable[..., Iterator[Any]]


def get_importer(name: str) -> Importer:
    """The importer registered as ``name`` (raises BridgeError listing the known formats otherwise)."""
    if name not in IMPORTERS:
        raise BridgeError(f"unknown import format {name!r} (known: {', '.join(sorted(IMPORTERS))})")
    module_name, description = IMPORTERS[name]
    module_name, _, variant = module_name.partition("#")
    module = importlib.import_module(f"{__name__}.{module_name}")
    records = getattr(module, f"records_{variant}" if variant else "records")
    return Importer(name=name, description=description, layout=module.LAYOUT, records=records)


def import_dataset(fmt: str, src, out, **options):
    """Import ``src`` in format ``fmt`` into dataset ``out``; see :func:`bridge.importers.base.run_import`."""
    from .base import run_import

    return run_import(fmt, src, out, **options)


__all__ = ["IMPORTERS", "Importer", "get_importer", "import_dataset"]
