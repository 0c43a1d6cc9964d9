"""Packaging hygiene (issue 14 item 7): a LICENSE file, an SPDX license expression, py.typed shipped, and only the
Python version the tests run on claimed."""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_license_is_an_spdx_expression_with_its_text_shipped():
    assert PROJECT["license"] == "Apache-2.0"        # PEP 639 string, not the deprecated {text = ...} table
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", []))   # PEP 639 forbids both


def test_py_typed_is_present_and_packaged():
    assert (ROOT / "bridge" / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bridge"]
    assert "py.typed" in data


def test_claimed_pythons_are_the_tested_one():
    low = re.fullmatch(r">=(\d+)\.(\d+)", PROJECT["requires-python"])
    assert low, PROJECT["requires-python"]
    minimum = (int(low[1]), int(low[2]))
    assert sys.version_info[:2] >= minimum
    versions = {c.rsplit(":: ", 1)[1] for c in PROJECT["classifiers"] if re.search(r"Python :: 3\.\d+$", c)}
    assert versions == {f"{minimum[0]}.{minimum[1]}"}      # one tested version, no untested one claimed
    assert f"Python {minimum[0]}.{minimum[1]}" in (ROOT / "README.md").read_text()
