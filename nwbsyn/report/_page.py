"""Build the QC report of an NWB file: find nwbsyn results by type, one section each, one HTML page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from nwbsyn._shared import InputError
from nwbsyn.io.output import claim_output
from nwbsyn.report._html import Section, details_html, page_html, table_html

__all__ = ["ReportContents", "find_results", "build_report", "write_report"]


@dataclass(frozen=True)
class ReportContents:
    """The nwbsyn results of a file, grouped for the report (all found by type, not by name)."""

    events_tables: list
    score_series: list
    connectivity: list
    cleft_tables: list
    partner_tables: list
    label_volumes: list
    provenance: list

    @property
    def empty(self) -> bool:
        """No result and no record of a run (a run that found nothing leaves its ModelProvenance)."""
        return not (self.events_tables or self.score_series or self.connectivity or self.cleft_tables
                    or self.partner_tables or self.provenance)


def find_results(nwbfile) -> ReportContents:
    """Every nwbsyn result in ``nwbfile``, wherever it is stored.

    Example
    -------
    >>> from nwbsyn.testing import mock_FunctionalConnectivity
    >>> fc = mock_FunctionalConnectivity()
    >>> len(find_results(fc.get_ancestor("NWBFile")).connectivity)
    1
    """
    from nwbsyn import types

    found = {k: [] for k in ReportContents.__dataclass_fields__}
    kinds = [("events_tables", types.SynapticEventsTable), ("score_series", types.SynapticEventScoreSeries),
             ("connectivity", types.FunctionalConnectivity), ("cleft_tables", types.SynapticCleftTable),
             ("partner_tables", types.SynapticPartnerTable), ("label_volumes", types.EMLabelVolume),
             ("provenance", types.ModelProvenance)]
    for obj in sorted(nwbfile.all_children(), key=lambda o: (o.name, o.object_id)):
        for key, cls in kinds:
            if isinstance(obj, cls):
                found[key].append(obj)
    return ReportContents(**found)


def _with_model(section: Section, result) -> Section:
    """Name the model behind ``result`` at the top of its section (details are in the header)."""
    import html

    model = getattr(result, "model", None) if result is not None else None
    if model is not None:
        sha = (model.weights_sha256 or "")[:12]
        section.blocks.insert(0, f'<p class="note">Model: {html.escape(model.model_name)} '
                                 f'({html.escape(model.method)}){", sha256 " + sha + "…" if sha else ""}; '
                                 f"see <a href=\"#header\">provenance</a>.</p>")
    return section


def _provenance_blocks(models: list) -> list[str]:
    if not models:
        return ['<p class="note">No model provenance is stored in this file.</p>']
    rows, blocks = [], []
    for m in models:
        sha = m.weights_sha256 or ""
        stored = "yes" if getattr(m, "weights", None) is not None else "no"
        rows.append([m.name, m.model_name, m.method, m.nwbsyn_version,
                     sha[:16] + ("…" if len(sha) > 16 else "") if sha else "– (fitted on this file)", stored])
        try:
            params = json.dumps(json.loads(m.parameters), indent=2, sort_keys=True)
        except (TypeError, ValueError):
            params = str(m.parameters)
        text = f"architecture: {m.architecture}\nweights sha256: {sha or '-'}\n"
        if m.training_recipe:
            text += f"training recipe: {m.training_recipe}\n"
        blocks.append(details_html(f"{m.name}: parameters and full sha256", text + "parameters:\n" + params))
    table = table_html(rows, ["object", "model", "method", "nwbsyn", "weights sha256", "weights stored"])
    return ["<h3>Model provenance</h3>", table, *blocks]


def _header_blocks(nwbfile, source: str, contents: ReportContents) -> list[str]:
    subject = nwbfile.subject
    facts = [["file", source], ["identifier", nwbfile.identifier],
             ["session description", nwbfile.session_description],
             ["session start", str(nwbfile.session_start_time)]]
    if nwbfile.session_id:
        facts.append(["session id", nwbfile.session_id])
    if subject is not None:
        facts.append(["subject", ", ".join(f"{k} {getattr(subject, k)}" for k in ("subject_id", "species", "sex",
                                                                                  "age") if getattr(subject, k, None))])
    if nwbfile.lab or nwbfile.institution:
        facts.append(["lab", ", ".join(x for x in (nwbfile.lab, nwbfile.institution) if x)])
    from nwbsyn._shared.nwb import object_path

    results = [[object_path(o), o.neurodata_type] for group in (
        contents.events_tables, contents.score_series, contents.connectivity, contents.cleft_tables,
        contents.partner_tables) for o in group]
    listing = table_html(results, ["path", "type"])
    if len(results) > 8:  # e.g. one score series per sweep: keep the header short
        listing = f"<details><summary>{len(results)} objects (show)</summary>{listing}</details>"
    blocks = [table_html(facts, None), "<h3>nwbsyn results in the file</h3>", listing]
    return blocks + _provenance_blocks(contents.provenance)


def _section_ids(prefix: str, n: int) -> list[str]:
    return [prefix] if n == 1 else [f"{prefix}-{k + 1}" for k in range(n)]


def build_report(nwbfile, *, source: str = "") -> tuple[str, list[Section]]:
    """The report of an open ``NWBFile`` as HTML text, and its sections.

    Raises InputError when the file holds no nwbsyn results.
    """
    from nwbsyn import __version__
    from nwbsyn.report.connectivity import connectivity_section
    from nwbsyn.report.events import events_section
    from nwbsyn.report.partners import partners_section

    contents = find_results(nwbfile)
    if contents.empty:
        raise InputError(f"{source or 'The file'} holds no nwbsyn results (SynapticEventsTable, "
                         "FunctionalConnectivity, SynapticCleftTable or SynapticPartnerTable); run an analysis "
                         "first, e.g. 'nwbsyn events detect' or 'nwbsyn connectivity fit'.")
    sections: list[Section] = []
    # events: one section per table; score series of a run that found no events get their own section
    covered = {ref.object_id for t in contents.events_tables for ref in _traces(t)}
    orphans = [s for s in contents.score_series if s.source_series is None or s.source_series.object_id not in covered]
    groups = [(t, [s for s in contents.score_series if s.source_series is not None
                   and s.source_series.object_id in {r.object_id for r in _traces(t)}]) for t in contents.events_tables]
    if orphans:
        groups.append((None, orphans))
    for sid, (table, scores) in zip(_section_ids("events", len(groups)), groups):
        sections.append(_with_model(events_section(sid, table, scores), table))
    for sid, fc in zip(_section_ids("connectivity", len(contents.connectivity)), contents.connectivity):
        sections.append(_with_model(connectivity_section(sid, fc), fc))
    pairs = [(p.cleft.table, p) for p in contents.partner_tables]
    linked = {id(c) for c, _ in pairs}
    pairs += [(c, None) for c in contents.cleft_tables if id(c) not in linked]
    for sid, (cleft, partner) in zip(_section_ids("partners", len(pairs)), pairs):
        sections.append(_with_model(partners_section(sid, cleft, partner, contents.label_volumes), partner or cleft))
    if not sections:  # runs are recorded (provenance) but found nothing to draw
        empty = Section("nothing-found", "Results")
        names = ", ".join(m.name for m in contents.provenance)
        empty.add(f'<p class="note">The file records nwbsyn runs ({names}) but they found nothing to draw: no '
                  "events, clefts, partners or connectivity were written.</p>")
        sections.append(empty)
    title = f"nwbsyn report: {Path(source).name if source else nwbfile.identifier}"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = page_html(title, _header_blocks(nwbfile, source or nwbfile.identifier, contents), sections,
                     f"Generated by nwbsyn {__version__} on {stamp}.")
    return page, sections


def _traces(table) -> list:
    if "trace" not in table.colnames:
        return []
    seen = {}
    for ref in table["trace"].data[:]:
        seen.setdefault(ref[2].object_id, ref[2])
    return list(seen.values())


def default_report_path(source) -> Path:
    """Where ``nwbsyn report`` writes the page of ``source``: ``<stem>_report.html`` beside it.

    Example
    -------
    >>> default_report_path("data/cell1_nwbsyn.nwb").as_posix()
    'data/cell1_nwbsyn_report.html'
    """
    source = Path(source)
    return source.with_name(f"{source.stem}_report.html")


def write_report(nwbfile_or_path, *, output_path=None, overwrite: bool = True) -> Path:
    """Write a self-contained HTML QC report of the nwbsyn results in an NWB file.

    One page, no external assets: figures are embedded PNGs and the style sheet is inline,
    so the file can be mailed or archived as it is. Results are found by type wherever
    they are: synaptic events (trace with detections and scores, average event,
    distributions, frequency over time, per-recording statistics), functional connectivity
    (weight matrix, strongest connections, embeddings) and EM synaptic partners (slices
    with clefts and partners outlined, dyadic/polyadic counts), plus the session and the
    provenance of every model.

    Parameters
    ----------
    nwbfile_or_path : pynwb.NWBFile, str or Path
        An open file, or the path of one.
    output_path : str or Path, optional
        The HTML file to write; never the input file, and never an ``.nwb`` name. Default for a
        path: :func:`default_report_path` (``<stem>_report.html`` beside it).
    overwrite : bool, default: True
        Replace an existing page (False: refuse, as the CLI does without ``--overwrite``).

    Returns
    -------
    Path
        ``output_path``.

    Example
    -------
    >>> from pynwb import NWBHDF5IO
    >>> from nwbsyn.testing import mock_FunctionalConnectivity
    >>> with NWBHDF5IO("session_nwbsyn.nwb", "w") as nwb_io:
    ...     nwb_io.write(mock_FunctionalConnectivity().get_ancestor("NWBFile"))
    >>> write_report("session_nwbsyn.nwb", output_path="session_report.html")
    PosixPath('session_report.html')
    """
    source = nwbfile_or_path if isinstance(nwbfile_or_path, (str, Path)) else None
    if output_path is None:
        if source is None:
            raise InputError("write_report of an open NWBFile needs output_path (the HTML file to write); pass "
                             "output_path='report.html'.")
        output_path = default_report_path(source)
    output_path = Path(output_path)
    with claim_output(output_path, inputs=[source], overwrite=overwrite, what="report") as claim:
        if output_path.suffix.lower() in (".nwb", ".h5", ".hdf5", ".hdf"):
            raise InputError(f"The report {output_path} has an HDF5/NWB name; give it an .html name.")
        if source is not None:
            from nwbsyn.io import open_nwb

            with open_nwb(source) as nwbfile:
                page, _ = build_report(nwbfile, source=str(source))
        else:
            page, _ = build_report(nwbfile_or_path)
        claim.write_bytes(page.encode("utf-8"))
    return output_path
