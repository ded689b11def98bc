"""The committed YAML is exactly what spec/create_extension_spec.py writes, and it is a valid spec.

The ndx-nwbsyn distribution has its own, fuller tests in spec/tests; these check nwbsyn's side.
"""

import importlib.util
from pathlib import Path

import jsonschema
import pynwb
import pytest
import yaml
from hdmf.testing.validate_spec import validate_spec

SPEC = Path(__file__).resolve().parents[2] / "spec"
METASCHEMA = Path(pynwb.__file__).parent / "nwb-schema" / "nwb.schema.json"
YAML_FILES = [SPEC / "ndx-nwbsyn.namespace.yaml", SPEC / "ndx-nwbsyn.extensions.yaml"]  # (not ndx-meta.yaml)


def _generator():
    spec = importlib.util.spec_from_file_location("create_extension_spec", SPEC / "create_extension_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["ndx-nwbsyn.namespace.yaml", "ndx-nwbsyn.extensions.yaml"])
def test_committed_yaml_matches_generator(tmp_path, name):
    _generator().main(output_dir=tmp_path)
    assert (tmp_path / name).read_text() == (SPEC / name).read_text(), (
        f"spec/{name} is out of date: run python spec/create_extension_spec.py and commit the result"
    )


def test_spec_passes_metaschema():
    for path in YAML_FILES:
        validate_spec(str(path), str(METASCHEMA))  # raises on an invalid spec


def test_metaschema_rejects_a_broken_spec(tmp_path):
    broken = yaml.safe_load((SPEC / "ndx-nwbsyn.extensions.yaml").read_text())
    broken["groups"][0]["quantity"] = "many"
    path = tmp_path / "broken.extensions.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(jsonschema.ValidationError):
        validate_spec(str(path), str(METASCHEMA))


def test_every_type_has_a_class_and_a_mock():
    import nwbsyn
    from nwbsyn.testing import MOCK_TYPE_BUILDERS

    defined = {t.get("neurodata_type_def") for kind in ("groups", "datasets")
               for t in yaml.safe_load((SPEC / "ndx-nwbsyn.extensions.yaml").read_text()).get(kind, [])}
    assert defined - {"QuantityVectorData"} == set(MOCK_TYPE_BUILDERS)
    assert all(hasattr(nwbsyn, name) for name in defined)


def test_wheel_mapping_names_the_yaml_files():
    text = (SPEC.parent / "pyproject.toml").read_text()
    for path in YAML_FILES:
        assert f'"spec/{path.name}" = "nwbsyn/spec/{path.name}"' in text


def test_nwbsyn_uses_the_ndx_nwbsyn_classes():
    import ndx_nwbsyn

    import nwbsyn

    assert nwbsyn.SynapticEventsTable is ndx_nwbsyn.SynapticEventsTable
    assert "ndx-nwbsyn>=0.2,<0.3" in (SPEC.parent / "pyproject.toml").read_text()
    assert ndx_nwbsyn.__version__.startswith("0.2.")
