"""Every backend's export is byte-identical to the goldens written from the code before the streamed exporters
(issue 16): tests/fixtures/export_golden.json, regenerate with ``python tests/export_golden.py`` only for an
intended format change."""
from __future__ import annotations

import json

from export_golden import GOLDEN, export_digests


def test_exports_match_goldens(tmp_path):
    want = json.loads(GOLDEN.read_text())
    got = export_digests(tmp_path)
    assert sorted(got) == sorted(want)
    assert {k: v for k, v in got.items() if want[k] != v} == {}


def test_exports_stream_samples(tmp_path):
    """No exporter keeps the samples it has written (memory constant in N, issue 16): while the next sample is
    produced, the sample three before it is already garbage (the old VLM-R1 / verl / list-building exporters
    held every one)."""
    import gc
    import weakref

    from export_golden import EXPORTS, FIXTURES

    from bridge.backends import get_adapter
    from bridge.importers import import_dataset
    from bridge.samples import build_samples
    from bridge.styles import get_style
    from bridge.styles.base import PromptOptions

    ds = tmp_path / "ds"
    import_dataset("seed-steps", FIXTURES / "seed-steps", ds)
    for backend, method in EXPORTS:
        refs, kept = [], []

        def watched():
            for s in build_samples(ds, get_style("seed", PromptOptions(history=0))):
                if len(refs) >= 3:
                    gc.collect()
                    kept.append(refs[-3]() is not None)
                refs.append(weakref.ref(s))
                yield s

        get_adapter(backend).export(watched(), tmp_path / f"{backend}-{method}", method, None)
        assert kept and not any(kept), (backend, method, kept)
