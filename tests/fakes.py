"""Stand-ins for a connection's transport and clock, for tests that drive writers by hand."""

from __future__ import annotations

from typing import Any


class FakeTransport:
    """A transport that keeps what is written; the test sets its queue length."""

    def __init__(self) -> None:
        self.queued_bytes = 0
        self.bytes_sent = 0
        self.is_closing = False
        self.sent: list[bytes] = []
        self.aborted: str | None = None

    def send_data(self, data: bytes, packet_type: Any = None) -> None:
        self.sent.append(data)

    def close(self, reason: str | None = None) -> None:
        self.aborted = reason

    def abort(self, reason: str) -> None:
        self.aborted = reason
        self.is_closing = True

    def input_consumed(self, size: int) -> None:
        pass


class Clock:
    """A clock that moves only when the test sets ``now``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now
