"""bridge.stats / `bridge stats`: hand-counted values on a small dataset."""
from __future__ import annotations

import json

import pytest

from bridge.cli import main
from bridge.dataset import DatasetWriter
from bridge.schema import Episode
from bridge.stats import compute_stats


def _step(i, w, h, action):
    # Stats never open images: the files need not exist.
    return {"index": i, "screenshot": f"images/{i}.png", "width": w, "height": h, "action": action}


CLICK = {"type": "click", "point": [5, 5]}
DONE = {"type": "status", "status": "complete"}


def make(tmp_path, extra_line: str | None = None):
    eps = [
        {"episode_id": "a", "instruction": "x", "platform": "android", "app": "Mail", "source": "synth",
         "split": "train",
         "steps": [_step(0, 1080, 2400, CLICK), _step(1, 1080, 2400, {"type": "type", "text": "hi"}),
                   _step(2, 1080, 2400, CLICK), _step(3, 1080, 2400, DONE)]},
        {"episode_id": "b", "instruction": "y", "platform": "android", "app": "Mail", "source": "aitw",
         "steps": [_step(0, 720, 1280, CLICK), _step(1, 720, 1280, DONE)]},
        {"episode_id": "c", "instruction": "z", "platform": "desktop", "source": "synth", "split": "test",
         "steps": [_step(0, 1920, 1080, {"type": "key", "key": "ctrl+s"}), _step(1, 1920, 1080, CLICK),
                   _step(2, 1080, 2400, DONE)]},
    ]
    out = tmp_path / "ds"
    with DatasetWriter(out) as w:
        for e in eps:
            w.write(Episode.model_validate(e))
    if extra_line is not None:
        with open(out / "episodes.jsonl", "a") as fh:
            fh.write(extra_line + "\n")
    return out


def test_counts_by_hand(tmp_path):
    s = compute_stats(make(tmp_path))
    assert (s["episodes"], s["steps"], s["invalid_records"]) == (3, 9, 0)
    assert s["action_types"] == {"click": 4, "status": 3, "type": 1, "key": 1}
    assert list(s["action_types"])[:2] == ["click", "status"]  # most common first
    assert s["platforms"] == {"android": 2, "desktop": 1}
    assert s["sources"] == {"synth": 2, "aitw": 1}
    assert s["apps"] == {"Mail": 2, "(none)": 1}
    assert s["splits"] == {"train": 1, "(none)": 1, "test": 1}
    assert s["steps_per_episode"] == {"min": 2, "mean": 3.0, "max": 4}
    assert s["image_sizes"] == {
        "distinct": 3, "min_width": 720, "max_width": 1920, "min_height": 1080, "max_height": 2400,
        "most_common": [{"width": 1080, "height": 2400, "steps": 5}, {"width": 720, "height": 1280, "steps": 2},
                        {"width": 1920, "height": 1080, "steps": 2}]}


def test_invalid_records_are_counted_not_hidden(tmp_path, capsys):
    ds = make(tmp_path, extra_line="{broken")
    assert compute_stats(ds)["invalid_records"] == 1
    with pytest.raises(SystemExit) as e:   # statistics that leave records out are an error (issue 11 item 10)
        main(["stats", str(ds)])
    captured = capsys.readouterr()
    assert e.value.code == 2 and "episodes       3" in captured.out
    assert "1 invalid record(s) were left out of these statistics" in captured.err
    assert "episodes.jsonl:4: not valid JSON" in captured.err


def test_cli_json_and_text(tmp_path, capsys):
    ds = make(tmp_path)
    main(["stats", str(ds), "--json"])
    assert json.loads(capsys.readouterr().out)["action_types"]["click"] == 4
    main(["stats", str(ds)])
    out = capsys.readouterr().out
    assert "episodes       3" in out and "steps/episode  min 2  mean 3  max 4" in out
    assert "  click          4   44.4%" in out
    assert "most common 1080x2400 (5), 720x1280 (2), 1920x1080 (2)" in out


def test_cli_not_a_dataset(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stats", str(tmp_path / "nope")])
    assert exc.value.code == 2 and "not a dataset directory" in capsys.readouterr().err


def test_empty_dataset(tmp_path):
    with DatasetWriter(tmp_path / "ds"):
        pass
    s = compute_stats(tmp_path / "ds")
    assert (s["episodes"], s["steps"], s["steps_per_episode"]["mean"], s["image_sizes"]["distinct"]) == (0, 0, None, 0)


def test_unreadable_episodes_file_is_a_located_error_in_every_command(tmp_path, capsys, monkeypatch):
    import builtins

    ds = make(tmp_path)
    real_open = builtins.open

    def deny(path, *a, **k):  # root ignores chmod, so simulate the permission error
        if str(path).endswith("episodes.jsonl"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", deny)
    for cmd in ("stats", "inspect", "validate"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, str(ds)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and "episodes.jsonl: cannot read the episodes file: Permission denied" in err, cmd
