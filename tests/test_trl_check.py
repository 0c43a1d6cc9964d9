"""`bridge check --backend trl` on an imported seed-steps dataset (the synthetic one is covered by the
conformance suite): TRL's own data path loads every sample, and each image gets the resize policy's grid."""
from __future__ import annotations

from pathlib import Path

import pytest

from bridge.backends import get_adapter
from bridge.backends.check import run_check
from bridge.frames import image_tokens
from bridge.images import image_size
from bridge.recipe import parse_recipe

from conftest import backend_python

SEED = Path(__file__).parent / "fixtures" / "importers" / "seed-steps"


@pytest.mark.backend("trl")
@pytest.mark.slow
def test_check_imported_seed_steps(tiny_model_25_dir, tmp_path):
    backend_python("trl")
    from bridge.importers import import_dataset
    from bridge.runs import export_dataset, make_style, prompt_options

    import_dataset("seed-steps", SEED, tmp_path / "ds")
    r = parse_recipe({"name": "t", "model": str(tiny_model_25_dir), "data": {
        "train": str(tmp_path / "ds"), "style": "qwen25vl", "prev_image": True, "min_pixels": 3136, "max_pixels": 4704},
        "train": {"max_steps": 2, "device": "cpu"}})
    res, _ = export_dataset(get_adapter("trl"), tmp_path / "ds", make_style(r.data.style, prompt_options(r.data)),
                            "sft", tmp_path / "trl", r)
    v = run_check("trl", tmp_path / "trl", recipe=r)
    assert v.ok, v.summary()
    assert v.report["loaded"] == res.samples == 13 - sum(res.refused.values()) > 0 and v.report["dropped"] == []
    for s in v.report["samples"]:
        assert s["images"], s
        for path, got in zip(s["images"], s["image_tokens"]):
            w, h = image_size(path)
            assert got == image_tokens(h, w, 28, 3136, 4704)
