"""What every analysis' ``run_on_nwbfile`` returns, and the run options they all share.

The three analyses (:mod:`nwbsyn.events`, :mod:`nwbsyn.partners`, :mod:`nwbsyn.connectivity`)
have the same three functions in their ``nwb.py``, with the same contract:

``load_inputs(nwbfile, ...) -> list``
    The inputs found in the file, always a list (one :class:`~nwbsyn.events.TraceInput` per
    trace; one :class:`~nwbsyn.partners.PartnerInput` or :class:`~nwbsyn.connectivity.ActivityInput`).
``add_results(nwbfile, inputs, results, *, provenance, module=None, overwrite=False)``
    Writes one result per input into ``processing[module]`` (None: the analysis' own module:
    ``icephys``, ``misc``, ``ecephys``/``ophys``). ``provenance`` holds the keyword arguments of
    :func:`nwbsyn._shared.provenance.model_provenance` except ``name`` (partners: one such dict
    per network that ran, under ``"cleft"`` and ``"association"``). Earlier results are refused
    unless ``overwrite``.
``run_on_nwbfile(nwbfile, **options) -> RunResult``
    Load, analyse, add; returns a :class:`RunResult`.

Run options shared by every ``run_on_nwbfile`` (:data:`SHARED_RUN_OPTIONS`):

``device="auto"``
    Torch device; ``"auto"`` is the GPU when one is visible, else the CPU
    (:func:`nwbsyn._shared.pick_device`).
``progress_bar=True``
    tqdm bars on long work; ``False`` for none (batch tasks run without).
``overwrite=False``
    Replace earlier nwbsyn results of the same analysis in the file.
``module=None``
    The processing module the results go to (None: the analysis' own).
``embed_weights``
    Also store the weights bytes in the file (events: True by default, partners: False;
    connectivity fits its model on the file, so there is nothing to embed).

Each analysis lists every option its ``run_on_nwbfile`` takes in ``RUN_OPTIONS`` (in its
``nwb.py``), so that :mod:`nwbsyn.batch` checks and passes options without inspecting signatures.

Example
-------
>>> run = RunResult(inputs=["sweep_0"], results=[[0.1, 0.4]], analysis="example",
...                 stats={"n_inputs": 1})
>>> len(run), run[0]
(1, ('sweep_0', [0.1, 0.4]))
>>> [inp for inp, _ in run]
['sweep_0']
>>> run.summary()
'example: 1 input(s); n_inputs 1'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["RunResult", "SHARED_RUN_OPTIONS"]

#: Options every analysis' ``run_on_nwbfile`` takes, with the same meaning and name.
SHARED_RUN_OPTIONS = ("device", "progress_bar", "overwrite", "module", "embed_weights")


@dataclass(frozen=True)
class RunResult:
    """The inputs an analysis read, its result for each, and a few summary numbers.

    Iterating gives ``(input, result)`` pairs, ``run[i]`` the i-th pair and ``len(run)`` the
    number of inputs, so ``for inp, res in run`` and ``inp, res = run[0]`` work for every analysis.

    Attributes
    ----------
    inputs : list
        What ``load_inputs`` returned (one item per analysed input).
    results : list
        One result per input (``EventDetectionResult``, ``PartnerResult``, ``ConnectivityResult``).
    analysis : str
        ``"events"``, ``"partners"`` or ``"connectivity"``.
    stats : dict
        Summary values by name (numbers named as the columns of :mod:`nwbsyn.batch`'s summary
        table, and the choices a summary names, such as partners' ``clefts``).
    """

    inputs: list
    results: list
    analysis: str
    stats: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.inputs) != len(self.results):
            raise ValueError(f"A RunResult needs one result per input; got {len(self.inputs)} inputs and "
                             f"{len(self.results)} results.")

    def __iter__(self):
        return iter(zip(self.inputs, self.results))

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index):
        pairs = list(zip(self.inputs, self.results))
        return pairs[index]

    def summary(self, *, where=None) -> str:
        """A few lines for people: what was analysed and found (``where``: the output file, named in them)."""
        try:
            module = importlib.import_module(f"nwbsyn.{self.analysis}.nwb")
        except ImportError:
            module = None
        describe = getattr(module, "summarize", None)
        if describe is not None:
            return describe(self, where=where)
        numbers = "; " + ", ".join(f"{k} {v}" for k, v in self.stats.items()) if self.stats else ""
        target = f" -> {where}" if where is not None else ""
        return f"{self.analysis}: {len(self)} input(s){target}{numbers}"
