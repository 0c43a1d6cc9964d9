"""ms-swift 4.x reward plugin (``swift rlhf --rlhf_type grpo --external_plugins <this file or a generated hook
module> --reward_funcs bridge``). Importing it imports ms-swift — nothing else in gui-bridge does.

Registers in ``swift.rewards.orms``:

* ``bridge`` — the weighted total of the configured spec (see :mod:`bridge.rewards.hooks`);
* ``bridge_<key>`` — one ORM per spec component, unweighted, for ``--reward_funcs bridge_a bridge_b
  --reward_weights …`` so that ms-swift logs each component.

The ground truth is read from the ``ground_truth`` column (ms-swift passes every extra column to the ORM).
"""
from __future__ import annotations

from swift.rewards import ORM, orms

from ...rewards.hooks import GT_COLUMN, _identifier, scorer_for, swift_reward
from ...rewards.spec import build_scorer


class BridgeORM(ORM):
    """gui-bridge rewards behind ms-swift's ORM interface: ``__call__(completions, **kwargs) -> list[float]``."""

    spec = None              # None: the configured / $BRIDGE_REWARD_SPEC / default spec, resolved per call
    gt_column = GT_COLUMN

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except TypeError:  # an ORM base without (args, **kwargs) parameters
            super().__init__()

    def __call__(self, completions, **kwargs) -> list[float]:
        return swift_reward(completions, spec=self.spec, gt_column=self.gt_column, **kwargs)


def register_orms(spec=None) -> dict[str, type]:
    """Register ``bridge`` and one ``bridge_<key>`` ORM per component of ``spec`` (or the configured spec)."""
    scorer = scorer_for(spec)
    # classes named like their registry entries: ms-swift logs each as rewards/<class name>/mean
    made = {"bridge": type("bridge", (BridgeORM,), {"spec": scorer})}
    for c in scorer.components:
        sub = build_scorer([{"name": c.reward.name, "options": c.options}])
        name = "bridge_" + _identifier(c.key)
        made[name] = type(name, (BridgeORM,), {"spec": sub})
    orms.update(made)
    return made


register_orms()
