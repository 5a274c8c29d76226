"""The local stack's stand-in for Slack and people's webhooks: an HTTP server on 127.0.0.1 that records every POST
(one JSON line each, so tests and another process can read what would have been sent) and answers 200 "ok", as
Slack's incoming webhooks do. `GET /` shows what came in, newest first, for a person running the stack.

Tests make it misbehave on a path (`fail`): an error status, or a hang past the sender's timeout.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class _Fault:
    status: int | None
    timeout_s: float | None
    times: int


class LocalSink:
    def __init__(self, port: int, record_path: Path, mailbox: Callable[[], list[dict]] | None = None) -> None:
        self.port = port
        self.record_path = Path(record_path)
        # the emails the local SES took ({source, destinations, subject, body: the HTML part}), shown next to the posts
        self.mailbox = mailbox
        self.records: list[dict] = []  # this process's, also in the file
        self._faults: dict[str, _Fault] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LocalSink:
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True  # a hanging answer must not hold up stop()
        self.port = self._server.server_address[1]  # port 0: the one the system picked
        # A short poll: stop() returns within a tenth of a second (serve_forever's default is half a second)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="local-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LocalSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(
        self, path: str, status: int | None = None, timeout_s: float | None = None, times: int = 1_000_000
    ) -> None:
        """The next `times` requests to `path` answer `status` (a 302 sends them to /redirected), or hang `timeout_s`
        before answering (200, or `status`)."""
        with self._lock:
            self._faults[path] = _Fault(status, timeout_s, times)

    def received(self, path: str | None = None) -> list[dict]:
        """What was POSTed (to `path`, or anywhere), oldest first, read from the record file."""
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if path is None or r["path"] == path]

    # --- called by the handler -------------------------------------------------------------------------------------

    def _fault(self, path: str) -> _Fault | None:
        with self._lock:
            fault = self._faults.get(path)
            if fault is None or fault.times <= 0:
                return None
            fault.times -= 1
            return fault

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        record = {
            "received_at": datetime.now(UTC).isoformat(),
            "path": path,
            "headers": headers,
            "body": body,
            "raw": text,  # the bytes as sent (a webhook's signature is over them)
        }
        with self._lock:
            self.records.append(record)
            with self.record_path.open("a") as out:  # one line, one write: readers never see half a record
                out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _handler(sink: LocalSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Slack: the sender's pooled connections are exercised

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?", 1)[0]
            sink._record(path, dict(self.headers.items()), raw)  # before any hang: every attempt is counted
            fault = sink._fault(path)
            if fault and fault.timeout_s:
                time.sleep(fault.timeout_s)
            status = fault.status if fault and fault.status else 200
            extra = {"Location": f"{sink.url}/redirected"} if 300 <= status < 400 else {}
            self._answer(status, b"ok" if status == 200 else b"failed", "text/plain", extra)

        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            mails = sink.mailbox() if sink.mailbox is not None else []
            if path == "/":
                self._answer(200, _page(sink.received(), mails).encode(), "text/html; charset=utf-8")
            elif path.startswith("/mail/") and path[6:].isdigit() and int(path[6:]) < len(mails):
                self._answer(200, str(mails[int(path[6:])]["body"]).encode(), "text/html; charset=utf-8")
            else:
                self._answer(404, b"not found", "text/plain")

        def _answer(self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                for name, value in {"Content-Type": kind, "Content-Length": str(len(body)), **(extra or {})}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the sender gave up waiting (a hang it was told to time out on)

        def log_message(self, *args: Any) -> None:
            pass  # quiet: the record file is the log

    return Handler


def _gist(body: Any) -> str:
    """A received message in a line: a Slack message's text, a webhook's title and summary."""
    if isinstance(body, dict):
        if "blocks" in body or ("text" in body and "title" not in body):
            return f"Slack: {body.get('text', '')}"
        if "title" in body:
            return f"{body.get('kind', 'webhook')}: {body['title']} — {body.get('summary', '')}"
    return str(body)[:200]


def _page(records: list[dict], mails: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['received_at'])}</td><td><code>{html.escape(r['path'])}</code></td>"
        f"<td>{html.escape(_gist(r['body']))}</td></tr>"
        for r in reversed(records)
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>headcount: what would have been sent</title>'
        "<style>body{font-family:sans-serif;margin:24px}td,th{padding:4px 12px;border-bottom:1px solid #ddd;"
        "text-align:left;vertical-align:top}</style></head><body><h1>What would have been sent</h1>"
        f"<p>{len(records)} received, newest first.</p>"
        f"<table><tr><th>received</th><th>path</th><th>message</th></tr>{rows}</table>{_mail_list(mails)}</body></html>"
    )


def _mail_list(mails: list[dict]) -> str:
    if not mails:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(', '.join((m.get('destinations') or {}).get('ToAddresses', [])))}</td>"
        f'<td><a href="/mail/{i}">{html.escape(str(m.get("subject", "")))}</a></td></tr>'
        for i, m in reversed(list(enumerate(mails)))
    )
    return f"<h2>Mailed through the local SES</h2><table><tr><th>to</th><th>subject</th></tr>{rows}</table>"
