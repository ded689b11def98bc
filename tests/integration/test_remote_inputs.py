"""Remote inputs (URLs, DANDI assets) streamed from loopback servers: same results as local files,
lazy reads, complete local outputs, one-sentence errors for every kind of bad source."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

pytest.importorskip("dandi")
pytest.importorskip("remfile")

from nwbsyn import events  # noqa: E402
from nwbsyn._shared import InputError  # noqa: E402
from nwbsyn.cli import main  # noqa: E402
from nwbsyn.io import edit_nwb, open_nwb  # noqa: E402
from nwbsyn.io.remote import RemoteError, parse_source, sanitize_asset_path  # noqa: E402
from nwbsyn.io.validate import validate_nwb  # noqa: E402
from nwbsyn.testing import mock_ecephys_nwbfile, mock_icephys_nwbfile  # noqa: E402
from nwbsyn.testing.servers import FakeDandiArchive, Failure  # noqa: E402

from conftest import write_nwbfile  # noqa: E402

ASSET = "sub-1/sub-1_ses-1_icephys.nwb"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("DANDI_NO_ET", "1")  # no version check against the internet
    root = tmp_path_factory.mktemp("archive")
    local = write_nwbfile(mock_icephys_nwbfile(n_sweeps=2, duration_s=1.0, rng=3), root / "local.nwb")
    with FakeDandiArchive(root) as server:
        server.add_asset("000123", ASSET, local)
        server.add_asset("000123", "sub-2/sub-2_ses-1_ecephys.nwb", mock_ecephys_nwbfile(duration_s=20.0))
        server.add_asset("000123", "sub-3/not_nwb.nwb", b"<html>not an NWB file</html>" * 50)
        big = write_nwbfile(mock_icephys_nwbfile(n_sweeps=4, duration_s=10.0, rng=1), root / "big.nwb")
        server.big_url = server.content_url(server.add_asset("000125", "sub-9/sub-9_big.nwb", big))
        server.add_dandiset("000124", published_version="0.260101.1200")
        server.add_asset("000124", ASSET, local)
        server.local = local
        yield server
    mp.undo()


@pytest.fixture(autouse=True)
def _clean_server(archive):
    archive.files.clear_failures()
    archive.files.reset_counters()
    yield
    archive.files.clear_failures()


def test_parse_sources_and_version_rule():
    src = parse_source("DANDI:000123/sub-1/x.nwb@draft")
    assert (src.dandiset_id, src.asset_path, src.version) == ("000123", "sub-1/x.nwb", "draft")
    assert parse_source("DANDI:000123@0.1.2/sub-1/x.nwb").version == "0.1.2"
    assert parse_source("dandi://DANDI/000123/sub-1/x.nwb").relpath == "sub-1/x.nwb"
    assert parse_source("https://h/a/b/cell%201.nwb?x=1").relpath == "cell 1.nwb"
    with pytest.raises(InputError, match="two versions"):
        parse_source("DANDI:000123@a/x.nwb@b")


@pytest.mark.parametrize("path", ["../x.nwb", "/etc/x.nwb", "a/../../x.nwb", "C:/x.nwb", "a\\..\\x.nwb", "", "."])
def test_unsafe_asset_paths_are_refused(path):
    with pytest.raises(InputError, match="unsafe"):
        sanitize_asset_path(path)


def test_published_version_is_the_default(archive):
    with open_nwb(f"DANDI:000124/{ASSET}", dandi_api_url=archive.api_url) as nwbfile:
        assert "sweep_0" in nwbfile.acquisition
    from nwbsyn.io.remote import list_assets

    assert [s.version for s in list_assets("000124", api_url=archive.api_url)] == ["0.260101.1200"]
    assert [s.version for s in list_assets("000123", api_url=archive.api_url)] == ["draft"] * 3


def _detections(source, **kwargs):
    with open_nwb(source, **kwargs) as nwbfile:
        pairs = events.run_on_nwbfile(nwbfile, progress_bar=False)
        return [(r.onset_samples.copy(), r.statistics.amplitude_pA.copy()) for _, r in pairs]


def test_streamed_analysis_equals_local(archive, monkeypatch, one_torch_thread):
    local = _detections(archive.local)
    monkeypatch.setenv("NWBSYN_DANDI_API_URL", archive.api_url)
    for source in (f"DANDI:000123/{ASSET}", f"dandi://DANDI/000123@draft/{ASSET}",
                   archive.content_url(archive.dandisets["000123"]["assets"][ASSET])):
        remote = _detections(source)
        assert len(remote) == len(local) == 2
        for (on_r, amp_r), (on_l, amp_l) in zip(remote, local):
            np.testing.assert_array_equal(on_r, on_l)
            np.testing.assert_allclose(amp_r, amp_l)


def test_streaming_reads_only_the_series_it_needs(archive):
    with open_nwb(archive.big_url) as nwbfile:
        data = nwbfile.acquisition["sweep_2"].data[:]
    size = archive.assets[archive.big_url.rsplit("/", 1)[1][:-4]]["size"]
    assert archive.files.bytes_served <= 1.5 * data.nbytes + 1_000_000 < size


def test_remote_edit_writes_a_complete_local_file(archive, tmp_path, monkeypatch, one_torch_thread):
    monkeypatch.chdir(tmp_path)
    source = f"DANDI:000123/{ASSET}"
    with pytest.raises(InputError, match="in place"):
        with edit_nwb(source, in_place=True, dandi_api_url=archive.api_url):
            pass
    with edit_nwb(source, dandi_api_url=archive.api_url) as nwbfile:  # default: the asset path, mirrored here
        events.run_on_nwbfile(nwbfile, progress_bar=False)
    out = tmp_path / ASSET
    links = []
    with h5py.File(out, "r") as f:
        f.visititems_links(lambda name, link: links.append(name) if isinstance(link, h5py.ExternalLink) else None)
        assert f["acquisition/sweep_0/data"].shape == (20000,)
    assert links == [] and validate_nwb(out).ok
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left


def _one_sentence(err: Exception, *names: str) -> None:
    text = str(err)
    assert "\n" not in text and text.endswith(".") and all(n in text for n in names), text


@pytest.mark.parametrize("source, expected, transient", [
    ("DANDI:000999/x.nwb", "does not exist", False),
    ("DANDI:000123/sub-1/nope.nwb", "has no asset sub-1/nope.nwb", False),
    ("DANDI:000123/sub-1/x.nwb@0.999.1", "has no version", False),
    ("DANDI:000123/sub-3/not_nwb.nwb", "not an HDF5/NWB file", False),
    ("URL/missing.nwb", "not found", False),
])
def test_bad_remote_sources_give_one_sentence(archive, source, expected, transient):
    source = source.replace("URL", archive.files.base_url)
    with pytest.raises(RemoteError) as info:
        with open_nwb(source, dandi_api_url=archive.api_url):
            pass
    _one_sentence(info.value, expected)
    assert info.value.transient is transient


def test_server_errors_and_timeouts_are_transient(archive, monkeypatch):
    url = archive.content_url(archive.dandisets["000123"]["assets"][ASSET])
    archive.files.inject(Failure(kind="status", status=503))
    with pytest.raises(RemoteError) as info:
        with open_nwb(url):
            pass
    _one_sentence(info.value, "HTTP 503", "try again later")
    assert info.value.transient
    archive.files.clear_failures()
    monkeypatch.setenv("NWBSYN_REMOTE_TIMEOUT_S", "0.2")
    with open_nwb(archive.big_url) as nwbfile:  # the open works; then the server stalls while data are read
        archive.files.inject(Failure(kind="delay", seconds=1.0))
        with pytest.raises(Exception, match="did not answer within 0.2 s"):
            nwbfile.acquisition["sweep_1"].data[:]


def test_a_dropped_connection_is_retried(archive):
    with open_nwb(archive.big_url) as nwbfile:
        archive.files.inject(Failure(kind="drop", times=2))
        assert nwbfile.acquisition["sweep_1"].data[:].shape == (200_000,)
    assert sum(status == 206 for _, _, status in archive.files.requests) > 2


def test_single_file_commands_accept_remote_inputs(archive, tmp_path, monkeypatch, capsys, one_torch_thread):
    monkeypatch.setenv("NWBSYN_DANDI_API_URL", archive.api_url)
    monkeypatch.chdir(tmp_path)
    assert main(["info", f"DANDI:000123/{ASSET}"]) == 0
    assert "acquisition/sweep_1" in capsys.readouterr().out
    assert main(["validate", f"DANDI:000123/{ASSET}"]) == 0
    assert main(["events", "detect", f"DANDI:000123/{ASSET}", "-o", "cell.nwb", "--quiet", "--no-weights"]) == 0
    assert "-> cell.nwb" in capsys.readouterr().out and validate_nwb(tmp_path / "cell.nwb").ok
    assert main(["connectivity", "fit", "DANDI:000123/sub-2/sub-2_ses-1_ecephys.nwb", "--max-epochs", "2",
                 "--quiet"]) == 0
    assert (tmp_path / "sub-2/sub-2_ses-1_ecephys.nwb").exists()


@pytest.mark.parametrize("command", ["info", "events detect"])
def test_cli_bad_url_exits_2_with_one_line(archive, command):
    url = f"{archive.files.base_url}/no/such/file.nwb"
    proc = subprocess.run([sys.executable, "-m", "nwbsyn.cli", *command.split(), url],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("nwbsyn: error:") and url in lines[0], proc.stderr
