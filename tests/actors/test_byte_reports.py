"""Byte totals ride along with a read's messages when a report is due (one session wakeup)."""

from __future__ import annotations

import queue
from collections.abc import Callable, Sequence
from typing import Any

import pykka
import pytest

from rtmp_actors.actors.protocol_handler import FlowControl, ProtocolHandlerActor
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.messages import DetailedMessage, PingRequest
from rtmp_actors.transport.io_loop import TimerHandle
from tests.fakes import Clock, FakeTransport

TIMEOUT = 5.0
REPORT_INTERVAL = 0.5


class RecordingSession(pykka.ThreadingActor):
    """Records what the protocol handler tells its session."""

    def __init__(self, told: queue.Queue[tuple[str, Any]]) -> None:
        super().__init__()
        self.told = told

    def handle_rtmp_inputs(
        self, messages: Sequence[DetailedMessage], byte_totals: tuple[int, int] | None = None
    ) -> None:
        self.told.put(("inputs", (len(messages), byte_totals)))

    def notify_byte_totals(self, bytes_sent: int, bytes_received: int) -> None:
        self.told.put(("totals", (bytes_sent, bytes_received)))

    def sync(self) -> None:
        """Answered once everything told before was handled."""


class Timers:
    """Records timers; the test fires the byte report ones (the only ones of 0.5 s)."""

    def __init__(self) -> None:
        self.armed: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Any:
        self.armed.append((delay, callback))
        return TimerHandle(delay, 0, callback)

    def fire_byte_reports(self) -> int:
        due = [callback for delay, callback in self.armed if delay == REPORT_INTERVAL]
        self.armed = [(d, c) for d, c in self.armed if d != REPORT_INTERVAL]
        for callback in due:
            callback()
        return len(due)


@pytest.fixture
def told() -> queue.Queue[tuple[str, Any]]:
    return queue.Queue()


def test_totals_come_with_the_messages_at_most_once_per_interval(
    told: queue.Queue[tuple[str, Any]],
) -> None:
    clock, timers, transport = Clock(), Timers(), FakeTransport()
    connection = RtmpConnection(ConnectionRole.SERVER)
    flow = FlowControl(byte_report_interval=REPORT_INTERVAL)
    handler = ProtocolHandlerActor.start(connection, transport, timers, flow=flow, clock=clock)
    proxy = handler.proxy()
    session = RecordingSession.start(told)
    proxy.set_session(session).get(timeout=TIMEOUT)
    peer = RtmpConnection(ConnectionRole.CLIENT)
    to_server = peer.start()
    while to_server:
        proxy.notify_input(to_server).get(timeout=TIMEOUT)
        to_server = peer.receive_data(b"".join(transport.sent)).to_send
        transport.sent.clear()
    timers.fire_byte_reports()
    assert proxy.set_session(session).get(timeout=TIMEOUT) == "handler_already_set"  # a sync
    session.proxy().sync().get(timeout=TIMEOUT)  # and what it told the session
    while not told.empty():
        told.get()  # the handshake's own reports
    ping = peer.send_message(DetailedMessage(0, 0, PingRequest(1)))

    clock.now = 10.0  # a report is due: it comes with the message
    proxy.notify_input(ping).get(timeout=TIMEOUT)
    totals = (transport.bytes_sent, connection.bytes_received)
    assert told.get(timeout=TIMEOUT) == ("inputs", (1, totals))
    assert timers.fire_byte_reports() == 0  # nothing left to report later

    clock.now = 10.1  # too soon: the message comes alone, the report later
    transport.bytes_sent += 100
    proxy.notify_input(ping).get(timeout=TIMEOUT)
    assert told.get(timeout=TIMEOUT) == ("inputs", (1, None))
    assert timers.fire_byte_reports() == 1
    totals = (transport.bytes_sent, connection.bytes_received)
    assert told.get(timeout=TIMEOUT) == ("totals", totals)
