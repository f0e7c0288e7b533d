"""A local HTTP receiver for webhook tests, and a switch that keeps deliveries off Celery in unit tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks import services


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next planned behaviour: an HTTP status, or ``("sleep", seconds)`` then 200."""

    url: str
    plan: list = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self):
        with self.lock:
            return self.plan.pop(0) if self.plan else self.default


def start_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            behaviour = receiver.next_behaviour()
            with receiver.lock:
                receiver.requests.append(Received(dict(self.headers.items()), body, time.time()))
            if isinstance(behaviour, tuple):
                time.sleep(behaviour[1])
                behaviour = 200
            try:
                self.send_response(behaviour)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver, server


@pytest.fixture
def receiver():
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def queued(monkeypatch):
    """Deliveries queued after commit land here instead of Celery; tests then run the attempts themselves."""
    ids: list[int] = []
    monkeypatch.setattr(services, "deliveries_enqueue", lambda delivery_ids: ids.extend(delivery_ids))
    return ids
