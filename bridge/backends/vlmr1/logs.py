"""VLM-R1: its trainer is a fork of TRL's GRPOTrainer on the Hugging Face Trainer, so its logs are read like TRL's
(``output/trainer_state.json`` ``log_history`` with ``rewards/<func>`` per reward function, else the dicts it printed
to ``backend.log``; settings from the ``training_args.bin`` it saved)."""
from __future__ import annotations

from ..trl.logs import parse, settings

__all__ = ["parse", "settings"]
