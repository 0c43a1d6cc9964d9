"""VLM-R1: its trainer is a fork of TRL's GRPOTrainer on the Hugging Face Trainer, so its logs are read like TRL's
(``output/trainer_state.json`` ``log_history``, else the dicts it printed to ``backend.log``; settings from the
``training_args.bin`` it saved). Its fork logs each reward function as ``rewards/<name>`` (TRL 1.x:
``rewards/<name>/mean``; trainer/grpo_trainer.py:703): read as ``reward/<component>`` all the same."""
from __future__ import annotations

from pathlib import Path

from ..logs import Parsed, console_dicts, state_history
from ..trl.logs import rows_from, settings

__all__ = ["parse", "settings"]


def _renamed(raw: dict) -> dict:
    return {(f"{k}/mean" if k.startswith("rewards/") and not k.endswith(("/mean", "/std")) else k): v
            for k, v in raw.items()}


def parse(run_dir: Path) -> Parsed:
    run_dir = Path(run_dir)
    out = Parsed()
    raws, numbered = state_history(run_dir / "output", out), True
    if not raws:
        raws, numbered = console_dicts(run_dir / "backend.log", out), False
        if raws:
            out.warnings.append(f"{run_dir / 'backend.log'}: no trainer_state.json; metrics read from the console "
                                "(rounded values, steps numbered by log row)")
    out.rows = rows_from([_renamed(r) for r in raws], numbered)
    return out
