"""Export goldens: every backend x method exported from the importer fixtures, normalised (the dataset and output
folders replaced by placeholders, verl's parquet read back as rows) and hashed. ``tests/fixtures/export_golden.json``
was written by ``python tests/export_golden.py`` from the code before the streamed exporters (issue 16), so
tests/test_export_golden.py proves the exports byte-identical before and after."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "importers"
GOLDEN = ROOT / "tests" / "fixtures" / "export_golden.json"
SOURCES = {"seed-steps": "seed-steps", "androidcontrol": "androidcontrol", "aitw": "aitw", "gui-odyssey": "gui-odyssey"}
#: (backend, method); styles x options per source below
EXPORTS = [("trl", "sft"), ("trl", "grpo"), ("llamafactory", "sft"), ("swift", "sft"), ("swift", "grpo"),
           ("verl", "grpo"), ("vlmr1", "grpo")]
VARIANTS = {"seed": {"history": 0}, "qwen25vl": {"history": 2}, "gui-r1": {"history": 4, "prev_image": True},
            "qwen2vl": {"history": 0, "think": True}}


def _normalise(files: dict, out: Path, src: Path) -> str:
    parts = []
    for key in sorted(files):
        p = Path(files[key])
        if p.suffix == ".parquet":
            import pyarrow.parquet as pq
            text = json.dumps(pq.read_table(p).to_pylist(), ensure_ascii=False, sort_keys=True)
        else:
            text = p.read_text(encoding="utf-8")
        parts.append(f"== {key} {p.name}\n{text}")
    text = "\n".join(parts)
    return text.replace(str(out.resolve()), "<OUT>").replace(str(src.resolve()), "<SRC>")


def export_digests(tmp: Path) -> dict[str, str]:
    from bridge.backends import get_adapter
    from bridge.importers import import_dataset
    from bridge.runs import export_dataset
    from bridge.styles import get_style
    from bridge.styles.base import PromptOptions

    out: dict[str, str] = {}
    for name, fmt in SOURCES.items():
        ds = tmp / f"ds-{name}"
        import_dataset(fmt, FIXTURES / name, ds)
        for style, opts in VARIANTS.items():
            for backend, method in EXPORTS:
                dest = tmp / f"x-{name}-{style}-{backend}-{method}"
                try:
                    res, _ = export_dataset(get_adapter(backend), ds, get_style(style, PromptOptions(**opts)),
                                            method, dest)
                except Exception as e:   # a refusal is part of the golden too (its message)
                    text = f"refused: {type(e).__name__}: {e}".replace(str(dest.resolve()), "<OUT>")
                else:
                    meta = {k: v for k, v in res.meta.items()}
                    text = _normalise(res.files, dest, FIXTURES / name) + "\n== meta\n" + json.dumps(
                        {"samples": res.samples, "meta": meta}, sort_keys=True, default=str).replace(
                        str(dest.resolve()), "<OUT>").replace(str((FIXTURES / name).resolve()), "<SRC>")
                text = text.replace(str(tmp.resolve()), "<TMP>")   # images some importers write into the dataset
                out[f"{name}/{style}/{backend}/{method}"] = hashlib.sha256(text.encode()).hexdigest()
    return out


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        digests = export_digests(Path(d))
    if "--print" in sys.argv:
        print(json.dumps(digests, indent=1))
    else:
        GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN} ({len(digests)} exports)")
