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


def test_exports_stream(tmp_path, monkeypatch):
    """Every exporter's memory is constant in the number of samples (issue 16): the peak traced allocation
    while exporting 800 samples stays within 1.2x (+200 kB) of 200 (the list-building exporters grew 4x).
    verl's row groups are made small here so that one batch is not the whole test set."""
    import copy
    import tracemalloc

    from export_golden import EXPORTS, FIXTURES

    from bridge.backends import get_adapter
    from bridge.importers import import_dataset
    from bridge.samples import build_samples
    from bridge.styles import get_style
    from bridge.styles.base import PromptOptions

    monkeypatch.setattr("bridge.backends.verl.adapter.BATCH_ROWS", 50)
    ds = tmp_path / "ds"
    import_dataset("seed-steps", FIXTURES / "seed-steps", ds)
    base = list(build_samples(ds, get_style("seed", PromptOptions(history=0))))

    def samples(n):
        for i in range(n):
            s = copy.deepcopy(base[i % len(base)])
            s.id = f"{s.id}#{i}"
            yield s

    for backend, method in EXPORTS:
        peaks = []
        for n in (200, 800):
            tracemalloc.start()
            get_adapter(backend).export(samples(n), tmp_path / f"{backend}-{method}-{n}", method, None)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert peaks[1] < 1.2 * peaks[0] + 200_000, (backend, method, peaks)   # slack: caches, gc timing
