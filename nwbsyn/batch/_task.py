"""One batch task: analyse one asset into its output file and return its summary row.

Runs on a Dask worker (or in-process). Never raises: every failure becomes a one-sentence
``error`` in the row. Transient network failures are retried; an existing valid output is
skipped (resume); outputs are written atomically by :func:`nwbsyn.io.edit_nwb`.
"""

from __future__ import annotations

import inspect
import math
import time
from pathlib import Path

from nwbsyn._shared import InputError

__all__ = ["ANALYSES", "COLUMNS", "process", "process_task", "has_results", "pick_analyses", "check_options"]

ANALYSES = ("events", "connectivity", "partners")
# the summary's columns, in order; statistics that do not apply stay empty (NaN)
COLUMNS = ["asset", "output", "analysis", "status", "error", "n_inputs", "n_events", "mean_amplitude",
           "amplitude_unit", "frequency_hz", "n_neurons", "forecast_r", "n_clefts", "n_edges", "valid",
           "attempts", "seconds"]


def runner_function(name: str):
    """The ``run_on_nwbfile`` of analysis ``name``."""
    import importlib

    return importlib.import_module(f"nwbsyn.{name}").run_on_nwbfile


def check_options(analysis: str, options: dict) -> None:
    """Refuse options that the chosen analysis does not take (before any task starts)."""
    per_analysis = {k for k, v in options.items() if k in ANALYSES and isinstance(v, dict)}
    flat = set(options) - per_analysis
    names = ANALYSES if analysis == "auto" else (analysis,)
    for name in names:
        try:
            params = inspect.signature(runner_function(name)).parameters
        except (ImportError, AttributeError):
            continue
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            continue
        unknown = (set(options.get(name, {})) if name in per_analysis else set()) | (
            flat - set(params) if analysis != "auto" else set())
        if unknown:
            raise InputError(f"The {name} analysis has no option {', '.join(sorted(unknown))}; see "
                             f"help(nwbsyn.{name}.run_on_nwbfile).")


def _call(name: str, nwbfile, options: dict, single: bool):
    """Call ``run_on_nwbfile(nwbfile, progress_bar=False, ...)`` of ``name`` with the options meant for it.

    ``options[name]`` (a dict) goes to that analysis only; other options go to every analysis
    that names them (and, when only one analysis runs, to one that takes ``**kwargs``).
    """
    func = runner_function(name)
    params = inspect.signature(func).parameters
    flat = {k: v for k, v in options.items() if not (k in ANALYSES and isinstance(v, dict))}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    accepted = {k: v for k, v in flat.items() if k in params or (single and takes_any)}
    accepted.update(options.get(name, {}) if isinstance(options.get(name), dict) else {})
    accepted.pop("progress_bar", None)
    if "embed_weights" in params:  # batch outputs reference the weights (sha256 + origin) unless asked to embed
        accepted.setdefault("embed_weights", False)
    return func(nwbfile, progress_bar=False, **accepted)


def _events(nwbfile, options: dict, single: bool) -> dict:
    pairs = _call("events", nwbfile, options, single)
    n_events = sum(len(result) for _, result in pairs)
    duration_s = sum(result.statistics.duration_s for _, result in pairs)
    amplitudes = [(len(r), r.statistics.summary()["mean_amplitude_pA"]) for _, r in pairs if len(r)]
    mean_amplitude = sum(n * a for n, a in amplitudes) / n_events if n_events else math.nan
    units = sorted({inp.unit for inp, _ in pairs})
    return {"n_inputs": len(pairs), "n_events": n_events, "mean_amplitude": mean_amplitude,
            "amplitude_unit": "/".join(units), "frequency_hz": n_events / duration_s if duration_s else math.nan}


def _connectivity(nwbfile, options: dict, single: bool) -> dict:
    inp, result = _call("connectivity", nwbfile, options, single)
    r = result.metrics.get("forecast_correlation", math.nan)
    return {"n_inputs": 1, "n_neurons": int(inp.activity.shape[1]), "forecast_r": float(r)}


def _partners(nwbfile, options: dict, single: bool) -> dict:
    import numpy as np

    _, result = _call("partners", nwbfile, options, single)
    edges = np.asarray(result.edges()).reshape(-1, 3)
    n_clefts = len(result) if hasattr(result, "__len__") else len(np.unique(edges[:, 0]))
    return {"n_inputs": 1, "n_clefts": int(n_clefts), "n_edges": int(len(edges))}


_RUNNERS = {"events": _events, "connectivity": _connectivity, "partners": _partners}


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
            row.update(_RUNNERS[name](nwbfile, options, analysis != "auto"))
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
