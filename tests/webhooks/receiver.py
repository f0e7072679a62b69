"""A real HTTP receiver on loopback for webhook tests: http.server in a thread, on a
free port. It answers 500 to the first `fail_first` posts of each delivery (by the
X-Dockyard-Delivery header), then 200, and keeps every post it saw."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    fail_first: int
    hold: float = 0.0
    """seconds to keep each post waiting before answering (a slow receiver)"""
    released: threading.Event = field(default_factory=threading.Event)
    redirect_to: str = ""
    """answer 302 to this Location instead of 200"""
    posts: list[Post] = field(default_factory=list)
    arrivals: list[str] = field(default_factory=list)
    """the X-Dockyard-Delivery of each post, as it came in"""
    attempts: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def arrive(self, headers: dict[str, str]) -> None:
        """A post came in (before it is held or answered)."""
        with self.lock:
            self.arrivals.append(headers.get("x-dockyard-delivery", ""))
            self.changed.notify_all()

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        key = headers.get("x-dockyard-delivery", "")
        with self.lock:
            seen = self.attempts.get(key, 0)
            self.attempts[key] = seen + 1
            status = 500 if seen < self.fail_first else 200
            self.posts.append(Post(path, headers, body, status))
            self.changed.notify_all()
        return status

    def delivered(self) -> list[Post]:
        with self.lock:
            return [p for p in self.posts if p.answered == 200]

    def wait_for(self, done: Callable[[Receiver], bool], timeout: float = 60.0) -> None:
        """Wait until `done(self)` holds (re-checked on every post), or fail."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"receiver: condition not met; saw {len(self.posts)} posts")
                self.changed.wait(min(left, 0.5))


@contextlib.contextmanager
def receiving(fail_first: int = 0, path: str = "/hook", hold: float = 0.0) -> Iterator[Receiver]:
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            assert receiver is not None
            receiver.arrive(headers)
            if receiver.hold and not receiver.released.is_set():
                receiver.released.wait(receiver.hold)
            status = receiver.answer(self.path, headers, body)
            reply = b'{"ok": true}' if status == 200 else b"receiver says no"
            if receiver.redirect_to and status == 200:
                status, reply = 302, b""
            self.send_response(status)
            if status == 302:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    receiver = Receiver(f"http://127.0.0.1:{port}{path}", fail_first, hold)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()
        thread.join()
