"""Named presets reproducing published reward functions (docs/rewards.md). Importing this package
registers them: gui-r1, ui-r1, gui-g1, se-gui, agentcpm (+ agentcpm-schema/-type/-args), vlm-r1-format,
vlm-r1-iou."""
from . import agentcpm, gui_g1, gui_g1_clamped, gui_r1, se_gui, ui_r1, vlm_r1  # noqa: F401
