"""Expand batch sources (dandisets, DANDI assets, URLs, local files and folders) into jobs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nwbsyn._shared import InputError
from nwbsyn.io.remote import is_remote, list_assets, parse_source

__all__ = ["Job", "collect_jobs"]

_DANDISET = re.compile(r"^(?:DANDI:)?(\d{6})(?:@([^/]+))?/?$", re.IGNORECASE)
_DANDISET_URL = re.compile(r"^dandi://([^/]+)/(\d{6})(?:@([^/]+))?/?$", re.IGNORECASE)


@dataclass(frozen=True)
class Job:
    """One asset to analyse: what to open, where its output goes (relative), or why it cannot run."""

    asset: str  # as shown in the summary
    source: str  # what edit_nwb opens: a local path, a URL or a pinned DANDI asset
    relpath: str | None  # output path relative to out_dir; None when ``problem`` is set
    problem: str | None = None
    api_url: str | None = None  # DANDI API for DANDI: sources


def _dandiset(text: str, dandi_api_url):
    """(dandiset_id, version, api_url) when ``text`` names a whole dandiset, else None."""
    if (m := _DANDISET.match(text)) is not None:
        return m.group(1), m.group(2), dandi_api_url
    if (m := _DANDISET_URL.match(text)) is not None:
        instance, dandiset_id, version = m.groups()
        api_url = dandi_api_url or parse_source(f"dandi://{instance}/{dandiset_id}/x.nwb").api_url
        return dandiset_id, version, api_url
    return None


def _job(asset: str, source: str, relpath_of, api_url) -> Job:
    try:
        return Job(asset=asset, source=source, relpath=relpath_of(), api_url=api_url)
    except InputError as err:  # an unsafe asset path: recorded as a failure, never opened
        return Job(asset=asset, source=source, relpath=None, problem=str(err), api_url=api_url)


def _local(text: str, glob: str | None) -> list[Job]:
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.nwb") if p.is_file() and not p.name.startswith("."))
        if glob:
            files = [p for p in files if p.relative_to(path).match(glob)]
        return [Job(asset=str(p), source=str(p), relpath=p.relative_to(path).as_posix()) for p in files]
    if not path.exists():
        raise InputError(f"{text}: no such file, folder, URL or dandiset; check the source.")
    return [Job(asset=str(path), source=str(path), relpath=path.name)]


def _dandi_layout(jobs: list[Job], desc: str) -> list[Job]:
    """Local jobs renamed to DANDI paths (sub-<subject>/sub-<subject>_ses-<session>_desc-<desc>.nwb)."""
    from dataclasses import replace

    from nwbsyn.batch._dandi_layout import dandi_relpaths

    local = [i for i, job in enumerate(jobs) if job.relpath is not None and not is_remote(job.source)]
    names = dandi_relpaths([jobs[i].source for i in local], desc=desc)
    jobs = list(jobs)
    for i, (name, problem) in zip(local, names):
        jobs[i] = replace(jobs[i], relpath=name, problem=problem)
    return jobs


def collect_jobs(sources, *, glob: str | None = None, dandi_api_url: str | None = None,
                 timeout_s: float | None = None, dandi_desc: str | None = None) -> list[Job]:
    """Expand ``sources`` into one :class:`Job` per NWB file; output paths must not collide.

    A dandiset (``000123``, ``DANDI:000123[@version]``, ``dandi://DANDI/000123``) gives all its
    ``.nwb`` assets (those matching ``glob``); a folder gives its ``*.nwb`` files (recursively);
    an asset, a URL or a file gives itself. DANDI assets keep their (DANDI) paths; with
    ``dandi_desc``, local files are named ``sub-<subject>/sub-<subject>_ses-<session>_desc-<dandi_desc>.nwb``
    from their Subject and session (InputError for a file without a subject_id).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    jobs: list[Job] = []
    for item in sources:
        text = str(item).strip()
        if isinstance(item, str) and (found := _dandiset(text, dandi_api_url)) is not None:
            dandiset_id, version, api_url = found
            for src in list_assets(dandiset_id, version=version, glob=glob, api_url=api_url, timeout_s=timeout_s):
                jobs.append(_job(src.text, src.text, lambda s=src: s.relpath, api_url))
        elif is_remote(item):
            src = parse_source(text, api_url=dandi_api_url)
            if src.url is None and src.asset_path is None:
                raise InputError(f"{text} names no file; give an asset path or a dandiset id.")
            jobs.append(_job(text, text, lambda s=src: s.relpath, src.api_url or dandi_api_url))
        else:
            jobs.extend(_local(text, glob))
    if not jobs:
        raise InputError("No NWB files were found in the sources" + (f" matching {glob!r}" if glob else "") +
                         "; check the dandiset id, the paths or the --glob pattern.")
    if dandi_desc is not None:
        jobs = _dandi_layout(jobs, dandi_desc)
    seen: dict[str, str] = {}
    for job in jobs:
        if job.relpath is None:
            continue
        if job.relpath in seen:
            raise InputError(f"{seen[job.relpath]} and {job.asset} would both be written to {job.relpath}; "
                             "run them in separate batches with different output folders.")
        seen[job.relpath] = job.asset
    return jobs
