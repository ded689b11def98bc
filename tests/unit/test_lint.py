"""The code passes the project's linter (ruff; the rules are in pyproject.toml and spec/pyproject.toml)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["nwbsyn", "spec", "tests", "benchmarks", "examples"]


def _ruff(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True, check=False)


pytestmark = pytest.mark.skipif(importlib.util.find_spec("ruff") is None,
                                reason="ruff is not installed (pip install '.[test]')")


def test_ruff_finds_nothing():
    result = _ruff("check", "--no-cache", *[p for p in PATHS if (ROOT / p).exists()])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_would_catch_an_undefined_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    (tmp_path / "bad.py").write_text("def f():\n    return undefined_name\n")
    result = _ruff("check", "--no-cache", "bad.py", cwd=tmp_path)
    assert result.returncode == 1 and "F821" in result.stdout
