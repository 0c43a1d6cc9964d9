"""The check scripts' shared prelude (bridge.backends.inenv), run as a backend's check.py is: by file path, with a
request file; the bridge side (bridge.backends.check.run_script) reads its one report line."""
from __future__ import annotations

import json
import sys

import pytest

from bridge.backends.check import run_script
from bridge.backends.inenv import REPORT_PREFIX, runs
from bridge.errors import BridgeError

SCRIPT = '''
from bridge.backends.inenv import run, runs

def check(req, report):
    report["samples_in"] = req["n"]
    report["loaded"] = len(runs(req["ids"], 7))
    if req.get("fail"):
        raise ValueError("the backend refused row 3")

if __name__ == "__main__":
    run("toy", ("pytest", "no-such-dist"), check, extra_field=1)
'''


def test_runs_counts_each_pad_run():
    assert runs([1, 7, 7, 2, 7, 3, 7, 7, 7], 7) == [2, 1, 3] and runs([], 7) == [] and runs([7], 7) == [1]


@pytest.mark.parametrize("fail", [False, True])
def test_a_check_script_reports_once_even_when_its_backend_raises(tmp_path, fail):
    script = tmp_path / "check.py"
    script.write_text(SCRIPT)
    req = tmp_path / "request.json"
    req.write_text(json.dumps({"n": 4, "ids": [7, 1, 7, 7], "fail": fail}))
    report = run_script(sys.executable, script, req, log=tmp_path / "check.log")
    assert report["backend"] == "toy" and report["samples_in"] == 4 and report["loaded"] == 2
    assert report["versions"]["no-such-dist"] is None and report["versions"]["pytest"] == pytest.__version__
    assert report["extra_field"] == 1 and report["dropped"] == [] and report["samples"] == []
    assert report["errors"] == (["ValueError: the backend refused row 3"] if fail else [])
    log = (tmp_path / "check.log").read_text()
    assert log.count(REPORT_PREFIX) == 1 and ("Traceback" in log) == fail   # the traceback goes to the log


def test_a_script_without_a_report_line_is_a_located_error(tmp_path):
    script = tmp_path / "check.py"
    script.write_text("import sys\nprint('starting')\nsys.exit('no backend here')\n")
    req = tmp_path / "request.json"
    req.write_text("{}")
    with pytest.raises(BridgeError, match=r"the check script failed \(exit 1\) without a report") as e:
        run_script(sys.executable, script, req)
    assert "no backend here" in e.value.hint
