"""The adapter contract: what one backend (trainer) must implement. Everything else — convert-all, dry-run,
run records, compare, the backend × feature matrix — is built once on top (DESIGN.md §5).

An adapter is a small class declaring its name, methods and capabilities *as data*, plus a few primitives:
export data, render config (Jinja templates in bridge/templates/<name>/), reward hook, launch command,
backend-side check, metrics parsing. Adapters are registered by dotted path and loaded lazily
(bridge.adapters.registry) so that importing one never imports a trainer.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable, Optional

from ..samples import Sample


@dataclass
class ExportResult:
    """What :meth:`Adapter.export` wrote: data files, registration files, sample count and style report."""

    out: Path
    method: str                     # "sft" | "grpo"
    files: dict[str, Path]          # role -> path, e.g. {"train": ..., "dataset_info": ...}
    samples: int
    refused: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class LaunchSpec:
    """A subprocess to start: an argument list (never a shell string built from user text), env additions, cwd."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Optional[Path] = None


class Adapter(ABC):
    name: ClassVar[str]
    methods: ClassVar[frozenset[str]]              # subset of {"sft", "grpo"}
    capabilities: ClassVar[dict[str, Any]] = {}    # e.g. {"lora": True, "freeze_vision": True, "multi_node": "torchrun"}

    @abstractmethod
    def export(self, samples: Iterable[Sample], out: Path, method: str, recipe: Any) -> ExportResult:
        """Write the backend's data files (and registration such as dataset_info.json) under ``out``."""

    @abstractmethod
    def render_config(self, recipe: Any, export: ExportResult, run_dir: Path) -> dict[str, Path]:
        """Render the backend's config files from Jinja templates into ``run_dir``; return role -> path."""

    def reward_hook(self, recipe: Any, run_dir: Path) -> Optional[Path]:
        """Write the module the backend loads to call bridge.rewards (GRPO only); None when not needed."""
        return None

    @abstractmethod
    def command(self, recipe: Any, export: ExportResult, run_dir: Path, python: str) -> LaunchSpec:
        """The launch command, run with the backend environment's interpreter ``python``."""

    def parse_metrics(self, run_dir: Path) -> list[dict[str, Any]]:
        """Per-step metrics read from the backend's own logs (step, loss, reward, ...)."""
        return []
