"""One batch task: analyse one asset into its output file and return its summary row.

Runs on a Dask worker (or in-process). Never raises: every failure becomes a one-sentence
``error`` in the row. Transient network failures are retried; an existing valid output is
skipped (resume); outputs are written atomically by :func:`nwbsyn.io.edit_nwb`.
"""

from __future__ import annotations

import time
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["ANALYSES", "COLUMNS", "process", "process_task", "has_results", "pick_analyses", "check_options",
           "options_for", "run_analysis", "run_options"]

ANALYSES = ("events", "connectivity", "partners")
# the summary's columns, in order; statistics that do not apply stay empty (NaN)
COLUMNS = ["asset", "output", "analysis", "status", "error", "n_inputs", "n_events", "mean_amplitude",
           "amplitude_unit", "frequency_hz", "n_neurons", "forecast_r", "n_clefts", "n_edges", "valid",
           "attempts", "seconds"]


def runner_function(name: str):
    """The ``run_on_nwbfile`` of analysis ``name``."""
    import importlib

    return importlib.import_module(f"nwbsyn.{name}").run_on_nwbfile


def run_options(name: str) -> frozenset:
    """Every option the ``run_on_nwbfile`` of analysis ``name`` takes (its ``RUN_OPTIONS``)."""
    import importlib

    return importlib.import_module(f"nwbsyn.{name}.nwb").RUN_OPTIONS


def _split(options: dict) -> tuple[dict, dict]:
    """(options for every analysis that takes them, {analysis: its own options})."""
    nested = {k: v for k, v in options.items() if k in ANALYSES and isinstance(v, dict)}
    return {k: v for k, v in options.items() if k not in nested}, nested


def check_options(analysis: str, options: dict) -> None:
    """Refuse options that the chosen analysis does not take (before any task starts)."""
    flat, nested = _split(options)
    for name in ANALYSES if analysis == "auto" else (analysis,):
        known = run_options(name)
        unknown = set(nested.get(name, {})) - known
        if analysis != "auto":
            unknown |= set(flat) - known
        if unknown:
            raise InputError(f"The {name} analysis has no option {', '.join(sorted(unknown))}; see "
                             f"help(nwbsyn.{name}.run_on_nwbfile).")


def options_for(name: str, options: dict) -> dict:
    """The keyword arguments batch passes to ``run_on_nwbfile`` of ``name``, the same way for every analysis.

    ``options[name]`` (a dict) goes to that analysis only; other options go to every analysis that
    takes them (:func:`run_options`). Batch outputs reference the weights (sha256 + origin) unless
    ``embed_weights=True`` is given, and no task shows a progress bar.
    """
    flat, nested = _split(options)
    known = run_options(name)
    chosen = {k: v for k, v in flat.items() if k in known}
    chosen.update(nested.get(name, {}))
    return {"embed_weights": False, **chosen, "progress_bar": False}


def run_analysis(name: str, nwbfile, options: dict) -> dict:
    """Run analysis ``name`` on ``nwbfile`` with ``options``; its summary numbers (``RunResult.stats``)."""
    run = runner_function(name)(nwbfile, **options_for(name, options))
    return {k: v for k, v in run.stats.items() if k in COLUMNS}


def pick_analyses(nwbfile) -> list[str]:
    """What ``analysis="auto"`` runs: events for patch clamp, connectivity for Units/ROIs, partners for EM.

    1-D TimeSeries that are not patch clamp get event detection only when nothing else applies.
    """
    from nwbsyn._shared.nwb import list_analysable

    kinds = {item.kind for item in list_analysable(nwbfile)}
    chosen = [name for name, wanted in (("events", {"patch_clamp"}), ("connectivity", {"units", "roi_response"}),
                                        ("partners", {"em_volume"})) if kinds & wanted]
    if not chosen and "trace" in kinds:
        chosen = ["events"]
    if not chosen:
        raise InputError("The file holds nothing nwbsyn can analyse (no patch clamp, Units, ROI responses or EM "
                         "volumes); check it with 'nwbsyn info'.")
    return chosen


def has_results(path: Path) -> bool:
    """True when ``path`` is a readable NWB file that already holds nwbsyn results (resume)."""
    from nwbsyn.io import list_results, open_nwb

    try:
        with open_nwb(path) as nwbfile:
            return bool(list_results(nwbfile))
    except InputError:
        return False


def _analyse(job, dest: Path, analysis: str, options: dict, overwrite: bool, validate: bool) -> dict:
    from nwbsyn.io import edit_nwb

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"Could not create the output folder {dest.parent} ({err.strerror or err}); "
                         "choose a writable output location.") from err
    row: dict = {}
    with edit_nwb(job.source, output=dest, overwrite=overwrite, dandi_api_url=job.api_url) as nwbfile:
        names = pick_analyses(nwbfile) if analysis == "auto" else [analysis]
        for name in names:
            row.update(run_analysis(name, nwbfile, options))
        row["analysis"] = "+".join(names)
    if validate:
        from nwbsyn.io.validate import validate_nwb

        report = validate_nwb(dest)
        row["valid"] = bool(report.ok)
        if not report.ok:
            problem = (report.schema_errors or [f"{m['check']}: {m['message']}" for m in report.failures])[0]
            row["error"] = f"The output does not pass validation ({problem[:200]}); check it with 'nwbsyn validate'."
    return row


def _limit_threads() -> None:
    """One torch thread per task on Dask workers (workers are the parallelism)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return
    import torch

    torch.set_num_threads(1)


def process(job, *, out_dir, analysis: str, options: dict, overwrite: bool = False, retries: int = 2,
            validate: bool = True, backoff_s: float = 1.0) -> dict:
    """Analyse ``job`` into ``out_dir / job.relpath``; return its summary row (never raises)."""
    from nwbsyn.io.remote import RemoteError

    start = time.perf_counter()
    row = {"asset": job.asset, "output": job.relpath, "analysis": analysis, "status": "failed", "error": None,
           "attempts": 0}
    if job.problem is not None:
        row["error"] = job.problem
    else:
        dest = Path(out_dir) / job.relpath
        if dest.exists() and not overwrite and has_results(dest):
            row.update(status="skipped", error=None)
        else:
            row.update(_attempts(job, dest, analysis, options, overwrite, validate, retries,
                                 backoff_s, RemoteError))
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def process_task(job, task: dict) -> dict:
    """``process(job, **task)``: the function submitted to Dask."""
    return process(job, **task)


def _attempts(job, dest, analysis, options, overwrite, validate, retries, backoff_s, RemoteError) -> dict:
    _limit_threads()
    created = [p for p in dest.parents if not p.exists()]  # deepest first: removed again if the asset fails
    row = _attempt_loop(job, dest, analysis, options, overwrite, validate, retries, backoff_s, RemoteError)
    if row.get("status") is None:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break
    return row


def _attempt_loop(job, dest, analysis, options, overwrite, validate, retries, backoff_s, RemoteError) -> dict:
    for attempt in range(1, retries + 2):
        try:
            out = _analyse(job, dest, analysis, options, overwrite, validate)
            return dict(out, status="ok" if out.get("valid", True) else "invalid", attempts=attempt)
        except RemoteError as err:
            if err.transient and attempt <= retries:
                time.sleep(backoff_s * 2 ** (attempt - 1))
                continue
            return {"error": str(err), "attempts": attempt}
        except InputError as err:
            return {"error": str(err), "attempts": attempt}
        except Exception as err:  # a bug or an unexpected file: one line, the rest of the batch goes on
            text = str(err).splitlines()[0][:300] if str(err) else ""
            return {"error": f"{type(err).__name__}: {text}", "attempts": attempt}
    raise AssertionError("unreachable")  # pragma: no cover
