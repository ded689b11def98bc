"""Run one hostile CLI case in-process and check that it ended cleanly.

A clean ending: the expected exit code, exactly one ``nwbsyn: error: ...`` line on stderr for
user mistakes (a sentence, no traceback, no Python syntax), every input byte-identical, and no
new file (output or temporary) in the watched folders.

Example (in a test)::

    case = HostileCase(argv=["events", "detect", str(bad)], inputs=[bad], watch=[tmp_path])
    case.check(capsys)
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from nwbsyn.cli import main

TMP_MARK = ".nwbsyn-tmp-"


def digest(path: Path) -> str | None:
    path = Path(path)
    if path.is_symlink() and not path.exists():
        return "dangling-link"
    if not path.exists():
        return None
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest() + f":{os.stat(path).st_mode:o}"


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*")} if Path(folder).is_dir() else set()


def stray_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in Path(folder).rglob(f"*{TMP_MARK}*")]


@dataclass
class HostileCase:
    argv: list[str]
    inputs: list[Path] = field(default_factory=list)
    watch: list[Path] = field(default_factory=list)  # folders where nothing may appear
    code: int = 2
    message: str | None = None  # a substring the error must contain (case-insensitive)
    allow_new: tuple[str, ...] = ()  # names that may appear in watched folders (a success case)

    def run(self, capsys) -> tuple[int, str, str]:
        before_inputs = {str(p): digest(p) for p in self.inputs}
        before_lists = {str(w): listing(w) for w in self.watch}
        capsys.readouterr()
        try:
            code = main([str(a) for a in self.argv])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        out, err = capsys.readouterr()
        self._after = ({str(p): digest(p) for p in self.inputs}, before_inputs, before_lists)
        return code, out, err

    def check(self, capsys) -> str:
        code, out, err = self.run(capsys)
        after_inputs, before_inputs, before_lists = self._after
        where = f"nwbsyn {' '.join(map(str, self.argv))}"
        assert code == self.code, f"{where}: exit {code}, expected {self.code}\nstdout: {out}\nstderr: {err}"
        assert "Traceback" not in err and "Traceback" not in out, f"{where}: traceback\n{err}"
        if self.code == 2:
            errors = [line for line in err.splitlines() if line.startswith("nwbsyn: error:")]
            assert len(errors) == 1, f"{where}: expected one error line, got\n{err}"
            line = errors[0]
            assert "unexpected" not in line, f"{where}: an unexpected error, not a user message: {line}"
            for python_ism in (r"\w_\w+=", r"Namespace\(", r"<class ", r"\bNone\)", r"\bself\.", r"Error\(\'"):
                assert not re.search(python_ism, line), f"{where}: message speaks Python: {line}"
            if self.message:
                assert self.message.lower() in line.lower(), f"{where}: {self.message!r} not in {line!r}"
        assert after_inputs == before_inputs, f"{where}: an input changed"
        for folder in self.watch:
            new = listing(folder) - before_lists[str(folder)]
            new = {n for n in new if not any(n.endswith(a) for a in self.allow_new)}
            assert not new, f"{where}: left {sorted(new)} in {folder}"
            assert not stray_temporaries(folder), f"{where}: left temporaries {stray_temporaries(folder)}"
        return err
