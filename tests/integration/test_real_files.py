"""Appending nwbsyn results to real NWB files in ../shared/data/nwb works and validates."""

import numpy as np
import pytest

from nwbsyn._shared.nwb import get_or_create_module, make_provenance
from nwbsyn.io import edit_nwb, list_analysable, open_nwb
from nwbsyn.io.validate import validate_nwb

from conftest import SHARED

REAL = sorted((SHARED / "data" / "nwb").glob("*.nwb"))


def _neuron_table(nwbfile):
    from pynwb.ophys import PlaneSegmentation

    if nwbfile.units is not None:
        return nwbfile.units
    return next(o for o in nwbfile.objects.values() if isinstance(o, PlaneSegmentation))


def _connectivity_over(table, model):
    from hdmf.common import DynamicTableRegion

    from nwbsyn.types import FunctionalConnectivity

    n = len(table)
    region = lambda name: DynamicTableRegion(name=name, data=list(range(n)), table=table,  # noqa: E731
                                             description=f"{name} neurons")
    return FunctionalConnectivity(name="functional_connectivity", description="test", method="test",
                                  weights=np.eye(n), presynaptic=region("presynaptic"),
                                  postsynaptic=region("postsynaptic"), model=model)


def _failing_checks(report):
    return {(m["check"], m["location"]) for m in report.failures}


@pytest.mark.skipif(not REAL, reason=f"no real NWB files: {SHARED / 'data' / 'nwb'} is absent")
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name)
def test_append_results_to_real_file(tmp_path, path):
    with open_nwb(path) as nwbfile:
        kinds = {item.kind for item in list_analysable(nwbfile)}
    assert kinds & {"units", "roi_response", "trace"}, f"nothing analysable found in {path.name}"
    output = tmp_path / path.name
    with edit_nwb(path, output=output) as nwbfile:
        module = get_or_create_module(nwbfile, "misc")
        model = make_provenance(name="nwbsyn_model", model_name="test", architecture="none", method="test",
                                parameters={"source": path.name})
        module.add(model)
        module.add(_connectivity_over(_neuron_table(nwbfile), model))
    with open_nwb(output) as nwbfile:
        connectivity = nwbfile.processing["misc"]["functional_connectivity"]
        assert connectivity.model.parameters == f'{{"source": "{path.name}"}}'
        assert len(connectivity.presynaptic.data) == len(connectivity.presynaptic.table)
    before, after = validate_nwb(path), validate_nwb(output)
    assert not after.schema_errors, after.format()
    # our additions must not introduce any best-practice violation the input did not already have
    assert _failing_checks(after) <= _failing_checks(before), after.format()
