"""Which series ``nwbsyn events detect`` analyses: names, paths and glob patterns, and why (one sentence)."""

from __future__ import annotations

import fnmatch
import re

import numpy as np

from nwbsyn._shared import InputError
from nwbsyn._shared.nwb import find_object, list_analysable

__all__ = ["select_series"]


def _find_series(nwbfile, name: str):
    """The series called ``name``; a TimeSeries nwbsyn cannot analyse is named with its shape."""
    from pynwb import TimeSeries

    try:
        return find_object(nwbfile, name, kinds=("patch_clamp", "trace"))
    except InputError:
        for obj in nwbfile.objects.values():
            if isinstance(obj, TimeSeries) and name in (obj.name, f"acquisition/{obj.name}") and obj.data is not None:
                shape = tuple(getattr(obj.data, "shape", np.shape(obj.data)))
                if len(shape) != 1:
                    raise InputError(f"{obj.name} has shape {shape}; event detection needs a 1-D trace (one "
                                     "sweep).") from None
        raise


_GLOB = re.compile(r"[*?\[]")


def select_series(nwbfile, *, series: list[str] | None = None) -> tuple[list, str]:
    """(the series to analyse, one sentence saying which and why).

    Example
    -------
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> select_series(mock_icephys_nwbfile(n_sweeps=2), series=["sweep_*"])[1]
    "2 series (sweep_0, sweep_1): matched by --series 'sweep_*'"
    """
    if series:
        named = [_find_series(nwbfile, name) for name in series if not _GLOB.search(name)]
        names = [obj.name for obj in named]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InputError(f"{twice[0]} is named more than once in --series; name each series once.")
        objects = []
        for name in series:
            objects += _match(nwbfile, name) if _GLOB.search(name) else [_find_series(nwbfile, name)]
        objects = list({id(o): o for o in objects}.values())
        why = "named with --series " + " ".join(f"'{n}'" if _GLOB.search(n) else n for n in series)
        if all(_GLOB.search(n) for n in series):
            why = "matched by --series " + " ".join(f"'{n}'" for n in series)
        return objects, f"{_listing(objects)}: {why}"
    analysable = list_analysable(nwbfile)
    items = [i for i in analysable if i.kind == "patch_clamp"]
    why = "every patch-clamp series in the file"
    if not items:
        items = [i for i in analysable if i.kind == "trace" and len(i.shape) == 1]
        why = "the file holds no patch-clamp series, so every 1-D TimeSeries"
    if not items:
        raise InputError("The file holds no patch-clamp series or 1-D TimeSeries to analyse; "
                         "check it with 'nwbsyn info'.")
    objects = [find_object(nwbfile, item.path) for item in items]
    types = sorted({type(o).__name__ for o in objects})
    skipped = [i for i in analysable if i.kind == "trace" and len(i.shape) == 1 and i not in items]
    text = f"{_listing(objects)}: {why} ({', '.join(types)})"
    if skipped:
        text += f"; not analysed: {len(skipped)} other TimeSeries ({_skipped_kinds(nwbfile, skipped)}), " \
                "name them with --series"
    return objects, text


def _listing(objects) -> str:
    names = [o.name for o in objects]
    shown = ", ".join(names) if len(names) <= 3 else f"{names[0]} ... {names[-1]}"
    return f"{len(names)} series ({shown})"


def _skipped_kinds(nwbfile, items) -> str:
    """'Vm1_sweep_*: membrane-potential monitor' from the descriptions the ABF converter writes."""
    groups: dict[str, list[str]] = {}
    for item in items:
        obj = find_object(nwbfile, item.path)
        what = str(getattr(obj, "description", "") or "").split(":", 1)[0].split(" recorded", 1)[0]
        prefix = item.name.rsplit("sweep_", 1)[0] + "sweep_*" if "sweep_" in item.name else item.name
        groups.setdefault(f"{prefix}: {what.lower()}" if "monitor" in what.lower() or "trigger" in what.lower()
                          else prefix, []).append(item.name)
    return "; ".join(list(groups)[:4]) + ("; ..." if len(groups) > 4 else "")


def _match(nwbfile, pattern: str) -> list:
    """The 1-D series whose name or path matches the glob ``pattern``; an InputError listing them if none."""
    items = [i for i in list_analysable(nwbfile) if i.kind in ("patch_clamp", "trace") and len(i.shape) == 1]
    found = [i for i in items if fnmatch.fnmatchcase(i.name, pattern) or fnmatch.fnmatchcase(i.path, pattern)]
    if not found:
        names = [i.name for i in items]
        shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
        raise InputError(f"--series '{pattern}' matches no series in the file; its series are {shown or 'none'}.")
    return [find_object(nwbfile, item.path) for item in found]
