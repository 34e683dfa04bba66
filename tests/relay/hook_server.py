"""A real HTTP hook server for tests: records every call, answers as the test says."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.actors.harness import TIMEOUT

HANG = "hang"
"""An answer: keep the connection open without answering (until the test ends)."""
GARBAGE = "garbage"
"""An answer: bytes that are not HTTP, then close."""

Answer = int | str | tuple[int, str]
"""A status, HANG, GARBAGE, or a redirect: (status, Location)."""


@dataclass(frozen=True)
class HookCall:
    """One request the hook server got: its path and its form, one value per field."""

    path: str
    form: dict[str, str]


@dataclass
class HookServer:
    """Records calls; ``answer(path, form)`` says what to answer (a status, HANG or GARBAGE)."""

    base: str = ""
    answer: Callable[[str, dict[str, str]], Answer] = lambda _path, _form: 200
    calls: list[HookCall] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        """The URL of ``path`` (``/on_publish``) on this server."""
        return f"{self.base}{path}"

    def record(self, call: HookCall) -> None:
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def wait(
        self, path: str, predicate: Callable[[dict[str, str]], bool] | None = None, count: int = 1
    ) -> list[dict[str, str]]:
        """The forms of the first ``count`` calls to ``path`` (matching); fail after TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        with self.changed:
            while True:
                forms = self.forms(path, predicate)
                if len(forms) >= count:
                    return forms[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.path, c.form.get("call"), c.form.get("name")) for c in self.calls]
                    pytest.fail(f"no {count} call(s) to {path} within {TIMEOUT} s; got {seen}")
                self.changed.wait(remaining)

    def forms(
        self, path: str, predicate: Callable[[dict[str, str]], bool] | None = None
    ) -> list[dict[str, str]]:
        """The forms of the calls to ``path`` so far (matching ``predicate``)."""
        with self.changed:
            return [
                c.form
                for c in self.calls
                if c.path == path and (predicate is None or predicate(c.form))
            ]


@pytest.fixture
def hook_server() -> Iterator[HookServer]:
    state = HookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
            body = self.rfile.read(length).decode("utf-8", "replace")
            form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            state.record(HookCall(self.path, form))
            answer = state.answer(self.path, form)
            if answer == HANG:
                state.release.wait(TIMEOUT)
                self.close_connection = True
                return
            if answer == GARBAGE:
                self.wfile.write(b"\x00\x01 this is not HTTP\r\n\r\n")
                self.close_connection = True
                return
            status, location = answer if isinstance(answer, tuple) else (answer, None)
            assert isinstance(status, int)
            self.send_response(status)
            if location is not None:
                self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    with serving_http(Handler, state.release) as base:
        state.base = base
        yield state


@contextlib.contextmanager
def serving_http(handler: type[BaseHTTPRequestHandler], release: threading.Event) -> Iterator[str]:
    """Serve ``handler`` on a loopback port until the block ends; yields ``http://host:port``.

    ``release`` is set at the end, so that handlers holding their answer let go.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
