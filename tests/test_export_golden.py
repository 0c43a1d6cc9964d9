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
