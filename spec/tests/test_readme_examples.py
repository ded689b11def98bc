"""The README's Python examples run, in order, in one namespace (an example per type)."""

import os
import re

from ndx_helpers import SPEC


def test_readme_examples_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", (SPEC / "README.md").read_text(), re.S)
    assert len(blocks) >= 10
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace = {}
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    finally:
        os.chdir(cwd)
    assert (tmp_path / "synapses.nwb").is_file()
