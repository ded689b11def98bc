"""`nwbsyn events review`: the HTTP API on 127.0.0.1, a port in use, and the page driven end to end in a
real headless chromium (DevTools protocol over --remote-debugging-pipe, standard library only)."""

import fcntl
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from nwbsyn.cli import main
from nwbsyn.events.review import open_review, serve_review
from nwbsyn.events.train import load_training_windows
from nwbsyn.io import open_nwb
from nwbsyn.testing import mock_SynapticEventsTable

from conftest import write_nwbfile

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def events_file(tmp_path):
    table = mock_SynapticEventsTable(n_events=8)
    return write_nwbfile(table.get_ancestor("NWBFile"), tmp_path / "ev.nwb")


def _call(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read()) if "json" in r.headers["Content-Type"] else r.read().decode()


def _curated(path):
    with open_nwb(path) as f:
        mod = f.processing["icephys"]
        table = mod["synaptic_events"]
        return (list(np.asarray(table["review"].data[:]).astype(str)), np.asarray(table["timestamp"].data[:]),
                json.loads(mod["synaptic_events_review"].parameters)["history"])


def test_http_api_accept_reject_add_save(events_file, tmp_path):
    session = open_review(events_file, output=tmp_path / "cur.nwb")
    server = serve_review(session, port=0, announce=lambda s: None)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert "nwbsyn events review" in _call(base, "/")
        state = _call(base, "/api/state")
        assert len(state["events"]) == 8 and state["sweeps"][0]["unit"] == "pA"
        e0 = state["events"][0]
        view = _call(base, f"/api/view?sweep=0&start={e0['t'] - 0.01}&stop={e0['t'] + 0.02}")
        assert len(view["t"]) == len(view["y"]) > 100
        _call(base, "/api/label", {"i": 0, "label": "reject"})
        _call(base, "/api/label", {"i": 1, "label": "accept"})
        added = _call(base, "/api/add", {"sweep": 0, "t": state["events"][4]["t"] + 0.04})
        assert abs(added["t"] - (state["events"][4]["t"] + 0.04)) <= 0.0021
        with pytest.raises(urllib.error.HTTPError, match="409"):
            _call(base, "/api/add", {"sweep": 0, "t": 1e6})  # outside the sweep
        summary = _call(base, "/api/save", {})
    finally:
        server.shutdown()
        server.server_close()
    assert summary["rejected"] == 1 and summary["added"] == 1 and summary["events_after"] == 8
    review, stamps, history = _curated(tmp_path / "cur.nwb")
    assert review.count("added") == 1 and review.count("accepted") == 1 and len(review) == 8
    assert np.all(np.diff(stamps) >= 0) and e0["t"] not in stamps
    assert history[0]["nwbsyn_version"] and history[0]["rejected_events"][0]["timestamp"] == round(e0["t"], 7)
    windows = load_training_windows(summary["windows_written"])
    assert sorted(windows.labels.tolist()) == [0, 1, 1]
    assert main(["validate", str(tmp_path / "cur.nwb")]) == 0


def test_in_place_saves_twice_and_keeps_history(events_file):
    session = open_review(events_file, in_place=True)
    session.set_label(2, "reject")
    session.save()
    assert len(session.events) == 7  # reloaded from the curated file
    session.set_label(0, "reject")
    session.save()
    review, _, history = _curated(events_file)
    assert len(review) == 6 and len(history) == 2


def test_taken_port_is_replaced_and_said(events_file, tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    said = []
    try:
        server = serve_review(open_review(events_file, output=tmp_path / "o.nwb"), port=busy.getsockname()[1],
                              announce=said.append)
        assert server.server_port != busy.getsockname()[1] and server.server_address[0] == "127.0.0.1"
        assert "in use" in said[0] and str(server.server_port) in said[0]
        server.shutdown()
        server.server_close()
    finally:
        busy.close()


class _Chromium:
    """Just enough of the DevTools protocol over --remote-debugging-pipe (fds 3 and 4, NUL-separated JSON)."""

    def __init__(self, profile):
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        to_r, from_w = (self._high(fd) for fd in (to_r, from_w))  # 5 or above: never 3 or 4 themselves
        self.proc = subprocess.Popen(  # the pipe ends go to fds 3 and 4, where chromium expects them
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "about:blank"], close_fds=False,
            preexec_fn=lambda: (os.dup2(to_r, 3), os.dup2(from_w, 4)), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self._buf, self._id, self.session = b"", 0, None

    @staticmethod
    def _high(fd):
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 5)
        os.close(fd)
        return high

    def send(self, method, params=None, *, timeout=30.0):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        end = time.time() + timeout
        while time.time() < end:
            while b"\0" not in self._buf:
                if not select.select([self._from_r], [], [], max(0.0, end - time.time()))[0]:
                    raise TimeoutError(method)
                self._buf += os.read(self._from_r, 1 << 16)
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply.get("result", {})
        raise TimeoutError(method)

    def open(self, url):
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

    def js(self, expression):
        out = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        return out["result"].get("value")

    def wait(self, expression, timeout=20.0):
        end = time.time() + timeout
        while time.time() < end:
            if self.js(expression):
                return
            time.sleep(0.1)
        raise TimeoutError(expression)

    def key(self, key):
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "text": key if kind == "keyDown" else ""})

    def click(self, x, y):
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def close(self):
        self.proc.kill()
        self.proc.wait(10)
        os.close(self._to_w)
        os.close(self._from_r)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_browser_end_to_end_keys_click_save_transfer(events_file, tmp_path):
    out, windows = tmp_path / "curated.nwb", tmp_path / "w.h5"
    cli = subprocess.Popen([sys.executable, "-m", "nwbsyn.cli", "events", "review", str(events_file), "-o", str(out),
                            "--windows", str(windows), "--port", "0"], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    browser = None
    try:
        line = cli.stdout.readline()
        url = line[line.index("http://127.0.0.1:"):].split()[0]
        browser = _Chromium(tmp_path / "profile")
        browser.open(url)
        browser.wait("document.body.dataset.ready === '1'")
        browser.key("r")  # event 1 rejected, step to 2
        browser.wait("document.body.dataset.cur === '1'")
        browser.key("a")
        browser.wait("document.body.dataset.cur === '2'")
        browser.key("a")
        browser.wait("document.body.dataset.cur === '3'")
        browser.key("r")
        browser.wait("document.body.dataset.cur === '4'")
        browser.key("p")
        browser.wait("document.body.dataset.cur === '3'")
        box = browser.js("(() => { const r = document.getElementById('trace').getBoundingClientRect();"
                         " return [r.left, r.top, r.width, r.height]; })()")
        browser.click(box[0] + 0.85 * box[2], box[1] + box[3] / 2)  # a missed event, right of the current one
        browser.wait("window.reviewState.added.length === 1")
        q = browser.js("(() => { const r = document.getElementById('quit').getBoundingClientRect();"
                       " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
        browser.click(*q)
        browser.wait("document.getElementById('status').textContent.includes('stopped')", timeout=60)
        assert cli.wait(30) == 0
    finally:
        if browser is not None:
            browser.close()
        if cli.poll() is None:
            cli.kill()
    review, _, history = _curated(out)
    assert review.count("accepted") == 2 and review.count("added") == 1 and len(review) == 7
    assert history[-1]["rejected"] == 2
    assert main(["validate", str(out)]) == 0
    assert main(["events", "transfer", "--data", str(windows), "--epochs", "1", "--quiet",
                 "-o", str(tmp_path / "m.pt")]) == 0
