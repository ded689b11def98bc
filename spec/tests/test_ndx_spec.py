"""The committed YAML is what create_extension_spec.py writes, it is a valid spec, and it is the one version source."""

import importlib.util
import re
from pathlib import Path

import pynwb
import pytest
from hdmf.testing.validate_spec import validate_spec
from ruamel.yaml import YAML

from ndx_helpers import SPEC

METASCHEMA = Path(pynwb.__file__).parent / "nwb-schema" / "nwb.schema.json"
YAML_FILES = ["ndx-nwbsyn.namespace.yaml", "ndx-nwbsyn.extensions.yaml"]


def _generator():
    spec = importlib.util.spec_from_file_location("create_extension_spec", SPEC / "create_extension_spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", YAML_FILES)
def test_committed_yaml_matches_generator(tmp_path, name):
    _generator().main(output_dir=tmp_path)
    assert (tmp_path / name).read_text() == (SPEC / name).read_text(), (
        f"spec/{name} is out of date: run python spec/create_extension_spec.py and commit the result")


def test_spec_passes_metaschema():
    for name in YAML_FILES:
        validate_spec(str(SPEC / name), str(METASCHEMA))


def test_one_version_source():
    import ndx_nwbsyn

    namespace = YAML(typ="safe").load((SPEC / "ndx-nwbsyn.namespace.yaml").read_text())["namespaces"][0]
    assert namespace["version"] == _generator().VERSION == ndx_nwbsyn.__version__ == ndx_nwbsyn.SCHEMA_VERSION
    pyproject = (SPEC / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'path = "ndx-nwbsyn.namespace.yaml"' in pyproject
    pattern = re.search(r'pattern = "(.*)"', pyproject).group(1).encode().decode("unicode_escape")
    assert re.search(pattern, (SPEC / "ndx-nwbsyn.namespace.yaml").read_text()).group("version") == namespace["version"]


def test_no_unit_in_a_name():
    """Schema 0.2: SI values, units in 'unit' attributes, never in names."""
    text = (SPEC / "ndx-nwbsyn.extensions.yaml").read_text()
    assert not re.findall(r"name: \w+_(nm|ms|s|hz|pA|um)\b", text)


def test_every_type_has_a_class_and_a_mock():
    import ndx_nwbsyn
    from ndx_nwbsyn.testing.mock import MOCKS

    extensions = YAML(typ="safe").load((SPEC / "ndx-nwbsyn.extensions.yaml").read_text())
    defined = {t["neurodata_type_def"] for kind in ("groups", "datasets") for t in extensions.get(kind, [])}
    assert defined == set(MOCKS)
    assert all(hasattr(ndx_nwbsyn, name) for name in defined)


def test_format_doc_is_up_to_date(tmp_path):
    spec = importlib.util.spec_from_file_location("make_format_doc", SPEC / "docs" / "make_format_doc.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(output=tmp_path / "format.md")
    assert (tmp_path / "format.md").read_text() == (SPEC / "docs" / "format.md").read_text(), (
        "spec/docs/format.md is out of date: run python spec/docs/make_format_doc.py")


def test_catalog_metadata_names_this_version():
    import ndx_nwbsyn

    meta = YAML(typ="safe").load((SPEC / "ndx-meta.yaml").read_text())
    assert meta["name"] == "ndx-nwbsyn" and meta["version"] == ndx_nwbsyn.__version__
    assert {"src", "pip", "license", "maintainers"} <= set(meta)
