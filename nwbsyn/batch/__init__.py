"""Run one analysis over many NWB files or whole dandisets, on Dask (``nwbsyn batch``).

Each asset is an isolated task: it streams its input, runs the analysis, writes a complete
NWB file (atomically) to ``out_dir`` under a DANDI path, validates it and returns a summary
row. DANDI assets keep their own paths; local files are named from their Subject and session,
``sub-<subject>/sub-<subject>_ses-<session>_desc-<analysis>.nwb`` (a file without a subject_id
is refused before any work). Model weights are referenced (sha256 + origin), not embedded,
unless ``embed_weights=True`` is passed. A failure is recorded as one sentence and the other assets go on; transient
network errors are retried; assets whose output already holds nwbsyn results are skipped, so
an interrupted batch resumes where it stopped. ``out_dir`` gets a ``dandiset.yaml`` (so that
``dandi validate`` and ``dandi upload`` accept it as a derived dataset) and the summary table
``nwbsyn_batch_summary.csv`` / ``.parquet``.

Dask: a ``LocalCluster`` (processes, one thread each) by default; pass ``scheduler`` (an address
such as ``tcp://10.0.0.5:8786`` or a ``distributed.Client``) to use an existing cluster; its
workers need nwbsyn installed with the ``dandi`` extra. ``scheduler="inline"`` runs the tasks
one by one in this process, without Dask (for debugging).

Everything that can be checked is checked before any task starts: the options, a scheduler
address (its syntax, then a Dask handshake within seconds), the sources and ``out_dir`` (a folder,
not inside a source folder, no output over an input). The summary files are written through
:func:`nwbsyn.io.output.claim_output`, so a second batch into the same folder is refused.

Example
-------
A dandiset served on 127.0.0.1 (:class:`nwbsyn.testing.servers.FakeDandiArchive`) stands in for
the DANDI archive; ``scheduler="inline"`` runs the one asset here, without starting Dask workers:

>>> import os, tempfile
>>> from nwbsyn import batch
>>> from nwbsyn.testing import mock_icephys_nwbfile
>>> from nwbsyn.testing.servers import FakeDandiArchive
>>> folder = tempfile.mkdtemp()
>>> with FakeDandiArchive(os.path.join(folder, "archive")) as archive:
...     _ = archive.add_asset("000123", "sub-1/sub-1_ses-1_icephys.nwb",
...                           mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5))
...     summary = batch.run(["DANDI:000123"], analysis="events", out_dir=os.path.join(folder, "results"),
...                         scheduler="inline", progress_bar=False, validate=False, dandi_api_url=archive.api_url)
>>> summary[["asset", "output", "status"]].values.tolist()
[['DANDI:000123/sub-1/sub-1_ses-1_icephys.nwb...', 'sub-1/sub-1_ses-1_icephys.nwb', 'ok']]
>>> int(summary["n_events"][0]) > 0
True
"""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack
from pathlib import Path

from nwbsyn._shared import InputError, require
from nwbsyn.batch._checks import check_out_dir, check_outputs_are_not_inputs, check_run_options, check_sources
from nwbsyn.batch._sources import Job, collect_jobs
from nwbsyn.batch._task import ANALYSES, COLUMNS, check_options, pick_analyses, process, process_task
from nwbsyn.io.output import TMP_MARK, claim_output

__all__ = ["run", "collect_jobs", "pick_analyses", "ANALYSES", "COLUMNS", "SUMMARY_NAME", "Job"]

SUMMARY_NAME = "nwbsyn_batch_summary"
_STATS = [c for c in COLUMNS if c not in ("asset", "output", "status", "error", "attempts", "seconds")]


def run(sources, *, analysis: str = "events", out_dir, glob: str | None = None, n_workers: int | None = None,
        scheduler=None, retries: int = 2, progress_bar: bool = True, overwrite: bool = False,
        validate: bool = True, dandi_api_url: str | None = None, **analysis_options):
    """Analyse every NWB file or asset in ``sources``; return the summary as a pandas DataFrame.

    Parameters
    ----------
    sources : str, Path or list of them
        Dandisets (``000123``, ``DANDI:000123[@version]``, ``dandi://DANDI/000123``), DANDI assets,
        ``https://`` URLs, local ``.nwb`` files or folders of them.
    analysis : {"events", "connectivity", "partners", "auto"}
        ``"auto"`` picks per file: events for patch clamp, connectivity for Units/ROIs, partners
        for EM volumes.
    out_dir : str or Path
        Outputs go here in DANDI layout (DANDI assets: their own paths; local files:
        ``sub-<subject>/sub-<subject>_ses-<session>_desc-<analysis>.nwb``).
    glob : str, optional
        Only assets whose path matches (e.g. ``"sub-*/*icephys*.nwb"``).
    n_workers : int, optional
        Workers of the LocalCluster (default: one per CPU core, at most one per asset).
    scheduler : str or distributed.Client, optional
        An existing Dask scheduler (``tcp://HOST:PORT``) or client, or ``"inline"``.
    retries : int, default: 2
        Extra attempts per asset after transient network errors (0 to 10; the wait doubles each time).
    overwrite : bool, default: False
        Re-run assets whose output exists (default: skip them: resume).
    validate : bool, default: True
        Check each output with pynwb and nwbinspector (``valid`` column; status ``invalid``).
    dandi_api_url : str, optional
        DANDI API (default ``NWBSYN_DANDI_API_URL`` or the DANDI archive).
    **analysis_options
        Passed to the analysis' ``run_on_nwbfile`` (e.g. ``threshold=0.6``, ``max_epochs=50``). With
        ``analysis="auto"``, give them per analysis: ``events={"threshold": 0.6}``,
        ``connectivity={"max_epochs": 50}`` (flat options then go to the analyses that list them in
        their ``RUN_OPTIONS``). Every analysis is called the same way: ``run_on_nwbfile(nwbfile,
        progress_bar=False, embed_weights=False, **options)`` (see :mod:`nwbsyn._shared.run`).

    Returns
    -------
    pandas.DataFrame
        One row per asset: ``asset, output, analysis, status`` (ok, skipped, invalid, failed),
        ``error``, key statistics (``n_events, mean_amplitude, frequency_hz`` for events,
        ``n_neurons, forecast_r`` for connectivity, ``n_clefts, n_edges`` for partners),
        ``valid, attempts, seconds``.

    Example
    -------
    Local files, run one by one in this process (``scheduler="inline"``; by default a Dask
    LocalCluster with ``n_workers`` processes runs them):

    >>> import os, tempfile
    >>> from nwbsyn.io.nwb import write_new_nwb
    >>> from nwbsyn.testing import mock_icephys_nwbfile
    >>> folder = tempfile.mkdtemp()
    >>> source = write_new_nwb(mock_icephys_nwbfile(n_sweeps=1, duration_s=0.5), os.path.join(folder, "cell.nwb"))
    >>> summary = run([source], analysis="events", out_dir=os.path.join(folder, "out"), scheduler="inline",
    ...               progress_bar=False, validate=False)
    >>> summary.loc[0, "output"], summary.loc[0, "status"]      # named from the file's Subject and session
    ('sub-mouse-1/sub-mouse-1_ses-session-0_desc-events.nwb', 'ok')
    >>> sorted(os.listdir(os.path.join(folder, "out")))
    ['dandiset.yaml', 'nwbsyn_batch_summary.csv', ...'sub-mouse-1']
    """
    if analysis not in (*ANALYSES, "auto"):
        raise InputError(f"analysis must be one of {', '.join((*ANALYSES, 'auto'))}; got {analysis!r}.")
    check_run_options(retries=retries, n_workers=n_workers, scheduler=scheduler, dandi_api_url=dandi_api_url)
    check_options(analysis, analysis_options)
    if not str(out_dir).strip():
        raise InputError("--out is empty; give the folder for the results.")
    out_dir = Path(out_dir)
    check_out_dir(out_dir, sources)
    check_sources(sources)
    pandas = require("pandas")
    if scheduler != "inline":
        require("distributed")
    jobs = collect_jobs(sources, glob=glob, dandi_api_url=dandi_api_url,
                        dandi_desc="nwbsyn" if analysis == "auto" else analysis)
    check_outputs_are_not_inputs(jobs, out_dir)
    out_dir = _prepare_out_dir(out_dir)
    task = dict(out_dir=str(out_dir.resolve()), analysis=analysis, options=analysis_options, overwrite=overwrite,
                retries=retries, validate=validate)
    with ExitStack() as stack:
        claims = {name: stack.enter_context(claim_output(out_dir / name, overwrite=True, what="batch summary"))
                  for name in (f"{SUMMARY_NAME}.csv", f"{SUMMARY_NAME}.parquet", "dandiset.yaml")}
        try:
            rows = _execute(jobs, task, n_workers=n_workers, scheduler=scheduler, progress_bar=progress_bar)
        finally:
            _remove_stale_temporaries(out_dir)  # left by workers that were killed while writing
        frame = _summary(pandas, rows, out_dir)
        _write_summary(frame, claims)
        _write_dandiset_yaml(claims["dandiset.yaml"], analysis, sources)
    return frame


def _prepare_out_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f"{TMP_MARK}probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"Cannot write to the output folder {out_dir} ({err.strerror or err}); "
                         "choose a writable --out folder.") from err
    return out_dir


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete temporary files under ``out_dir`` whose target no nwbsyn process is writing now."""
    for tmp in out_dir.rglob(f".*{TMP_MARK}*"):
        name = tmp.name
        if not tmp.is_file():
            continue
        if name.startswith(TMP_MARK):  # a folder probe: removed once it is clearly not a running check's
            if _age_s(tmp) > 60:
                tmp.unlink(missing_ok=True)
            continue
        target = tmp.with_name(name[1:name.index(TMP_MARK)])
        try:
            with claim_output(target, in_place=True, what="output"):
                pass  # nobody holds its lock: the writer is gone
        except InputError as err:
            if "Another nwbsyn process" in str(err):
                continue  # still being written (another run into the same folder)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _age_s(path: Path) -> float:
    import time

    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _crashed(job: Job, err: BaseException) -> dict:
    text = str(err).splitlines()[0][:300] if str(err) else ""
    if type(err).__name__ == "KilledWorker":
        text = "the workers running it died repeatedly (out of memory?); run it alone to see why"
    return {"asset": job.asset, "output": job.relpath, "status": "failed",
            "error": f"{type(err).__name__}: {text}", "attempts": 0}


def _execute(jobs: list[Job], task: dict, *, n_workers, scheduler, progress_bar: bool) -> list[dict]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="nwbsyn batch", unit="file", disable=not progress_bar)
    rows: dict[int, dict] = {}

    def done(index: int, row: dict) -> None:
        rows[index] = row
        bar.update()
        bar.set_postfix(failed=sum(r["status"] == "failed" for r in rows.values()), refresh=False)

    try:
        if scheduler == "inline":
            for index, job in enumerate(jobs):
                done(index, process(job, **task))
        else:
            _run_on_dask(jobs, task, n_workers, scheduler, done)
    finally:
        bar.close()
    return [rows[i] for i in sorted(rows)]


def _run_on_dask(jobs, task, n_workers, scheduler, done) -> None:
    distributed = require("distributed")
    cluster = client = None
    if isinstance(scheduler, distributed.Client):
        client = scheduler
    elif scheduler is None:
        for name in ("distributed", "tornado"):  # our own cluster: its chatter is not the user's business
            logging.getLogger(name).setLevel(logging.WARNING)
        n = min(n_workers or os.cpu_count() or 1, len(jobs))
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
    else:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as err:
            raise InputError(f"Could not connect to the Dask scheduler at {scheduler}; check the address and "
                             "that the scheduler is running.") from err
    try:
        # the task options go in one dict: submit() has keywords of its own (retries, key, ...)
        futures = {client.submit(process_task, job, task, key=f"nwbsyn-batch-{i}-{os.getpid()}-{id(jobs)}",
                                 pure=False): i for i, job in enumerate(jobs)}
        for future in distributed.as_completed(futures):
            index = futures[future]
            try:
                row = future.result()
            except Exception as err:  # the task itself died (worker killed too often, lost scheduler)
                row = _crashed(jobs[index], err)
            done(index, row)
    finally:
        if client is not scheduler:
            client.close()
        if cluster is not None:
            cluster.close()


def _summary(pandas, rows: list[dict], out_dir: Path):
    previous = out_dir / f"{SUMMARY_NAME}.csv"
    if previous.exists() and any(r["status"] == "skipped" for r in rows):  # resumed: keep the done assets' stats
        try:
            old = {r["output"]: r for r in pandas.read_csv(previous).to_dict("records")}
        except Exception:  # an unreadable old summary only costs the old statistics
            old = {}
        for row in rows:
            before = old.get(row["output"]) if row["status"] == "skipped" else None
            if before is not None and before.get("status") in ("ok", "invalid"):
                row.update({c: before[c] for c in _STATS if c in before})
    return pandas.DataFrame(rows).reindex(columns=COLUMNS)


def _write_summary(frame, claims: dict) -> None:
    writers = {".csv": lambda p: frame.to_csv(p, index=False),
               ".parquet": lambda p: frame.astype({"valid": "object"}).to_parquet(p, index=False)}
    for suffix, write in writers.items():
        with claims[f"{SUMMARY_NAME}{suffix}"].temporary(suffix=suffix) as tmp:
            write(tmp)


def _write_dandiset_yaml(claim, analysis: str, sources) -> None:
    if claim.target.exists():
        return
    sources = [sources] if isinstance(sources, (str, Path)) else list(sources)
    listed = ", ".join(str(s) for s in sources[:5]) + (", ..." if len(sources) > 5 else "")
    with claim.temporary(suffix=".yaml") as tmp:
        tmp.write_text(
            "# Written by 'nwbsyn batch': outputs that mirror the input asset paths, each a complete NWB file\n"
            "# with nwbsyn results added. Fill in the metadata before 'dandi upload' to a new dandiset.\n"
            f"name: {_yaml_str(f'nwbsyn {analysis} results')}\n"
            f"description: {_yaml_str(f'Derived data: nwbsyn {analysis} analysis of {listed}.')}\n"
        )


def _yaml_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
