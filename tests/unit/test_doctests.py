"""The docstring examples of every nwbsyn and ndx_nwbsyn module run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ndx_nwbsyn
import nwbsyn

# modules whose import needs something a plain test install lacks, or that run code on import
_SKIP = {"nwbsyn.cli.__main__"}


def _modules(package) -> list[str]:
    names = [package.__name__]
    names += [m.name for m in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")]
    return sorted(n for n in names if n not in _SKIP)


@pytest.mark.parametrize("name", _modules(nwbsyn) + _modules(ndx_nwbsyn))
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test, out=lambda text: None)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed; run " \
                               f"python -m pytest --doctest-modules --pyargs {name} to see them"


def test_a_wrong_example_fails():
    """The check above can fail: an example whose output is wrong is counted."""

    def wrong():
        """
        >>> 1 + 1
        3
        """

    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(wrong, "wrong"):
        runner.run(test, out=lambda text: None)
    assert runner.summarize(verbose=False).failed == 1
