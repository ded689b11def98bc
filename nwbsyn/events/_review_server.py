"""The HTTP side of ``nwbsyn events review``: stdlib ``http.server`` bound to 127.0.0.1 only.

GET  /                  the page (:mod:`nwbsyn.report._review_page`)
GET  /api/state         files, sweeps, events with labels, added events
GET  /api/view?sweep=K&start=S&stop=S   the trace between two session times (decimated)
POST /api/label  {"i": N, "label": "accept"|"reject"|null}
POST /api/add    {"sweep": K, "t": S}        POST /api/remove {"k": N}
POST /api/save   -> summary (what changed, where it was written)
POST /api/quit   stops the server (the CLI then exits)
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from nwbsyn._shared import InputError

__all__ = ["make_server"]

HOST = "127.0.0.1"


class _Handler(BaseHTTPRequestHandler):
    server_version = "nwbsyn-review"

    def log_message(self, *args):  # quiet: the CLI prints what matters
        pass

    def _send(self, code: int, body, kind: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        from nwbsyn.report._review_page import review_page

        url, session = urlparse(self.path), self.server.session
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/":
                return self._send(200, review_page(), "text/html")
            if url.path == "/api/state":
                return self._send(200, session.state())
            if url.path == "/api/view":
                return self._send(200, session.view(sweep=int(q["sweep"]), start_s=float(q["start"]),
                                                    stop_s=float(q["stop"])))
        except (KeyError, ValueError, IndexError) as err:
            return self._send(400, {"error": f"bad request: {err}"})
        self._send(404, {"error": "not found"})

    def do_POST(self):  # noqa: N802
        session = self.server.session
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            path = urlparse(self.path).path
            if path == "/api/label":
                session.set_label(int(body["i"]), body.get("label"))
            elif path == "/api/add":
                return self._send(200, session.add_event(sweep=int(body["sweep"]), time_s=float(body["t"])))
            elif path == "/api/remove":
                session.remove_added(int(body["k"]))
            elif path == "/api/save":
                summary = session.save()
                self.server.announce(f"saved {summary['output']}: {summary['events_after']} events "
                                     f"({summary['rejected']} rejected, {summary['added']} added); "
                                     f"{summary['n_windows']} labelled windows -> {summary['windows_written']}")
                return self._send(200, summary)
            elif path == "/api/quit":
                self._send(200, {"ok": True})
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return None
            else:
                return self._send(404, {"error": "not found"})
        except InputError as err:
            return self._send(409, {"error": str(err)})
        except (KeyError, ValueError, IndexError, TypeError) as err:
            return self._send(400, {"error": f"bad request: {err}"})
        self._send(200, {"ok": True, "counts": session.counts()})


def make_server(session, port: int, *, announce=print) -> ThreadingHTTPServer:
    """A server for ``session`` on 127.0.0.1:``port`` (0: any free port); OSError when the port is taken."""
    server = ThreadingHTTPServer((HOST, int(port)), _Handler)
    server.daemon_threads = True
    server.session, server.announce = session, announce
    return server
