"""Experiment tracking: ``train.report_to: [tensorboard, wandb]`` through each backend's own mechanism.

* Hugging Face Trainer based backends (TRL, LLaMA-Factory, ms-swift, VLM-R1): ``report_to`` in the training
  arguments; TensorBoard writes where ``TENSORBOARD_LOGGING_DIR`` says (transformers'
  ``integrations/integration_utils.py`` ``TensorBoardCallback`` reads it; the ``logging_dir`` argument is gone in
  transformers 5), VLM-R1's transformers 4.49 takes ``logging_dir``.
* verl: ``trainer.logger=[console,file,tensorboard,wandb]``; its TensorBoard adapter writes to ``TENSORBOARD_DIR``
  (``verl/utils/tracking.py``).

TensorBoard event files land in ``<run dir>/tensorboard`` on every backend. Weights & Biases runs offline
(``WANDB_MODE=offline``, files under ``<run dir>/wandb``; ``wandb sync`` uploads them later) unless the calling
environment sets ``WANDB_MODE`` itself: a run never reaches the network on its own.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Union

TRACKERS = ("tensorboard", "wandb")
TENSORBOARD_DIR = "tensorboard"


def hf_report_to(recipe: Any) -> Union[list[str], str]:
    """The Trainer's ``report_to``: the recipe's trackers, or ``"none"`` (never transformers' "all installed")."""
    return list(recipe.train.report_to) or "none"


def tracking_env(recipe: Any, run_dir: Path) -> dict[str, str]:
    """Environment variables that point each tracker at the run directory."""
    env: dict[str, str] = {}
    trackers = recipe.train.report_to
    if "tensorboard" in trackers:
        tb = str(Path(run_dir) / TENSORBOARD_DIR)
        env.update(TENSORBOARD_LOGGING_DIR=tb, TENSORBOARD_DIR=tb)
    if "wandb" in trackers:
        env.update(WANDB_MODE=os.environ.get("WANDB_MODE", "offline"), WANDB_DIR=str(run_dir),
                   WANDB_PROJECT=os.environ.get("WANDB_PROJECT", "gui-bridge"), WANDB_NAME=Path(run_dir).name)
    return env
