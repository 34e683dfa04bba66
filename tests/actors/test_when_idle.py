"""Coalescing without a timer: work handed on once an actor's mailbox is empty."""

from __future__ import annotations

import queue
import threading
from typing import Any

from rtmp_actors.actors.actor_handle import ActorHandle
from rtmp_actors.actors.monitoring import MonitoredActor
from rtmp_actors.actors.protocol_handler import ProtocolHandlerActor
from rtmp_actors.actors.when_idle import WhenIdle
from rtmp_actors.protocol.connection import ConnectionRole, RtmpConnection
from rtmp_actors.protocol.messages import DetailedMessage, PingRequest
from rtmp_actors.transport.io_loop import TimerHandle
from tests.actors.test_byte_reports import RecordingSession
from tests.fakes import FakeTransport

TIMEOUT = 5.0


class Collector(MonitoredActor):
    """Collects items and hands them on in batches when its mailbox is empty."""

    def __init__(self, batches: queue.Queue[list[int]]) -> None:
        super().__init__()
        self.batches = batches
        self.items: list[int] = []
        self.hand_on = WhenIdle(self, self._hand_on)

    def add(self, item: int) -> None:
        self.items.append(item)
        self.hand_on.request()

    def hold(self, gate: threading.Event) -> None:
        assert gate.wait(TIMEOUT)

    def _hand_on(self) -> None:
        if self.items:
            self.batches.put(self.items)
            self.items = []


def test_an_idle_actor_hands_each_item_on_at_once() -> None:
    batches: queue.Queue[list[int]] = queue.Queue()
    collector = Collector.start(batches).proxy()
    for item in range(3):
        collector.add(item).get(timeout=TIMEOUT)
        assert batches.get(timeout=TIMEOUT) == [item]


def test_a_busy_actor_hands_what_piled_up_on_once() -> None:
    batches: queue.Queue[list[int]] = queue.Queue()
    ref = Collector.start(batches)
    collector: ActorHandle[Collector] = ActorHandle(ref)
    gate = threading.Event()
    collector.tell(Collector.hold, gate)
    for item in range(5):
        collector.tell(Collector.add, item)
    gate.set()
    assert batches.get(timeout=TIMEOUT) == [0, 1, 2, 3, 4]
    ref.proxy().add(5).get(timeout=TIMEOUT)  # idle again: at once
    assert batches.get(timeout=TIMEOUT) == [5]
    assert batches.empty()


class HeldProtocolHandler(ProtocolHandlerActor):
    def hold(self, gate: threading.Event) -> None:
        assert gate.wait(TIMEOUT)


def no_timers(delay: float, callback: Any) -> TimerHandle:
    return TimerHandle(delay, 0, callback)


def test_reads_that_pile_up_reach_the_session_in_one_batch() -> None:
    told: queue.Queue[tuple[str, Any]] = queue.Queue()
    transport = FakeTransport()
    connection = RtmpConnection(ConnectionRole.SERVER)
    ref = HeldProtocolHandler.start(connection, transport, no_timers)
    handler = ref.proxy()
    handler.set_session(RecordingSession.start(told)).get(timeout=TIMEOUT)
    peer = RtmpConnection(ConnectionRole.CLIENT)
    to_server = peer.start()
    while to_server:  # the handshake
        handler.notify_input(to_server).get(timeout=TIMEOUT)
        to_server = peer.receive_data(b"".join(transport.sent)).to_send
        transport.sent.clear()
    while not told.empty():
        told.get()
    reads = [peer.send_message(DetailedMessage(0, 0, PingRequest(i))) for i in range(4)]

    handler.notify_input(reads[0]).get(timeout=TIMEOUT)  # idle: handed on at once
    assert told.get(timeout=TIMEOUT)[1][0] == 1
    gate = threading.Event()
    held: ActorHandle[HeldProtocolHandler] = ActorHandle(ref)
    held.tell(HeldProtocolHandler.hold, gate)
    for data in reads[1:]:
        held.tell(HeldProtocolHandler.notify_input, data)
    gate.set()
    assert told.get(timeout=TIMEOUT)[1][0] == 3  # three reads, one hand-on
